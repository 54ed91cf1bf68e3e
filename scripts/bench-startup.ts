/**
 * `npm run bench:startup`: how long `npm start` takes from launch to its first ready answer
 * (`GET /readyz` → 200), against a bare node:http server in the same run, and where the time of
 * a warm start on the embedded default goes. Every row is spawned BENCH_ROUNDS times (default 5);
 * the median and the best are shown. The clock starts when the process is spawned; the gateway
 * is polled every 5 ms (before it listens the connection is refused, while it starts it answers
 * 503 `starting`).
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { request } from "node:http"
import { loadavg } from "node:os"
import { join } from "node:path"
import { npmStart } from "./NpmStart.ts"
import { scratchDir } from "./ScratchDir.ts"
import { freePort } from "../src/adapters/net/FreePort.ts"
import { binaries, serverUser, startServer } from "../src/adapters/postgres/PostgresServer.ts"

const ROOT = new URL("../", import.meta.url).pathname

const start = npmStart(ROOT)
const rounds = Number(process.env["BENCH_ROUNDS"] ?? 5)

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms))

/** The status of one GET, or undefined when nothing answered within 500 ms. */
const probe = (port: number, path: string) =>
  new Promise<number | undefined>((done) => {
    const req = request({ host: "127.0.0.1", port, path, agent: false }, (res) => {
      res.resume()
      res.on("end", () => done(res.statusCode))
    })
    req.setTimeout(500, () => req.destroy())
    req.on("error", () => done(undefined))
    req.end()
  })

const rssMb = (pid: number) => {
  const line = readFileSync(`/proc/${pid}/status`, "utf8").split("\n").find((l) => l.startsWith("VmRSS:"))!
  return Math.round(Number(line.split(/\s+/)[1]) / 1024)
}

const stop = (child: ChildProcess) =>
  new Promise<void>((done) => {
    if (child.exitCode !== null || child.signalCode !== null) return done()
    const timer = setTimeout(() => child.kill("SIGKILL"), 20_000)
    child.once("exit", () => {
      clearTimeout(timer)
      done()
    })
    child.kill("SIGTERM")
  })

/** Spawns `args` and measures the time until `path` answers 200 (deadline 60 s), and the RSS then. */
const timeToReady = async (args: ReadonlyArray<string>, env: Record<string, string>, port: number, path: string) => {
  const started = performance.now()
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { ...process.env, ...env, PORT: String(port) }, stdio: "ignore" })
  try {
    while (performance.now() - started < 60_000) {
      if (child.exitCode !== null) throw new Error(`${args.join(" ")} exited with ${child.exitCode}`)
      if ((await probe(port, path)) === 200) return { ms: performance.now() - started, rss: rssMb(child.pid!) }
      await sleep(5)
    }
    throw new Error(`${args.join(" ")} was not ready within 60 s`)
  } finally {
    await stop(child)
  }
}

const summary = (samples: ReadonlyArray<number>) => {
  const sorted = [...samples].sort((a, b) => a - b)
  return { median: sorted[Math.floor(sorted.length / 2)]!, best: sorted[0]! }
}

const row = async (name: string, run: () => Promise<{ ms: number; rss?: number }>) => {
  const times: Array<number> = []
  const rss: Array<number> = []
  for (let i = 0; i < rounds; i++) {
    const result = await run()
    times.push(result.ms)
    if (result.rss !== undefined) rss.push(result.rss)
  }
  const t = summary(times)
  const r = rss.length > 0 ? `${summary(rss).median} MB` : ""
  console.log(`| ${name} | ${Math.round(t.median)} ms | ${Math.round(t.best)} ms | ${r} |`)
  return t.median
}

// Removed when the process ends, however it ends.
const dataDir = scratchDir("bench-startup-")
console.log(`load average ${loadavg().map((l) => l.toFixed(2)).join(" ")}; ${rounds} rounds per row; gateway: \`${start.script}\`\n`)
console.log("| to the first ready answer | median | best | RSS then |")
console.log("|---|---:|---:|---:|")
const bare = `require("node:http").createServer((q, s) => s.end("ok")).listen(Number(process.env.PORT), "127.0.0.1")`
await row("bare node:http server", async () => timeToReady(["-e", bare], {}, await freePort(), "/"))
const gateway = (env: Record<string, string>) => async () =>
  timeToReady(start.args, { ...start.env, HOST: "127.0.0.1", DATA_DIR: dataDir, STORAGE: "", DATABASE_URL: "", ...env }, await freePort(), "/readyz")
const memory = await row("gateway, STORAGE=memory", gateway({ STORAGE: "memory" }))
// The first start creates the cluster, migrates and seeds; later ones find it all there.
const cold = await timeToReady(start.args, { ...start.env, HOST: "127.0.0.1", DATA_DIR: dataDir, STORAGE: "", DATABASE_URL: "" }, await freePort(), "/readyz")
const warm = await row("gateway, embedded PostgreSQL, warm DATA_DIR", gateway({}))
console.log(`| gateway, embedded PostgreSQL, first start (creates the cluster) | ${Math.round(cold.ms)} ms | | ${cold.rss} MB |`)

// Where a warm start goes: loading the modules (as npm start does, through the compile cache),
// starting PostgreSQL on the same cluster, and the rest (migration check, seeding check, listen).
const loadMs: Array<number> = []
for (let i = 0; i < rounds; i++) {
  const started = performance.now()
  await new Promise<void>((done, fail) => {
    const child = spawn(process.execPath, [
      "--input-type=module",
      "-e",
      `import { enableCompileCache } from "node:module"
       enableCompileCache(new URL("./node_modules/.cache/image-gateway/compile", "file://${ROOT}").pathname)
       await import("./src/Layers.ts"); await import("./src/Startup.ts"); await import("./src/adapters/http/Server.ts")`
    ], { cwd: ROOT, stdio: "inherit" })
    child.once("exit", (code) => (code === 0 ? done() : fail(new Error(`module loading exited with ${code}`))))
  })
  loadMs.push(performance.now() - started)
}
const user = await serverUser()
const bins = await binaries(user)
const password = (JSON.parse(readFileSync(join(dataDir, "secrets.json"), "utf8")) as { postgresPassword: string }).postgresPassword
let cluster = join(dataDir, "postgres")
try {
  // As root with a DATA_DIR the postgres user cannot enter, the cluster lives elsewhere.
  cluster = readFileSync(join(dataDir, "postgres-location"), "utf8").split("\n")[0]!
} catch {
  // It is under DATA_DIR.
}
const pgMs: Array<number> = []
for (let i = 0; i < rounds; i++) {
  const started = performance.now()
  const server = await startServer({ cluster, password, user, binaries: bins, port: await freePort(), settings: [] })
  pgMs.push(performance.now() - started)
  await server.stop()
}
const load = summary(loadMs).median
const pg = summary(pgMs).median
console.log(`\nWarm start on the embedded default, median ${Math.round(warm)} ms (STORAGE=memory ${Math.round(memory)} ms):`)
console.log(`  loading the modules (a process that only imports them)   ${Math.round(load)} ms`)
console.log(`  starting PostgreSQL on the warm cluster                   ${Math.round(pg)} ms`)
console.log(`  the rest (pool, migration and seeding checks, listen)     ${Math.round(warm - load - pg)} ms`)
