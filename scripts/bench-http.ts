/**
 * `npm run bench:http`: the gateway against a bare node:http server answering the same JSON,
 * in the same run, with autocannon. Each server runs in its own process; the load generator
 * shares the machine's cores with it, as it does for every row.
 * BENCH_SECONDS (default 5), BENCH_ROUNDS (default 3) and BENCH_CONNECTIONS (default 32) tune it;
 * BENCH_ROWS=0,1 runs only those rows. The tracing row exports its spans over OTLP/HTTP
 * (protobuf, as `npm start` sends them) to a sink in this process that reads and drops them.
 */
import type { ChildProcess } from "node:child_process"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { cpus, loadavg } from "node:os"
import { Effect, Option, Redacted } from "effect"
import pg from "pg"
import { attachEmbeddedPostgres } from "../src/adapters/postgres/EmbeddedPostgres.ts"
import { DEMO } from "../src/DemoData.ts"
import { autocannon, cpuMs, median, type Result, startReady, stop } from "./BenchKit.ts"
import { scratchDir } from "./ScratchDir.ts"

const seconds = Number(process.env["BENCH_SECONDS"] ?? 5)
const connections = Number(process.env["BENCH_CONNECTIONS"] ?? 32)

const start = (env: Record<string, string>) => startReady([new URL("./bench-server.ts", import.meta.url).pathname], env)

// Where the tracing row's spans go: an OTLP receiver that answers 200 and keeps nothing.
const sink = createServer((request, response) => {
  request.resume()
  request.on("end", () => response.end())
})
await new Promise<void>((resolve) => sink.listen(0, "127.0.0.1", resolve))
const sinkUrl = `http://127.0.0.1:${(sink.address() as AddressInfo).port}`

// The PostgreSQL row's data directory: a fresh embedded cluster, removed at the end.
const dataDir = scratchDir("bench-http-")

const GENERATION = {
  method: "POST",
  path: "/v1/images/generations",
  headers: { authorization: "Bearer sk-presenton-service-key-2025", "content-type": "application/json" },
  body: JSON.stringify({ prompt: "bench", model: "local", size: "256x256", response_format: "b64_json" })
}

const ROWS: ReadonlyArray<{
  readonly name: string
  readonly env: Record<string, string>
  readonly request?: Record<string, unknown>
}> = [
  { name: "bare node:http, same JSON", env: { BENCH_TARGET: "bare" } },
  { name: "gateway: POST generation (as npm start runs it)", env: { BENCH_TARGET: "gateway" } },
  {
    // Measured in the PostgreSQL row's group, round for round with it: the ratio's denominator.
    name: "gateway on memory, beside the PostgreSQL row",
    env: { BENCH_TARGET: "gateway", BENCH_STORAGE: "memory" }
  },
  {
    name: "gateway on PostgreSQL (embedded, fsync on, as npm start runs it)",
    env: { BENCH_TARGET: "gateway", BENCH_STORAGE: "postgres", DATA_DIR: dataDir }
  },
  { name: "gateway without the generation lane (HttpApi router only)", env: { BENCH_TARGET: "gateway", BENCH_NO_LANE: "1" } },
  { name: "gateway: GET /healthz (HttpApi floor)", env: { BENCH_TARGET: "gateway" }, request: { method: "GET", path: "/healthz" } },
  { name: "gateway + Effect.fn tracing spans on", env: { BENCH_TARGET: "gateway", BENCH_TRACING: "1" } },
  { name: "gateway + ACCESS_LOG=1 (a JSON line per request to stdout)", env: { BENCH_TARGET: "gateway", BENCH_ACCESS_LOG: "1" } },
  { name: "gateway on WebCrypto SHA-256 (Core's default)", env: { BENCH_TARGET: "gateway", BENCH_WEBCRYPTO: "1" } },
  {
    name: "gateway: POST generation without credentials (HTTP, body and error path; the core stops at once)",
    env: { BENCH_TARGET: "gateway" },
    request: { ...GENERATION, headers: { "content-type": "application/json" } }
  },
  {
    name: "gateway generation, tracing on (OTLP to a local sink)",
    env: { BENCH_TARGET: "gateway", OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl }
  }
]

const only = process.env["BENCH_ROWS"]?.split(",").map(Number)
const rows = ROWS.filter((_, i) => only === undefined || only.includes(i))
const rounds = Number(process.env["BENCH_ROUNDS"] ?? 3)

/**
 * PostgreSQL transactions per generation on the embedded cluster under `dataDir`: committed and
 * rolled-back transactions of every database (`pg_stat_database`) over `count` sequential
 * generations, half of them with `X-User-ID` (Alice pays), less what the server does on its own
 * (pricing polls, sweeps, flushes) over as long while idle, and less this measurement's own
 * reads. PostgreSQL publishes these counters at most once a second, hence the pauses.
 */
const transactionsPerGeneration = async (origin: string, count: number) => {
  const attached = await Effect.runPromise(attachEmbeddedPostgres(dataDir, { timeoutMs: 10_000 }))
  if (Option.isNone(attached)) throw new Error("the PostgreSQL row's cluster was not found to count transactions")
  const client = new pg.Client({ connectionString: Redacted.value(attached.value.url) })
  await client.connect()
  const pause = () => new Promise((wake) => setTimeout(wake, 1_200))
  const total = async () => {
    await pause()
    const result = await client.query("select sum(xact_commit + xact_rollback)::bigint as n from pg_stat_database")
    return Number(result.rows[0].n)
  }
  try {
    const idleStart = await total()
    const idleFrom = Date.now()
    await new Promise((wake) => setTimeout(wake, 3_000))
    const idleEnd = await total()
    const idlePerMs = (idleEnd - idleStart - 1) / (Date.now() - idleFrom)
    const from = Date.now()
    let failed = 0
    for (let i = 0; i < count; i++) {
      const headers: Record<string, string> = { ...GENERATION.headers }
      if (i % 2 === 1) headers["x-user-id"] = DEMO.alice.id
      const response = await fetch(`${origin}${GENERATION.path}`, { method: "POST", headers, body: GENERATION.body, signal: AbortSignal.timeout(10_000) })
      await response.arrayBuffer()
      if (response.status !== 200) failed += 1
    }
    const end = await total()
    const own = end - idleEnd - 1 - idlePerMs * (Date.now() - from)
    return { perGeneration: own / count, count, failed, idlePerSecond: idlePerMs * 1000 }
  } finally {
    await client.end()
  }
}

let transactions: Awaited<ReturnType<typeof transactionsPerGeneration>> | undefined

interface Measured {
  readonly row: (typeof ROWS)[number]
  readonly server: { readonly origin: string; readonly child: ChildProcess }
  readonly options: Record<string, unknown>
  readonly runs: Array<Result>
  readonly cpuPerRequest: Array<number>
}

/**
 * Starts the rows' servers and warms each up (the JIT compiles the hot path), then runs rounds
 * that visit each row in turn, so that other load on the machine falls on every row alike, and
 * stops them. Each figure is the median of the rounds.
 */
const measure = async (group: ReadonlyArray<(typeof ROWS)[number]>): Promise<Array<Measured>> => {
  const servers: Array<Measured> = []
  for (const row of group) {
    const server = await start(row.env)
    const request = row.request ?? GENERATION
    const options = { url: `${server.origin}${request["path"]}`, ...request, connections }
    await autocannon({ ...options, duration: 2 })
    servers.push({ row, server, options, runs: [], cpuPerRequest: [] })
  }
  for (let round = 0; round < rounds; round++) {
    for (const s of servers) {
      const before = cpuMs(s.server.child.pid!)
      const run = await autocannon({ ...s.options, duration: seconds })
      s.runs.push(run)
      s.cpuPerRequest.push(((cpuMs(s.server.child.pid!) - before) * 1000) / run.requests.total)
    }
  }
  for (const s of servers) {
    if (s.row.env["BENCH_STORAGE"] === "postgres" && s.row.env["DATA_DIR"] === dataDir) {
      transactions = await transactionsPerGeneration(s.server.origin, Number(process.env["BENCH_XACT_GENERATIONS"] ?? 500))
    }
  }
  await Promise.all(servers.map((s) => stop(s.server.child)))
  return servers
}

// Three groups, one after the other, each with only its own servers up: the headline ratio
// (bare and gateway), then the rows that break the cost down, then the rows with a database of
// their own. A server left idle runs its collector over its heap in the background, and
// PostgreSQL checkpoints after its run: either would fall on whatever is measured next.
// The tracing row is measured with them: what tracing costs is read against the gateway's row.
const isHeadline = (i: number) => i <= 1 || ROWS[i]?.env["OTEL_EXPORTER_OTLP_ENDPOINT"] !== undefined
const servers = [
  ...(await measure(rows.filter((row) => isHeadline(ROWS.indexOf(row))))),
  ...(await measure(rows.filter((row) => !isHeadline(ROWS.indexOf(row)) && row.env["BENCH_STORAGE"] === undefined))),
  ...(await measure(rows.filter((row) => row.env["BENCH_STORAGE"] !== undefined)))
]

const results = servers.map((s) => ({
  name: s.row.name,
  rps: median(s.runs.map((r) => r.requests.average)),
  p50: median(s.runs.map((r) => r.latency.p50)),
  p99: median(s.runs.map((r) => r.latency.p99)),
  cpu: median(s.cpuPerRequest),
  non2xx: s.runs.reduce((n, r) => n + r.non2xx + r.errors, 0)
}))
const bare = results.find((r) => r.name.startsWith("bare"))?.rps
const load = loadavg().map((l) => l.toFixed(1)).join(" ")
console.log(`\n${connections} connections, ${rounds} rounds of ${seconds} s per row (medians), Node ${process.version}, ${cpus().length} cores, load average ${load}\n`)
const bareCpu = results.find((r) => r.name.startsWith("bare"))?.cpu
console.log("| server | req/s | × bare | p50 ms | p99 ms | server CPU µs/request | bare CPU ÷ this | non-2xx |")
console.log("|---|---:|---:|---:|---:|---:|---:|---:|")
for (const r of results) {
  const ratio = bare === undefined ? "" : (r.rps / bare).toFixed(2)
  const cpuRatio = bareCpu === undefined ? "" : (bareCpu / r.cpu).toFixed(2)
  console.log(
    `| ${r.name} | ${Math.round(r.rps).toLocaleString("en-US")} | ${ratio} | ${r.p50} | ${r.p99} | ${Math.round(r.cpu)} | ${cpuRatio} | ${r.non2xx} |`
  )
}
const memoryGateway = results.find((r) => r.name.startsWith("gateway on memory, beside"))
const postgresGateway = results.find((r) => r.name.startsWith("gateway on PostgreSQL"))
if (memoryGateway !== undefined && postgresGateway !== undefined) {
  console.log(
    `\nBilled generations on embedded PostgreSQL ÷ on memory, measured side by side: **${(postgresGateway.rps / memoryGateway.rps).toFixed(2)}** ` +
      `(${Math.round(postgresGateway.rps).toLocaleString("en-US")} ÷ ${Math.round(memoryGateway.rps).toLocaleString("en-US")} req/s)`
  )
}
if (transactions !== undefined) {
  console.log(
    `\nPostgreSQL transactions per generation (embedded row, ${transactions.count} sequential generations, half with X-User-ID, ` +
      `${transactions.failed} not 200; ${transactions.idlePerSecond.toFixed(1)} background transactions/s subtracted): ` +
      `**${transactions.perGeneration.toFixed(2)}**`
  )
}
sink.close()
