/**
 * `npm run bench:ledger`: the Postgres ledger against pgbench, in one run, on one PostgreSQL.
 *
 *   (a) pgbench, one UPDATE per transaction, all clients on one row (id = 1)
 *   (b) pgbench, one UPDATE per transaction, a random row of 1,000
 *   (c) the ledger (CreditLedger over PgLedgerStore): reserve + settle pairs, one payer
 *   (d) the same over 1,000 payers
 *
 * Same server, same client count (32 pgbench clients, 32 concurrent ledger loops on a pool of
 * 32 connections), each pgbench case right before the ledger case it is compared with. The
 * server is an embedded PostgreSQL with its default durability (fsync on, synchronous commit)
 * on 127.0.0.1, unless DATABASE_URL names a loopback server; the tables live in a schema of
 * their own, dropped at the end. BENCH_SECONDS (default 10), BENCH_CLIENTS (default 32) and
 * PGBENCH (default /usr/bin/pgbench, else the one on PATH) tune the run.
 */
import { Effect, Exit, Layer, ManagedRuntime, Metric, Redacted, Scope } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { execFile, execFileSync } from "node:child_process"
import { randomBytes } from "node:crypto"
import { mkdtemp, open, readdir, readFile, rm, writeFile } from "node:fs/promises"
import { cpus, loadavg, tmpdir } from "node:os"
import { join } from "node:path"
import { CreditLedger } from "../src/application/CreditLedger.ts"
import { LedgerStore } from "../src/application/ports/LedgerStore.ts"
import { migrate } from "../src/adapters/postgres/Migrations.ts"
import * as PgDatabase from "../src/adapters/postgres/PgDatabase.ts"
import {
  batchedReserves,
  batchedSettles,
  batchStatements,
  contendedStatements,
  PgLedgerStoreLayer
} from "../src/adapters/postgres/PgLedgerStore.ts"
import type { AccountId, HoldId, TransferId } from "../src/domain/Ids.ts"
import { startScratchPostgres } from "../specs/support/ScratchPostgres.ts"

const SECONDS = Number(process.env["BENCH_SECONDS"] ?? 10)
const CLIENTS = Number(process.env["BENCH_CLIENTS"] ?? 32)
const PAYERS = 1000
const ROWS = 1000
/** Upper bound on one loop's pairs, whatever the clock says. */
const MAX_PAIRS_PER_LOOP = 1_000_000
const WARM_UP_SECONDS = 2
const RESERVE = 48_000
const SETTLE = 40_000

const fail = (message: string): never => {
  console.error(`bench:ledger: ${message}`)
  process.exit(1)
}

if (!Number.isInteger(SECONDS) || SECONDS < 1 || SECONDS > 300) fail(`BENCH_SECONDS must be 1..300, not ${SECONDS}`)
if (!Number.isInteger(CLIENTS) || CLIENTS < 1 || CLIENTS > 128) fail(`BENCH_CLIENTS must be 1..128, not ${CLIENTS}`)

// --- pgbench -----------------------------------------------------------------------------------

const findPgbench = (): string => {
  const candidates = [process.env["PGBENCH"], "/usr/bin/pgbench", "pgbench"].filter((c): c is string => !!c)
  for (const candidate of candidates) {
    try {
      const version = execFileSync(candidate, ["--version"], { encoding: "utf8", timeout: 10_000 }).trim()
      return `${candidate}\0${version}`
    } catch {
      // try the next one
    }
  }
  return fail(
    "pgbench was not found (looked for $PGBENCH, /usr/bin/pgbench and pgbench on PATH). " +
      "Install it (Debian: apt-get install postgresql-contrib or postgresql-client) or set PGBENCH."
  )
}

const [PGBENCH, PGBENCH_VERSION] = findPgbench().split("\0") as [string, string]

interface PgbenchResult {
  readonly tps: number
  readonly latencyMs: number
  readonly failed: number
  readonly transactions: number
}

const pgbench = (url: string, script: string) =>
  new Promise<PgbenchResult>((resolve, reject) => {
    execFile(
      PGBENCH,
      ["-n", "-M", "prepared", "-c", String(CLIENTS), "-j", "2", "-T", String(SECONDS), "-f", script, url],
      { encoding: "utf8", timeout: (SECONDS + 60) * 1000, killSignal: "SIGKILL" },
      (error, stdout, stderr) => {
        if (error !== null) return reject(new Error(`pgbench failed: ${error.message}\n${stderr}`))
        const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(stdout)
        const latency = /latency average = ([\d.]+) ms/.exec(stdout)
        const failed = /number of failed transactions: (\d+)/.exec(stdout)
        const transactions = /number of transactions actually processed: (\d+)/.exec(stdout)
        if (tps === null) return reject(new Error(`pgbench printed no tps:\n${stdout}\n${stderr}`))
        resolve({
          tps: Number(tps[1]),
          latencyMs: Number(latency?.[1] ?? NaN),
          failed: Number(failed?.[1] ?? 0),
          transactions: Number(transactions?.[1] ?? NaN)
        })
      }
    )
  })

// --- the server --------------------------------------------------------------------------------


interface Server {
  readonly url: string
  readonly description: string
  /** Where the server writes its WAL, when this script knows it. */
  readonly dataDir: string | undefined
  readonly stop: () => Promise<void>
}

const startServer = async (): Promise<Server> => {
  const given = process.env["DATABASE_URL"]
  if (given !== undefined && given !== "") {
    const host = new URL(given).hostname
    if (!["127.0.0.1", "localhost", "::1", "[::1]"].includes(host)) {
      fail(`DATABASE_URL must point at 127.0.0.1 (this benchmark stays on the loopback), not ${host}`)
    }
    return { url: given, description: "DATABASE_URL (as configured)", dataDir: undefined, stop: async () => {} }
  }
  // Durability left at PostgreSQL's defaults on purpose: every commit waits for its WAL flush.
  const pg = await startScratchPostgres({ prefix: "image-gateway-bench-", settings: ["max_connections=200"] })
    .catch((error: unknown) => fail(error instanceof Error ? error.message : String(error)))
  return {
    url: pg.url,
    description: `embedded PostgreSQL on 127.0.0.1:${pg.port}, data in ${pg.dir}`,
    dataDir: pg.dir,
    stop: pg.stop
  }
}

/** Median time of one 8 KiB write + fdatasync on the data directory's file system: a commit's floor. */
const fsyncLatencyMs = async (dir: string): Promise<number> => {
  const file = await open(join(dir, "fsync-probe"), "w")
  const block = randomBytes(8192)
  const times: Array<number> = []
  try {
    for (let i = 0; i < 200; i++) {
      const started = performance.now()
      await file.write(block, 0, block.length, 0)
      await file.datasync()
      times.push(performance.now() - started)
    }
  } finally {
    await file.close()
    await rm(join(dir, "fsync-probe"), { force: true })
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)]!
}

/** Linux's clock ticks per second for /proc times (`getconf CLK_TCK`). */
const CLOCK_TICKS = 100

/** utime, stime, cutime, cstime and the parent pid of a /proc/<pid>/stat line. */
const procTimes = (stat: string) => {
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
  return { ppid: Number(fields[1]), own: Number(fields[11]) + Number(fields[12]), reaped: Number(fields[13]) + Number(fields[14]) }
}

/**
 * CPU seconds the embedded server has used so far: the postmaster with every child it has
 * reaped, plus the children still running. Undefined where /proc cannot tell (not Linux, or a
 * server this script did not start).
 */
const serverCpuSeconds = async (dataDir: string | undefined): Promise<number | undefined> => {
  if (dataDir === undefined) return undefined
  try {
    const pid = Number((await readFile(join(dataDir, "data", "postmaster.pid"), "utf8")).split("\n")[0])
    const postmaster = procTimes(await readFile(`/proc/${pid}/stat`, "utf8"))
    let ticks = postmaster.own + postmaster.reaped
    for (const entry of await readdir("/proc")) {
      if (!/^\d+$/.test(entry)) continue
      const stat = await readFile(`/proc/${entry}/stat`, "utf8").catch(() => undefined)
      if (stat === undefined) continue
      const child = procTimes(stat)
      if (child.ppid === pid) ticks += child.own
    }
    return ticks / CLOCK_TICKS
  } catch {
    return undefined
  }
}

/** CPU seconds of this process's reaped children (pgbench, once it has exited). */
const reapedChildrenCpuSeconds = async (): Promise<number | undefined> =>
  readFile("/proc/self/stat", "utf8").then((stat) => procTimes(stat).reaped / CLOCK_TICKS, () => undefined)

/** Microseconds of CPU per operation, or "?" when a figure is missing. */
const perOperation = (seconds: number | undefined, operations: number) =>
  seconds === undefined || !(operations > 0) ? "?" : ((seconds * 1e6) / operations).toFixed(0)

// --- the ledger --------------------------------------------------------------------------------

type Client = SqlClient.SqlClient

interface Counters {
  readonly statements: number
  readonly contended: number
  readonly items: number
}

const counters: Effect.Effect<Counters> = Effect.map(
  Effect.all([
    Metric.value(batchStatements),
    Metric.value(contendedStatements),
    Metric.value(batchedReserves),
    Metric.value(batchedSettles)
  ]),
  ([statements, contended, reserves, settles]) => ({
    statements: statements.count,
    contended: contended.count,
    items: reserves.count + settles.count
  })
)

interface PhaseResult {
  readonly pairs: number
  readonly errors: number
  readonly seconds: number
  readonly batches: Counters
  /** Node's CPU time over wall time (1.0 = one core busy). */
  readonly nodeCpu: number
  /** Milliseconds from a reserve's call to its settlement's answer. */
  readonly p50: number
  readonly p99: number
}

const percentile = (sorted: ReadonlyArray<number>, p: number) =>
  sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))]!

/** CLIENTS loops, each reserving then settling, for `seconds` (and at most MAX_PAIRS_PER_LOOP pairs). */
const ledgerPhase = (label: string, payers: ReadonlyArray<AccountId>, seconds: number) =>
  Effect.gen(function*() {
    const ledger = yield* CreditLedger
    const before = yield* counters
    const cpuBefore = process.cpuUsage()
    const started = performance.now()
    const deadline = started + seconds * 1000
    let pairs = 0
    let errors = 0
    const latencies: Array<number> = []
    yield* Effect.forEach(
      Array.from({ length: CLIENTS }, (_, loop) => loop),
      (loop) =>
        Effect.gen(function*() {
          for (let i = 0; i < MAX_PAIRS_PER_LOOP && performance.now() < deadline; i++) {
            const payer = payers[Math.floor(Math.random() * payers.length)]!
            const id = `${label}-${loop}-${i}` as HoldId
            const begun = performance.now()
            const held = yield* Effect.result(ledger.reserve({ id, account: payer, amount: RESERVE, ttlMs: 3_600_000 }))
            if (held._tag === "Failure") {
              errors++
              continue
            }
            const settled = yield* Effect.result(ledger.settle(id, SETTLE))
            if (settled._tag === "Failure") errors++
            else {
              pairs++
              latencies.push(performance.now() - begun)
            }
          }
        }),
      { concurrency: "unbounded", discard: true }
    )
    const elapsed = (performance.now() - started) / 1000
    const cpu = process.cpuUsage(cpuBefore)
    const after = yield* counters
    latencies.sort((x, y) => x - y)
    return {
      pairs,
      errors,
      seconds: elapsed,
      batches: {
        statements: after.statements - before.statements,
        contended: after.contended - before.contended,
        items: after.items - before.items
      },
      nodeCpu: (cpu.user + cpu.system) / 1e6 / elapsed,
      p50: percentile(latencies, 0.5),
      p99: percentile(latencies, 0.99)
    } satisfies PhaseResult
  })

const fund = (payers: ReadonlyArray<AccountId>) =>
  CreditLedger.use((ledger) =>
    Effect.forEach(
      payers,
      (account) => ledger.grant({ id: `bench-fund-${account}` as TransferId, account, amount: 1_000_000_000_000, reason: "bench" }),
      { concurrency: 16, discard: true }
    ))

/** After every pair settled: double entry holds and nothing stays pending. */
const checkLedger = Effect.gen(function*() {
  const balances = yield* LedgerStore.use((s) => s.balances)
  const sum = balances.reduce((total, b) => total + b.posted, 0)
  const pending = balances.reduce((total, b) => total + b.pending, 0)
  const negative = balances.filter((b) => !b.account.startsWith("system:") && b.available < 0).length
  return { sum, pending, negative }
})

// --- the run -----------------------------------------------------------------------------------

const main = async () => {
  const server = await startServer()
  const schema = `ledger_bench_${randomBytes(4).toString("hex")}`
  const scope = Effect.runSync(Scope.make())
  // Undone in reverse order, whatever happens.
  const cleanups: Array<() => Promise<unknown>> = []
  try {
    const client = await Effect.runPromise(Layer.buildWithScope(
      PgDatabase.layer({
        url: Redacted.make(server.url),
        maxConnections: CLIENTS,
        startupParameters: { search_path: schema }
      }),
      scope
    ))
    const sql = <A>(f: (sql: Client) => Effect.Effect<A, unknown, Client>) =>
      Effect.runPromise(Effect.provide(
        Effect.gen(function*() {
          return yield* f(yield* SqlClient.SqlClient)
        }),
        client
      ))
    cleanups.push(() => sql((s) => s.unsafe(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`)))

    const settings = await sql((s) =>
      s<{ name: string; setting: string }>`
        SELECT name, setting FROM pg_settings
        WHERE name IN ('server_version', 'fsync', 'synchronous_commit', 'wal_sync_method', 'shared_buffers', 'max_connections')
        ORDER BY name`
    )
    await sql((s) =>
      Effect.gen(function*() {
        yield* s.unsafe(`CREATE SCHEMA "${schema}"`)
        yield* migrate
        yield* s.unsafe(`CREATE TABLE bench_rows (id int PRIMARY KEY, balance bigint NOT NULL DEFAULT 0)`)
        yield* s.unsafe(`INSERT INTO bench_rows (id) SELECT generate_series(1, ${ROWS})`)
      })
    )

    const fsyncMs = server.dataDir === undefined ? undefined : await fsyncLatencyMs(server.dataDir)
    console.log(`bench:ledger — ${server.description}`)
    console.log(`  ${settings.map((r) => `${r.name}=${r.setting}`).join(", ")}`)
    console.log(
      server.dataDir === undefined
        ? "  durability: as DATABASE_URL's server is configured (see fsync / synchronous_commit above)"
        : `  durability: PostgreSQL defaults (fsync on, synchronous commit); 8 KiB write+fdatasync here: ${fsyncMs!.toFixed(2)} ms median`
    )
    console.log(`  ${PGBENCH_VERSION}; Node ${process.version}; ${cpus().length} CPU cores shared by pgbench, postgres and node`)
    console.log(`  load average before the run: ${loadavg().map((l) => l.toFixed(2)).join(" ")} (anything else running skews both sides)`)
    console.log(`  ${CLIENTS} clients / loops, ${SECONDS} s per case; ledger pool ${CLIENTS} connections\n`)

    // pgbench reaches the schema through libpq's `options`.
    const pgbenchUrl = new URL(server.url)
    pgbenchUrl.searchParams.set("options", `-csearch_path=${schema}`)
    const scripts = await mkdtemp(join(tmpdir(), "image-gateway-pgbench-"))
    cleanups.push(() => rm(scripts, { recursive: true, force: true }))
    const hot = join(scripts, "hot.sql")
    const spread = join(scripts, "spread.sql")
    await writeFile(hot, "UPDATE bench_rows SET balance = balance + 1 WHERE id = 1;\n")
    await writeFile(spread, `\\set id random(1, ${ROWS})\nUPDATE bench_rows SET balance = balance + 1 WHERE id = :id;\n`)

    const checkpoint = () => sql((s) => s`CHECKPOINT`)
    const ledger = ManagedRuntime.make(CreditLedger.layer.pipe(
      Layer.provideMerge(PgLedgerStoreLayer),
      Layer.provide(Layer.succeedContext(client))
    ))
    cleanups.push(() => ledger.dispose())
    const one = ["org_bench_hot"] as ReadonlyArray<string> as ReadonlyArray<AccountId>
    const many = Array.from({ length: PAYERS }, (_, i) => `org_bench_${i}` as AccountId)
    await ledger.runPromise(fund([...one, ...many]))

    /**
     * A ledger case starts from a warmed-up state: the JIT has compiled the hot path, the tables
     * hold rows and their statistics are fresh (autovacuum keeps them so in a running database;
     * plans made while the tables were empty would scan them).
     */
    const ledgerCase = async (label: string, payers: ReadonlyArray<AccountId>) => {
      await ledger.runPromise(ledgerPhase(`warm-${label}`, payers, WARM_UP_SECONDS))
      await sql((s) => s`ANALYZE`)
      await checkpoint()
      const before = await serverCpuSeconds(server.dataDir)
      const result = await ledger.runPromise(ledgerPhase(label, payers, SECONDS))
      const after = await serverCpuSeconds(server.dataDir)
      return { ...result, serverCpu: before === undefined || after === undefined ? undefined : after - before }
    }
    const pgbenchCase = async (script: string) => {
      await checkpoint()
      const before = await serverCpuSeconds(server.dataDir)
      const clientBefore = await reapedChildrenCpuSeconds()
      const result = await pgbench(pgbenchUrl.toString(), script)
      const after = await serverCpuSeconds(server.dataDir)
      const clientAfter = await reapedChildrenCpuSeconds()
      return {
        ...result,
        serverCpu: before === undefined || after === undefined ? undefined : after - before,
        clientCpu: clientBefore === undefined || clientAfter === undefined ? undefined : clientAfter - clientBefore
      }
    }

    // Each pgbench case runs right before the ledger case it is compared with.
    console.log("(a) pgbench, hot row …")
    const a = await pgbenchCase(hot)
    console.log("(c) ledger, one payer …")
    const c = await ledgerCase("c", one)
    console.log("(b) pgbench, 1,000 rows …")
    const b = await pgbenchCase(spread)
    console.log("(d) ledger, 1,000 payers …")
    const d = await ledgerCase("d", many)
    const check = await ledger.runPromise(checkLedger)

    const rate = (n: number) => Math.round(n).toLocaleString("en-US")
    const ledgerCpu = (r: PhaseResult & { readonly serverCpu: number | undefined }) =>
      `CPU per pair: postgres ${perOperation(r.serverCpu, r.pairs)} µs + node ${perOperation(r.nodeCpu * r.seconds, r.pairs)} µs`
    const pgbenchCpu = (r: { serverCpu: number | undefined; clientCpu: number | undefined; transactions: number }) =>
      `CPU per transaction: postgres ${perOperation(r.serverCpu, r.transactions)} µs + pgbench ${perOperation(r.clientCpu, r.transactions)} µs`
    const ledgerRow = (name: string, r: PhaseResult & { readonly serverCpu: number | undefined }) =>
      `| ${name} | ${rate(r.pairs / r.seconds)} pairs/s (${rate((2 * r.pairs) / r.seconds)} ops/s) | ` +
      `${r.batches.statements === 0 ? "–" : (r.batches.items / r.batches.statements).toFixed(1)} | ` +
      `pair p50 ${r.p50.toFixed(1)} ms, p99 ${r.p99.toFixed(1)} ms; ${rate(r.batches.statements / r.seconds)} statements/s ` +
      `(${r.batches.contended} in a contended payer's lane); node ${(r.nodeCpu * 100).toFixed(0)}% of a core; ` +
      `${ledgerCpu(r)}; ${r.errors} errors |`
    console.log(`\n| case | rate | operations per statement | notes |`)
    console.log(`|---|---:|---:|---|`)
    console.log(
      `| (a) pgbench UPDATE, one hot row | ${rate(a.tps)} tps | 1 | latency avg ${a.latencyMs} ms; ${pgbenchCpu(a)}; ${a.failed} failed |`
    )
    console.log(
      `| (b) pgbench UPDATE, random of ${rate(ROWS)} rows | ${rate(b.tps)} tps | 1 | latency avg ${b.latencyMs} ms; ` +
        `${pgbenchCpu(b)}; ${b.failed} failed |`
    )
    console.log(ledgerRow("(c) ledger reserve+settle, one payer", c))
    console.log(ledgerRow(`(d) ledger reserve+settle, ${rate(PAYERS)} payers`, d))
    const cOverA = c.pairs / c.seconds / a.tps
    const dOverB = d.pairs / d.seconds / b.tps
    console.log(`\n(c)/(a) = ${cOverA.toFixed(2)}  (target ≥ 1.00: ${cOverA >= 1 ? "met" : "not met"})`)
    console.log(`(d)/(b) = ${dOverB.toFixed(2)}  (target ≥ 0.35: ${dOverB >= 0.35 ? "met" : "not met"})`)
    console.log(
      `ledger after the run: posted balances sum to ${check.sum}, ${check.pending} pending, ` +
        `${check.negative} accounts below zero`
    )
    if (c.errors + d.errors > 0 || check.sum !== 0 || check.pending !== 0 || check.negative !== 0) {
      process.exitCode = 1
    }
  } finally {
    for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined)
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await server.stop()
  }
}

await main()
