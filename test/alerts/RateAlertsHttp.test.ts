/**
 * Rate alerts end to end on a gateway process in memory, checked every second: six requests
 * with a bad key to the image-generation route within the hour raise one
 * `generation_401.rate_exceeded` alert, listed by GET /api/v1/admin/alerts and delivered to the
 * log; the next check, still above the threshold, raises no other. A new store has no week behind it:
 * no weekly report is raised at start-up.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { alertsOf, type Gateway, startGatewayWith } from "./support/AlertGateways.ts"
import { waitFor } from "./support/WebhookReceiver.ts"

const BAD_KEY = "sk-not-a-key-of-anyone-4f1c9e2b7d"

const generateWith = async (origin: string, key: string) => {
  const response = await fetch(`${origin}/api/v1/llm/image/generations`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ prompt: "A unicorn", model: "dall-e-3", size: "1024x1024", n: 1 }),
    signal: AbortSignal.timeout(10_000)
  })
  return response.status
}

describe("rate alerts over HTTP [memory]", () => {
  let gateway: Gateway
  beforeAll(async () => {
    gateway = await startGatewayWith({ STORAGE: "memory", ALERT_RATE_CHECK_SECONDS: "1", ALERT_WEEKLY_REPORT: "1" })
  }, 60_000)
  afterAll(async () => {
    expect(await gateway?.process.stop()).toBe(0)
  })

  it("6 requests with a bad key to the generation route raise one generation_401.rate_exceeded alert, listed and logged, and no second while above", async () => {
    const statuses = await Promise.all(Array.from({ length: 6 }, () => generateWith(gateway.origin, BAD_KEY)))
    expect(statuses).toEqual([401, 401, 401, 401, 401, 401])
    const ofType = async (type: string) => (await alertsOf(gateway.origin)).filter((a) => a.type === type)
    const [alert] = await waitFor("the generation 401 alert", async () => {
      const found = await ofType("generation_401.rate_exceeded")
      return found.length > 0 ? found : undefined
    }, 10_000)
    expect(alert!.data).toEqual({
      count: 6,
      threshold: 5,
      window_start: expect.any(Number),
      window_end: expect.any(Number)
    })
    expect((alert!.data["window_end"] as number) - (alert!.data["window_start"] as number)).toBe(3_600)
    // At least one more check (every second), the count still 6: no other alert.
    await new Promise((resolve) => setTimeout(resolve, 1_500))
    expect(await ofType("generation_401.rate_exceeded")).toHaveLength(1)
    expect(await ofType("auth_failures.rate_exceeded")).toHaveLength(0) // the bad key is nobody's
    expect(await ofType("report.weekly")).toHaveLength(0) // a week without requests sends no report
    // Delivered to the log (no webhook configured), and the key is nowhere.
    await waitFor("the alert in the log", async () => gateway.process.output().includes(`"id":"${alert!.id}"`) ? true : undefined, 5_000)
    expect(gateway.process.output()).toContain(`"type":"generation_401.rate_exceeded"`)
    expect(gateway.process.output()).not.toContain(BAD_KEY)
    expect(JSON.stringify(await alertsOf(gateway.origin))).not.toContain(BAD_KEY)
  })
})
