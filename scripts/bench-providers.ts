/**
 * `npm run bench:providers`: a generation through the gateway's real OpenAI backend against the
 * floors of the same work, in one run, with autocannon, all on one loopback fake upstream that
 * answers at once with the same small PNG:
 * - bare node:http answering the bytes of one captured gateway response (the ceiling);
 * - a minimal keep-alive proxy (http.request over an `http.Agent({ keepAlive: true })`);
 * - a minimal `fetch()` proxy;
 * - the gateway as `npm start` runs it (STORAGE=memory, LOCAL_PROVIDER=0, OPENAI_BASE_URL at the
 *   fake upstream): a billed dall-e-3 generation with the demo service key, through the openai
 *   backend. The demo organization is granted enough credits first through the admin API.
 * - the same gateway with PROVIDER_HTTP_CLIENT=fetch: the SDK on Node's global fetch (undici)
 *   instead of the gateway's node:http transport, to show what that transport buys.
 * Each server runs in its own process. BENCH_SECONDS (default 5), BENCH_ROUNDS (default 3) and
 * BENCH_CONNECTIONS (default 32) tune it; BENCH_CPU_PROF=<dir> runs the gateway with
 * `--cpu-prof` and writes its profile there when it stops; BENCH_GATEWAY_NODE_OPTIONS is the
 * gateway's NODE_OPTIONS (e.g. an `--import` that changes its fetch, to measure that).
 */
import type { ChildProcess } from "node:child_process"
import { spawn } from "node:child_process"
import { writeFileSync } from "node:fs"
import { cpus, loadavg } from "node:os"
import { join, resolve } from "node:path"
import { freePort } from "../src/adapters/net/FreePort.ts"
import { autocannon, cpuMs, median, type Result, startReady, stop } from "./BenchKit.ts"
import { npmStart } from "./NpmStart.ts"
import { scratchDir } from "./ScratchDir.ts"

const ROOT = new URL("../", import.meta.url).pathname
const SERVER = new URL("./bench-providers-server.ts", import.meta.url).pathname
const seconds = Number(process.env["BENCH_SECONDS"] ?? 5)
const rounds = Number(process.env["BENCH_ROUNDS"] ?? 3)
const connections = Number(process.env["BENCH_CONNECTIONS"] ?? 32)
const cpuProf = process.env["BENCH_CPU_PROF"]

const SERVICE_KEY = "sk-presenton-service-key-2025"
const ADMIN_KEY = "admin_demo_key"
const DEMO_ORG = "org_presenton_service"
const GENERATION = {
  method: "POST",
  path: "/v1/images/generations",
  headers: { authorization: `Bearer ${SERVICE_KEY}`, "content-type": "application/json" },
  body: JSON.stringify({ prompt: "bench", model: "dall-e-3", size: "1024x1024", response_format: "b64_json" })
}

// Every process started here is stopped when this one ends, however it ends (Ctrl-C included:
// ScratchDir turns SIGINT / SIGTERM into an exit).
const children = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
})
const dir = scratchDir("bench-providers-")
const startServer = async (env: Record<string, string>) => {
  const server = await startReady([SERVER], env)
  children.add(server.child)
  return server
}

/** `npm start`, on `port`, answering /readyz within 60 s. */
const startGateway = async (upstream: string, env: Record<string, string> = {}) => {
  const start = npmStart(ROOT)
  const port = await freePort()
  const args = cpuProf === undefined ? start.args : ["--cpu-prof", `--cpu-prof-dir=${resolve(cpuProf)}`, ...start.args]
  const child = spawn(process.execPath, args, {
    cwd: ROOT,
    env: {
      ...process.env,
      ...start.env,
      HOST: "127.0.0.1",
      PORT: String(port),
      STORAGE: "memory",
      DATABASE_URL: "",
      OPENAI_API_KEY: "sk-bench-platform-key",
      OPENAI_BASE_URL: `${upstream}/v1`,
      LOCAL_PROVIDER: "0",
      ...env,
      ...(process.env["BENCH_GATEWAY_NODE_OPTIONS"] !== undefined ? { NODE_OPTIONS: process.env["BENCH_GATEWAY_NODE_OPTIONS"] } : {})
    },
    stdio: ["ignore", "ignore", "inherit"]
  })
  children.add(child)
  const origin = `http://127.0.0.1:${port}`
  const deadline = Date.now() + 60_000
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the gateway (${start.script}) exited with ${child.exitCode}`)
    const status = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(500) }).then((r) => r.status, () => 0)
    if (status === 200) return { origin, child, script: start.script }
    await new Promise((wake) => setTimeout(wake, 50))
  }
  throw new Error(`the gateway (${start.script}) was not ready within 60 s`)
}

const upstream = await startServer({ BENCH_TARGET: "upstream" })
const gateway = await startGateway(upstream.origin)
const gatewayOnFetch = await startGateway(upstream.origin, { PROVIDER_HTTP_CLIENT: "fetch" })

// Credits for the whole run: each request may cost up to dall-e-3's 40 credits, at a rate well
// above what this machine reaches, for every warm-up and round.
for (const { origin } of [gateway, gatewayOnFetch]) {
  const grant = await fetch(`${origin}/api/v1/admin/accounts/${DEMO_ORG}/grants`, {
    method: "POST",
    headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
    body: JSON.stringify({ credits: 1_000_000_000, reason: "bench:providers" }),
    signal: AbortSignal.timeout(10_000)
  })
  if (grant.status !== 201) throw new Error(`the grant to ${DEMO_ORG} answered ${grant.status}: ${await grant.text()}`)
}

// One real gateway response: its bytes are what the bare server answers.
const captured = await fetch(`${gateway.origin}${GENERATION.path}`, { ...GENERATION, signal: AbortSignal.timeout(10_000) })
const capturedBody = Buffer.from(await captured.arrayBuffer())
const capturedJson = JSON.parse(capturedBody.toString("utf8")) as { _metadata?: { provider_used?: unknown } }
if (captured.status !== 200 || capturedJson._metadata?.provider_used !== "openai") {
  throw new Error(`the gateway did not answer through the openai backend (${captured.status}): ${capturedBody.toString("utf8").slice(0, 300)}`)
}
const bodyFile = join(dir, "gateway-response.json")
writeFileSync(bodyFile, capturedBody)

const rows = [
  { name: "bare node:http, the gateway's response bytes", server: await startServer({ BENCH_TARGET: "bare", BENCH_BODY_FILE: bodyFile }) },
  { name: "keep-alive proxy (http.request, Agent keepAlive)", server: await startServer({ BENCH_TARGET: "keepalive", BENCH_UPSTREAM: upstream.origin }) },
  { name: "fetch() proxy", server: await startServer({ BENCH_TARGET: "fetch", BENCH_UPSTREAM: upstream.origin }) },
  { name: "gateway: billed dall-e-3 through the openai backend (as npm start runs it)", server: gateway },
  { name: "the same gateway, its SDK on Node's fetch (PROVIDER_HTTP_CLIENT=fetch)", server: gatewayOnFetch }
].map((row) => ({ ...row, options: { url: `${row.server.origin}${GENERATION.path}`, ...GENERATION, connections }, runs: [] as Array<Result>, cpu: [] as Array<number> }))

// Warm-up (the JIT compiles the hot paths), then rounds visiting each row in turn, so that other
// load on the machine falls on every row alike.
for (const row of rows) await autocannon({ ...row.options, duration: 2 })
for (let round = 0; round < rounds; round++) {
  for (const row of rows) {
    const before = cpuMs(row.server.child.pid!)
    const run = await autocannon({ ...row.options, duration: seconds })
    row.runs.push(run)
    row.cpu.push(((cpuMs(row.server.child.pid!) - before) * 1000) / Math.max(1, run.requests.total))
  }
}
// The client side alone: the CPU one call costs the caller, layer by layer (bench-providers-client),
// each layer once per round in turn, in a process of its own, on the same upstream; the gateways
// are stopped first so that they take no CPU from it.
await Promise.all([gateway.child, gatewayOnFetch.child, ...rows.slice(0, 3).map((r) => r.server.child)].map((child) => stop(child)))
const CLIENT = new URL("./bench-providers-client.ts", import.meta.url).pathname
const clientLayers = [
  ["raw", "http.request, keep-alive Agent, JSON.parse (the floor)"],
  ["nodeHttpFetch", "the gateway's transport (NodeHttpFetch), response.json()"],
  ["fetch", "Node's fetch (undici), response.json()"],
  ["sdk", "openai SDK images.generate on NodeHttpFetch (the gateway's)"],
  ["sdkOnFetch", "openai SDK images.generate on Node's fetch"]
] as const
const clientRuns = new Map<string, Array<{ cpu: number; rate: number }>>()
for (let round = 0; round < rounds; round++) {
  for (const [layer] of clientLayers) {
    const out = await new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, [CLIENT], {
        env: { ...process.env, BENCH_UPSTREAM: upstream.origin, BENCH_CLIENT: layer },
        stdio: ["ignore", "pipe", "inherit"]
      })
      children.add(child)
      let text = ""
      const timer = setTimeout(() => child.kill("SIGKILL"), 120_000)
      child.stdout.on("data", (chunk: Buffer) => (text += chunk.toString()))
      child.once("exit", (code) => {
        clearTimeout(timer)
        return code === 0 ? resolve(text) : reject(new Error(`the ${layer} client exited with ${code}: ${text}`))
      })
    })
    const [, cpu, rate] = /RESULT (\d+) (\d+)/.exec(out) ?? []
    clientRuns.set(layer, [...(clientRuns.get(layer) ?? []), { cpu: Number(cpu), rate: Number(rate) }])
  }
}
await Promise.all([...children].map((child) => stop(child)))

const results = rows.map((row) => ({
  name: row.name,
  rps: median(row.runs.map((r) => r.requests.average)),
  p50: median(row.runs.map((r) => r.latency.p50)),
  p99: median(row.runs.map((r) => r.latency.p99)),
  cpu: median(row.cpu),
  non2xx: row.runs.reduce((n, r) => n + r.non2xx + r.errors, 0)
}))
const bare = results[0]!.rps
const load = loadavg().map((l) => l.toFixed(1)).join(" ")
console.log(`\nload average ${load}; ${connections} connections, ${rounds} rounds of ${seconds} s per row (medians), Node ${process.version}, ${cpus().length} cores; gateway: \`${gateway.script}\`\n`)
console.log("| server | req/s | × bare | p50 ms | p99 ms | server CPU µs/request | non-2xx |")
console.log("|---|---:|---:|---:|---:|---:|---:|")
for (const r of results) {
  console.log(
    `| ${r.name} | ${Math.round(r.rps).toLocaleString("en-US")} | ${(r.rps / bare).toFixed(2)} | ${r.p50} | ${r.p99} | ${Math.round(r.cpu)} | ${r.non2xx} |`
  )
}
const gatewayRatio = results[3]!.rps / bare
console.log(`\ngateway ÷ bare = ${gatewayRatio.toFixed(3)} (target ≥ 0.12); its node:http transport ÷ Node's fetch = ${(results[3]!.rps / results[4]!.rps).toFixed(2)} in req/s, ${(results[4]!.cpu - results[3]!.cpu).toFixed(0)} µs less CPU per request`)

console.log("\nOne provider call on the client side (32 in flight, medians of the rounds):\n")
console.log("| client | CPU µs/call | calls/s |")
console.log("|---|---:|---:|")
for (const [layer, name] of clientLayers) {
  const runs = clientRuns.get(layer) ?? []
  console.log(`| ${name} | ${median(runs.map((r) => r.cpu))} | ${Math.round(median(runs.map((r) => r.rate))).toLocaleString("en-US")} |`)
}
