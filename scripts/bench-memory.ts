/**
 * `npm run bench:memory`: the resident memory (RSS, from /proc) of the gateway as `npm start`
 * launches it — the command, its variables and node flags read from package.json's "start"
 * script — with STORAGE=memory and PORT=0; in the same run, a bare idle
 * `node -e "require('http').createServer().listen(0)"` as the baseline.
 *
 * The gateway starts twice: the first start fills Node's compile cache if it is empty (as after
 * `npm ci`) and is stopped with SIGTERM; the second is measured idle, then after BENCH_REQUESTS
 * (default 100,000) generation requests (`model: "local"`, 256×256, `b64_json`, each with its
 * own Idempotency-Key) sent in turn with each demo key printed at start-up, over
 * BENCH_CONNECTIONS (default 32) keep-alive connections (autocannon). Demo credits run out
 * part-way, so most later requests are refused with 402 — they still go through credentials,
 * idempotency, the ledger and the usage log.
 *
 * Then the embedded-PostgreSQL default (no STORAGE; a fresh cluster in a temporary DATA_DIR) is
 * started once and measured idle: the node process only, not PostgreSQL's.
 *
 * BENCH_NODE_ARGS adds node flags to the gateway's; BENCH_START replaces the start command and
 * BENCH_ROOT the checkout it runs in, to measure another version side by side, e.g.
 * `BENCH_ROOT=/tmp/old BENCH_START="node src/main.ts" npm run bench:memory`.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
import { cpus } from "node:os"
import { join } from "node:path"
import { npmStart } from "./NpmStart.ts"
import { scratchDir } from "./ScratchDir.ts"

interface Result {
  readonly requests: { readonly total: number }
  readonly errors: number
  readonly statusCodeStats: Record<string, { readonly count: number }>
}
const autocannon = createRequire(import.meta.url)("autocannon") as (options: Record<string, unknown>) => Promise<Result>

const ROOT = process.env["BENCH_ROOT"] ?? new URL("..", import.meta.url).pathname
const REQUESTS = Number(process.env["BENCH_REQUESTS"] ?? 100_000)
const CONNECTIONS = Number(process.env["BENCH_CONNECTIONS"] ?? 32)
/** Idle: this long after start-up, once start-up's garbage has had the chance to be collected. */
const IDLE_MS = 3_000
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

interface Rss {
  readonly rss: number
  readonly anon: number
  readonly file: number
  readonly peak: number
}
/** Resident memory in MB: all of it, the anonymous part (heaps) and the file-backed part (mostly the node binary). */
const rss = (pid: number): Rss => {
  const status = readFileSync(`/proc/${pid}/status`, "utf8")
  const mb = (field: string) => Math.round(Number(new RegExp(`${field}:\\s+(\\d+)`).exec(status)?.[1] ?? NaN) / 1024)
  return { rss: mb("VmRSS"), anon: mb("RssAnon"), file: mb("RssFile"), peak: mb("VmHWM") }
}
const show = (m: Rss) => `${m.rss} MB | ${m.anon} MB | ${m.file} MB`

/** `npm start`'s command, or BENCH_START's; BENCH_NODE_ARGS adds node flags in front. */
const startCommand = () => {
  const start = npmStart(ROOT, process.env["BENCH_START"])
  const extra = process.env["BENCH_NODE_ARGS"]?.split(/\s+/).filter((w) => w.length > 0) ?? []
  return { ...start, args: [...extra, ...start.args] }
}

interface Launched {
  readonly child: ChildProcess
  readonly match: RegExpExecArray
  readonly output: () => string
  /** Throws, with the process's last output, if it has exited. */
  readonly alive: () => void
}

/** Starts node (this very binary) in ROOT and resolves once its output matches `ready`. */
const launch = (args: ReadonlyArray<string>, env: Record<string, string>, ready: RegExp) =>
  new Promise<Launched>((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] })
    let out = ""
    let exited: string | undefined
    const alive = () => {
      if (exited !== undefined) throw new Error(`node ${args.join(" ")} ${exited}:\n${out.slice(-2_000)}`)
    }
    const onData = (chunk: Buffer) => {
      out += chunk.toString()
      const match = ready.exec(out)
      if (match !== null) resolve({ child, match, output: () => out, alive })
    }
    child.stdout!.on("data", onData)
    child.stderr!.on("data", onData)
    child.once("exit", (code, signal) => {
      exited = signal === null ? `exited with ${code}` : `was stopped by ${signal}`
      reject(new Error(`node ${args.join(" ")} ${exited}:\n${out.slice(-2_000)}`))
    })
  })

const stop = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    child.once("exit", () => resolve())
    child.kill("SIGTERM")
  })

const bare = await launch(["-e", "require('http').createServer().listen(0, () => console.log('READY'))"], {}, /READY/)
await sleep(IDLE_MS)
const bareIdle = rss(bare.child.pid!)
await stop(bare.child)

const command = startCommand()
const dataDir = scratchDir("bench-memory-")
const startGateway = (storage: Record<string, string> = { STORAGE: "memory" }) =>
  launch(
    command.args,
    { ...command.env, ...storage, PORT: "0", HOST: "127.0.0.1", DATA_DIR: join(dataDir, "data") },
    /Image Gateway listening on (\S+)/
  )

const first = await startGateway()
await sleep(IDLE_MS)
const firstIdle = rss(first.child.pid!)
await stop(first.child)

const gateway = await startGateway()
const origin = gateway.match[1]!
await sleep(IDLE_MS)
gateway.alive()
const idle = rss(gateway.child.pid!)

// The demo keys printed at start-up: the four services' legacy keys, Alice's and Bob's.
const keys = [...new Set([...gateway.output().matchAll(/\b(sk-[a-z-]+-service-key-2025|uc_demo_[a-z]+)\b/g)].map((m) => m[1]!))]
if (keys.length === 0) throw new Error(`no demo keys in the start-up output:\n${gateway.output()}`)

let sent = 0
const started = Date.now()
const result = await autocannon({
  url: `${origin}/v1/images/generations`,
  connections: CONNECTIONS,
  amount: REQUESTS,
  requests: [{
    method: "POST",
    body: JSON.stringify({ prompt: "bench", model: "local", size: "256x256", response_format: "b64_json" }),
    setupRequest: (request: Record<string, unknown>) => {
      const n = sent++
      return {
        ...request,
        headers: {
          "content-type": "application/json",
          authorization: `Bearer ${keys[n % keys.length]}`,
          "idempotency-key": `bench-${n}`
        }
      }
    }
  }]
})
const seconds = (Date.now() - started) / 1000
gateway.alive()
const after = rss(gateway.child.pid!)
await stop(gateway.child)

const embedded = await startGateway({})
await sleep(IDLE_MS)
embedded.alive()
const embeddedIdle = rss(embedded.child.pid!)
await stop(embedded.child)

const statuses = Object.entries(result.statusCodeStats).map(([status, s]) => `${s.count.toLocaleString("en-US")} × ${status}`)
const extra = process.env["BENCH_NODE_ARGS"] ? ` (+ ${process.env["BENCH_NODE_ARGS"]})` : ""
console.log(`\nNode ${process.version}, ${cpus().length} cores; gateway: \`${command.script}\`${extra}, STORAGE=memory`)
console.log(
  `${result.requests.total.toLocaleString("en-US")} generation requests, ${CONNECTIONS} connections, ${seconds.toFixed(1)} s: ${
    statuses.join(", ")
  }${result.errors > 0 ? `, ${result.errors} errors` : ""}\n`
)
console.log("| process | RSS | anonymous | file-backed |")
console.log("|---|---:|---:|---:|")
console.log(`| bare \`node -e "require('http').createServer().listen(0)"\`, idle | ${show(bareIdle)} |`)
console.log(`| gateway, first start, idle | ${show(firstIdle)} |`)
console.log(`| gateway, idle | ${show(idle)} |`)
console.log(`| gateway, after ${REQUESTS.toLocaleString("en-US")} requests | ${show(after)} |`)
console.log(`| gateway, peak during them | ${after.peak} MB | | |`)
console.log(`| gateway on embedded PostgreSQL (the default), idle, node process only | ${show(embeddedIdle)} |`)
