/**
 * The processes of `npm run bench:cluster`: gateway instances started as `npm start` starts
 * them, their access logs read from stdout, and stopping every process however the run ends.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { createInterface } from "node:readline"
import { stop } from "./BenchKit.ts"
import { npmStart } from "./NpmStart.ts"

const ROOT = new URL("../", import.meta.url).pathname

/** Every child started, so that none outlives the run (SIGKILL at exit, whatever the exit). */
const children = new Set<ChildProcess>()
process.once("exit", () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL")
})
export const track = (child: ChildProcess) => {
  children.add(child)
  child.once("exit", () => children.delete(child))
  return child
}

/** One line of a gateway's access log (ACCESS_LOG=1). */
export interface Logged {
  readonly instance: number
  readonly status: number
  readonly durationMs: number
  readonly path: string
}

export interface Gateway {
  readonly index: number
  readonly origin: string
  readonly child: ChildProcess
  /** Lines on stderr (warnings, provider failures logged without keys), the last few kept. */
  readonly stderr: { lines: number; readonly last: Array<string> }
  /** How it exited, if it has; `stopping` once the run stops it (an exit before that is a failure). */
  readonly state: { stopping: boolean; exit: number | string | null | undefined }
}

/**
 * Starts `npm start`'s command with `env` and resolves once it prints its origin and answers
 * `GET /readyz` 200; rejects if it exits first or is not ready within `deadlineMs`. Access log
 * lines go to `log`, keyed by request id.
 */
export const startGateway = (index: number, env: Record<string, string>, log: Map<string, Logged>, deadlineMs = 90_000) =>
  new Promise<Gateway>((resolve, reject) => {
    const start = npmStart(ROOT)
    const child = track(spawn(process.execPath, start.args, {
      cwd: ROOT,
      env: { ...process.env, ...start.env, ...env },
      stdio: ["ignore", "pipe", "pipe"]
    }))
    const stderr = { lines: 0, last: [] as Array<string> }
    let banner = ""
    let origin: string | undefined
    const state: Gateway["state"] = { stopping: false, exit: undefined }
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`gateway ${index} was not ready within ${deadlineMs} ms:\n${banner}${stderr.last.join("\n")}`))
    }, deadlineMs)
    createInterface({ input: child.stderr! }).on("line", (line) => {
      stderr.lines += 1
      stderr.last.push(line)
      if (stderr.last.length > 5) stderr.last.shift()
    })
    createInterface({ input: child.stdout! }).on("line", (line) => {
      if (line.startsWith("{\"at\"")) {
        const entry = JSON.parse(line) as { request_id: string; status: number; duration_ms: number; path: string }
        log.set(entry.request_id, { instance: index, status: entry.status, durationMs: entry.duration_ms, path: entry.path })
        return
      }
      if (origin !== undefined) return
      banner += `${line}\n`
      const listening = /Image Gateway listening on (http:\/\/\S+)/.exec(line)
      if (listening === null) return
      origin = listening[1]!
      void waitReady(origin, deadlineMs).then(
        () => {
          clearTimeout(timer)
          resolve({ index, origin: origin!, child, stderr, state })
        },
        (error) => reject(error)
      )
    })
    child.once("exit", (code, signal) => {
      state.exit = code ?? signal
      clearTimeout(timer)
      reject(new Error(`gateway ${index} exited with ${code ?? signal} before it was ready:\n${banner}${stderr.last.join("\n")}`))
    })
  })

/** Marks a gateway as being stopped (its exit is then no failure) and stops it. */
export const stopGateway = (gateway: Gateway) => {
  gateway.state.stopping = true
  // SIGTERM (the gateway drains for up to 20 s), SIGKILL after 25 s.
  return stop(gateway.child, 25_000)
}

const waitReady = async (origin: string, deadlineMs: number) => {
  const deadline = Date.now() + deadlineMs
  for (;;) {
    const status = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(2_000) }).then((r) => r.status, () => 0)
    if (status === 200) return
    if (Date.now() > deadline) throw new Error(`${origin}/readyz did not answer 200 within ${deadlineMs} ms (last: ${status})`)
    await new Promise((wake) => setTimeout(wake, 100))
  }
}
