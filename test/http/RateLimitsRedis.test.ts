import { randomUUID } from "node:crypto"
import { Socket } from "node:net"
import { createClient } from "redis"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEMO, demoLegacyKeyOf } from "../../src/DemoData.ts"
import { bearerHeader, generate, http } from "./support/HttpHarness.ts"
import { freePort, ROOT, type Started, startGatewayProcess } from "./support/Processes.ts"
import { spawn } from "node:child_process"

/**
 * Rate limits shared across instances: two gateway processes on one Redis (REDIS_URL), each with
 * its own keys under a prefix unique to this run (deleted afterwards), count one service's
 * requests together. Needs the Redis at 127.0.0.1:6379; without it the tests are skipped, saying so.
 */

const REDIS_URL = "redis://127.0.0.1:6379"
const SERVICE = "presenton-service"

const redisAnswers = (): Promise<boolean> =>
  new Promise((resolve) => {
    const socket = new Socket()
    const done = (up: boolean) => {
      socket.destroy()
      resolve(up)
    }
    socket.setTimeout(1_000, () => done(false))
    socket.once("error", () => done(false))
    socket.connect(6379, "127.0.0.1", () => done(true))
  })

const reachable = await redisAnswers()
if (!reachable) console.log(`Redis is not reachable at ${REDIS_URL}: the cross-instance rate limit tests are skipped.`)

describe.skipIf(!reachable)("rate limits on Redis, across two gateway processes", () => {
  const prefix = `image-gateway-test:${randomUUID()}:`
  const gateways: Array<{ origin: string; process: Started }> = []

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const port = await freePort()
      const process = await startGatewayProcess({
        STORAGE: "memory",
        HOST: "127.0.0.1",
        PORT: String(port),
        REDIS_URL,
        REDIS_KEY_PREFIX: prefix
      })
      gateways.push({ origin: `http://127.0.0.1:${port}`, process })
    }
  }, 60_000)

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.process.stop()))
    // Leave nothing behind: every key this run wrote is under its prefix.
    const client = createClient({ url: REDIS_URL })
    await client.connect()
    const keys = await client.keys(`${prefix}*`)
    if (keys.length > 0) await client.del(keys)
    expect(await client.keys(`${prefix}*`)).toEqual([])
    await client.close()
  }, 30_000)

  it("admits exactly 10 of 15 requests split across both instances under a limit of 10 per minute", async () => {
    // Each instance keeps its own service registry (STORAGE=memory): the operator sets the limit on both.
    for (const { origin } of gateways) {
      const r = await http(origin, `/api/v1/admin/services/${SERVICE}`, {
        method: "PATCH",
        headers: { ...bearerHeader(DEMO.adminKey), "content-type": "application/json" },
        body: JSON.stringify({ rate_limits: { requests_per_minute: 10 } })
      })
      expect(r.status, r.text).toBe(200)
    }
    const key = demoLegacyKeyOf(SERVICE)
    const results = await Promise.all(
      Array.from({ length: 15 }, (_, i) => generate(gateways[i % 2]!.origin, bearerHeader(key)))
    )
    const statuses = results.map((r) => r.status)
    expect(statuses.filter((s) => s === 200).length, JSON.stringify(statuses)).toBe(10)
    expect(statuses.filter((s) => s === 429).length).toBe(5)
    for (const refused of results.filter((r) => r.status === 429)) {
      expect(refused.json.error.code).toBe("rate_limit_exceeded")
      expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(1)
    }
    // Both instances refused some: the count was shared, not per instance.
    const refusedBy = new Set(results.flatMap((r, i) => (r.status === 429 ? [i % 2] : [])))
    expect(refusedBy.size).toBeGreaterThan(0)
  }, 60_000)
})

describe("REDIS_URL that cannot be reached", () => {
  it("stops start-up with exit 78 and one line naming REDIS_URL without its password", async () => {
    const port = await freePort()
    const child = spawn(process.execPath, ["src/main.ts"], {
      cwd: ROOT,
      env: { ...process.env, STORAGE: "memory", HOST: "127.0.0.1", PORT: String(port), REDIS_URL: "redis://ops:hunter2-secret@127.0.0.1:1" },
      stdio: "pipe"
    })
    let out = ""
    child.stdout.on("data", (c: Buffer) => void (out += c.toString()))
    child.stderr.on("data", (c: Buffer) => void (out += c.toString()))
    const code = await new Promise<number | null>((resolve) => {
      const timer = setTimeout(() => {
        child.kill("SIGKILL")
        resolve(null)
      }, 20_000)
      child.once("exit", (c) => {
        clearTimeout(timer)
        resolve(c)
      })
    })
    expect(code, out).toBe(78)
    expect(out).toContain("REDIS_URL (127.0.0.1:1)")
    expect(out).not.toContain("hunter2")
    expect(out.trim().split("\n").length).toBe(1)
  }, 30_000)
})
