import { spawn } from "node:child_process"
import { describe, expect, it } from "vitest"
import { isAlive } from "../../src/adapters/postgres/PostgresServer.ts"

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms))

describe("telling a gateway that is gone from a live one", () => {
  it("a running process is alive; one that exited, or a zombie nobody reaped, is not", async () => {
    expect(isAlive(process.pid)).toBe(true)
    // `sh` starts a short sleep in the background, then becomes a long sleep that never reaps
    // it: the short one ends as a zombie (as an orphan does under an init that does not reap).
    const parent = spawn("sh", ["-c", "sleep 0.1 & echo $!; exec sleep 5"], { stdio: ["ignore", "pipe", "ignore"] })
    try {
      const zombie = await new Promise<number>((done) => parent.stdout.once("data", (chunk: Buffer) => done(Number(chunk.toString().trim()))))
      expect(isAlive(zombie)).toBe(true)
      await sleep(400)
      // The pid still exists (signal 0 reaches it), yet the process is gone.
      expect(() => process.kill(zombie, 0)).not.toThrow()
      expect(isAlive(zombie)).toBe(false)
    } finally {
      parent.kill("SIGKILL")
    }
    await new Promise((done) => parent.once("exit", done))
    expect(isAlive(parent.pid!)).toBe(false)
  })
})
