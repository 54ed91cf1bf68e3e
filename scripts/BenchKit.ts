/**
 * What the HTTP benchmarks share: autocannon with its result's shape, the median of the rounds,
 * a server process's CPU time, spawning a server that prints `READY <origin>`, and stopping one.
 */
import { type ChildProcess, spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"

export interface Histogram {
  readonly average: number
  readonly p50: number
  readonly p99: number
}
export interface Result {
  readonly requests: Histogram & { readonly total: number }
  readonly latency: Histogram
  readonly non2xx: number
  readonly errors: number
}
export const autocannon = createRequire(import.meta.url)("autocannon") as (options: Record<string, unknown>) => Promise<Result>

export const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

/**
 * CPU time (user + system, ms) the process has used, from /proc: less sensitive than req/s to
 * the load generator and other work sharing the cores. Clock ticks are 10 ms on Linux.
 */
export const cpuMs = (pid: number): number => {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ")
  return (Number(fields[11]) + Number(fields[12])) * 10
}

/**
 * Spawns `node <args>` and resolves with its origin once it prints `READY <origin>` (what it
 * prints after that is read and dropped); rejects if it exits first or is not ready in `deadlineMs`.
 */
export const startReady = (args: ReadonlyArray<string>, env: Record<string, string>, deadlineMs = 60_000) =>
  new Promise<{ readonly origin: string; readonly child: ChildProcess }>((resolve, reject) => {
    const child = spawn(process.execPath, args, { env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "inherit"] })
    let out = ""
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`${args.join(" ")} was not ready within ${deadlineMs} ms: ${out}`))
    }, deadlineMs)
    const onData = (chunk: Buffer) => {
      out += chunk.toString()
      const ready = /READY (\S+)/.exec(out)
      if (ready !== null) {
        clearTimeout(timer)
        child.stdout!.off("data", onData).resume()
        resolve({ origin: ready[1]!, child })
      }
    }
    child.stdout!.on("data", onData)
    child.once("exit", (code) => {
      clearTimeout(timer)
      reject(new Error(`${args.join(" ")} exited with ${code}: ${out}`))
    })
  })

/** SIGTERM (a server stops its embedded PostgreSQL before it exits), SIGKILL after `graceMs`. */
export const stop = (child: ChildProcess, graceMs = 30_000) =>
  new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve()
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs)
    child.once("exit", () => {
      clearTimeout(timer)
      resolve()
    })
    child.kill("SIGTERM")
  })
