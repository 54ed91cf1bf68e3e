/** `ACCESS_LOG`: one entry per answered request, from the generation lane and the router alike. */
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"
import { type AccessEntry, makeStdoutAccessLog } from "../../src/adapters/http/AccessLog.ts"
import { WORLD } from "../../specs/support/Harness.ts"
import { bearerHeader, generate, http, startGateway, type TestGateway, UNICORN } from "./support/HttpHarness.ts"

describe("the access log", () => {
  const entries: Array<AccessEntry> = []
  let gateway: TestGateway
  beforeAll(async () => {
    gateway = await startGateway({ accessLog: (entry) => entries.push(entry) })
  })
  afterAll(() => gateway.close())

  const entryFor = (requestId: string | null) => {
    const found = entries.filter((e) => e.request_id === requestId)
    expect(found).toHaveLength(1)
    return found[0]!
  }

  it("writes a generation served by the lane: method, path without its query, status, duration, what it charged", async () => {
    const before = Date.now()
    const r = await generate(gateway.origin, bearerHeader(WORLD.presentonKey), UNICORN, "/v1/images/generations?team=design")
    expect(r.status).toBe(200)
    const entry = entryFor(r.headers.get("x-request-id"))
    expect(entry).toMatchObject({ method: "POST", path: "/v1/images/generations", status: 200, credits_charged: 48 })
    expect(entry.duration_ms).toBeGreaterThanOrEqual(0)
    expect(Date.parse(entry.at)).toBeGreaterThanOrEqual(before - 1_000)
  })

  it("writes refusals, and answers of the router, with no credits field", async () => {
    const refused = await generate(gateway.origin, bearerHeader("sk-not-a-key-0000"))
    expect(entryFor(refused.headers.get("x-request-id"))).toEqual(expect.objectContaining({ status: 401, path: "/api/v1/llm/image/generations" }))
    const models = await http(gateway.origin, "/v1/models")
    const modelsEntry = entryFor(models.headers.get("x-request-id"))
    expect(modelsEntry).toMatchObject({ method: "GET", path: "/v1/models", status: 200 })
    expect(modelsEntry).not.toHaveProperty("credits_charged")
    const missing = await http(gateway.origin, "/nowhere?token=abc")
    expect(entryFor(missing.headers.get("x-request-id"))).toMatchObject({ path: "/nowhere", status: 404 })
  })

  it("never holds a credential, a header value or a query", async () => {
    await generate(gateway.origin, { ...bearerHeader(WORLD.alice.key), "x-user-id": WORLD.bob.id }, UNICORN, "/v1/images/generations?secret=s3cr3t")
    const text = JSON.stringify(entries)
    for (const secret of [WORLD.presentonKey, WORLD.alice.key, "sk-not-a-key-0000", WORLD.bob.id, "s3cr3t", "token=abc"]) {
      expect(text).not.toContain(secret)
    }
  })
})

describe("ACCESS_LOG's stdout sink", () => {
  it("writes the lines of one event-loop turn in one write at its end, one JSON object per line", async () => {
    const writes: Array<string> = []
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      writes.push(String(chunk))
      return true
    })
    try {
      const sink = makeStdoutAccessLog()
      const entry = (i: number): AccessEntry => ({
        at: new Date(0).toISOString(),
        request_id: `req_${i}`,
        method: "GET",
        path: "/healthz",
        status: 200,
        duration_ms: i
      })
      sink(entry(1))
      sink(entry(2))
      sink(entry(3))
      expect(writes).toEqual([])
      await new Promise((resolve) => setImmediate(resolve))
      expect(writes).toHaveLength(1)
      expect(writes[0]!.trimEnd().split("\n").map((line) => JSON.parse(line))).toEqual([entry(1), entry(2), entry(3)])
      sink(entry(4))
      await new Promise((resolve) => setImmediate(resolve))
      expect(writes).toHaveLength(2)
    } finally {
      spy.mockRestore()
    }
  })
})

