import { spawn } from "node:child_process"
import { chmod, mkdtemp, readdir, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { isAlive } from "../../src/adapters/postgres/PostgresServer.ts"
import { sweepScratch } from "../../specs/support/ScratchPostgres.ts"

const WORKER = new URL("./scratchWorker.ts", import.meta.url).pathname
const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms))

/** Waits up to `ms` for `check` to hold. */
const eventually = async (check: () => Promise<boolean> | boolean, ms: number) => {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    if (await check()) return true
    await sleep(50)
  }
  return check()
}

/**
 * A process that starts a scratch server with its own temporary directory (TMPDIR), so that
 * whatever it leaves behind is visible, and only its.
 */
const runWorker = async (mode: "stop" | "exit" | "wait") => {
  const tmp = await mkdtemp(join(tmpdir(), "scratch-cleanup-"))
  // A temporary directory the server's user can enter, as /tmp is.
  await chmod(tmp, 0o755)
  const child = spawn(process.execPath, [WORKER], { env: { ...process.env, TMPDIR: tmp, MODE: mode }, stdio: ["ignore", "pipe", "inherit"] })
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
  const line = await new Promise<string>((done, fail) => {
    let out = ""
    const timer = setTimeout(() => fail(new Error("the worker did not start a server within 30 s")), 30_000)
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes("\n")) {
        clearTimeout(timer)
        done(out.split("\n")[0]!)
      }
    })
    void exited.then((code) => fail(new Error(`the worker exited with ${code}: ${out}`)))
  })
  const started = JSON.parse(line) as { dir: string; pid: number }
  return { tmp, child, exited, ...started }
}

describe("scratch PostgreSQL servers of tests and benchmarks leave nothing behind", () => {
  const tmps: Array<string> = []
  afterAll(async () => {
    for (const tmp of tmps) await rm(tmp, { recursive: true, force: true })
  })

  it("stop removes the server and its directory, and no password file is ever written to the temporary directory", async () => {
    const worker = await runWorker("stop")
    tmps.push(worker.tmp)
    expect(worker.dir.startsWith(join(worker.tmp, `image-gateway-pg-${worker.child.pid}-`))).toBe(true)
    expect(await worker.exited).toBe(0)
    expect(isAlive(worker.pid)).toBe(false)
    expect(await readdir(worker.tmp)).toEqual([])
  })

  it("a process that exits without stopping its server still has it stopped and its directory removed", async () => {
    const worker = await runWorker("exit")
    tmps.push(worker.tmp)
    expect(await worker.exited).toBe(0)
    expect(await eventually(async () => !isAlive(worker.pid) && (await readdir(worker.tmp)).length === 0, 15_000)).toBe(true)
  })

  it("what a run killed with SIGKILL left is swept by the next one: its server stopped, its directory removed", async () => {
    const worker = await runWorker("wait")
    tmps.push(worker.tmp)
    worker.child.kill("SIGKILL")
    await worker.exited
    // Nothing could clean up: the server still runs and the directory is there.
    expect(isAlive(worker.pid)).toBe(true)
    expect(await readdir(worker.tmp)).toHaveLength(1)
    const previous = process.env["TMPDIR"]
    process.env["TMPDIR"] = worker.tmp
    try {
      await sweepScratch()
    } finally {
      if (previous === undefined) delete process.env["TMPDIR"]
      else process.env["TMPDIR"] = previous
    }
    expect(isAlive(worker.pid)).toBe(false)
    expect(await readdir(worker.tmp)).toEqual([])
  })
})
