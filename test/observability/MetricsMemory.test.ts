/** The ledger and per-service series of `GET /metrics`, after real generations on the in-memory adapters. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { WORLD } from "../../specs/support/Harness.ts"
import { promptFor } from "../../specs/support/ScriptedProvider.ts"
import { bearerHeader, generate, startGateway, type TestGateway, UNICORN } from "../http/support/HttpHarness.ts"
import { consumedBy, delta, HELD, HOLDS, scrape, scrapeUntil } from "./support/Prometheus.ts"

describe("GET /metrics on memory: credits per service and pending holds", () => {
  let gateway: TestGateway
  beforeAll(async () => {
    gateway = await startGateway()
  })
  afterAll(() => gateway.close())

  it("counts millicredits settled by the service whose credential made the request, user credentials as none", async () => {
    const before = await scrape(gateway.origin)
    // dall-e-3 standard 1024² is 40 credits; ×1.2 for the managed org and for Alice (professional).
    expect((await generate(gateway.origin, bearerHeader(WORLD.presentonKey))).status).toBe(200)
    const onBehalf = await generate(gateway.origin, { ...bearerHeader(WORLD.presentonKey), "x-user-id": WORLD.alice.id })
    expect(onBehalf.status).toBe(200)
    expect((await generate(gateway.origin, bearerHeader(WORLD.alice.key))).status).toBe(200)
    expect((await generate(gateway.origin, bearerHeader(WORLD.boltKey), { ...UNICORN, n: 1 })).status).toBe(200)
    // A failed generation settles nothing.
    const failed = await generate(gateway.origin, bearerHeader(WORLD.boltKey), { ...UNICORN, prompt: promptFor("unavailable") })
    expect(failed.status).toBe(503)
    const after = await scrape(gateway.origin)

    expect(delta(before, after, consumedBy("presenton-service"))).toBe(96_000)
    expect(delta(before, after, consumedBy("bolt-diy-service"))).toBe(48_000)
    expect(delta(before, after, consumedBy("none"))).toBe(48_000)
    expect(delta(before, after, "image_gateway_charged_millicredits_total")).toBe(192_000)
  })

  it("shows a generation's hold while the provider works, and none once the client has gone and the hold is released", async () => {
    const idle = await scrape(gateway.origin)
    expect(idle.get(HOLDS)).toBe(0)
    expect(idle.get(HELD)).toBe(0)

    const client = new AbortController()
    const stuck = fetch(`${gateway.origin}/v1/images/generations`, {
      method: "POST",
      headers: { ...bearerHeader(WORLD.presentonKey), "content-type": "application/json" },
      body: JSON.stringify({ ...UNICORN, prompt: "a lighthouse at dusk [hang]" }),
      signal: client.signal
    }).catch(() => undefined)
    const holding = await scrapeUntil(gateway.origin, (found) => found.get(HOLDS) === 1)
    expect(holding.get(HOLDS)).toBe(1)
    expect(holding.get(HELD)).toBe(48_000)

    client.abort()
    await stuck
    const released = await scrapeUntil(gateway.origin, (found) => found.get(HOLDS) === 0)
    expect(released.get(HOLDS)).toBe(0)
    expect(released.get(HELD)).toBe(0)
  })

  it("describes every gateway series, the circuit state per provider included", async () => {
    const text = await (await fetch(`${gateway.origin}/metrics`)).text()
    for (const name of [
      "image_gateway_service_consumed_millicredits_total",
      "image_gateway_ledger_pending_holds",
      "image_gateway_ledger_pending_hold_millicredits"
    ]) {
      expect(text).toMatch(new RegExp(`^# HELP ${name} \\S`, "m"))
      expect(text).toMatch(new RegExp(`^# TYPE ${name} (counter|gauge)$`, "m"))
    }
  })
})
