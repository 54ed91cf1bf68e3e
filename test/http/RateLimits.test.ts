import { Effect } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { UsageLog } from "../../src/application/ports/UsageLog.ts"
import { type AdminClient, expectRefusal, fresh, freshOrg, makeAdminClient } from "./support/AdminHttp.ts"
import { balances, bearerHeader, changedAccounts, generate, type TestGateway, startGateway, UNICORN } from "./support/HttpHarness.ts"

/**
 * A service's rate limits over HTTP, configured through the admin API the way an operator does:
 * a request over a limit is refused with OpenAI's 429 and Retry-After, and moves nothing.
 */

let gateway: TestGateway
let admin: AdminClient

beforeAll(async () => {
  // A short provider deadline lets the "[hang]" requests of the concurrency test end on their own.
  gateway = await startGateway({ policy: { providerTimeoutMs: 1_500 } })
  admin = await makeAdminClient(gateway.origin)
})
afterAll(() => gateway.close())

/** A new service billed to its own organization, with its first key. */
const newService = async () => {
  const name = fresh("limited")
  const r = await admin.call("POST", "/services", { body: { name, organization: { id: freshOrg("limited") }, initial_credits: 1_000 } })
  expect(r.status).toBe(201)
  return { name, key: r.json.key.secret as string }
}

/** The service's usage events (a refused request is none: it never reached a provider). */
const usageOf = (service: string) =>
  gateway.run(Effect.map(UsageLog.use((log) => log.list({ service, limit: 100 })), (events) => events.length))

const limit = (name: string, rateLimits: Record<string, number | null>) =>
  admin.call("PATCH", "/services/{name}", { params: { name }, body: { rate_limits: rateLimits } })

describe("rate limits per service", () => {
  it("refuses the request past requests_per_minute with 429 rate_limit_exceeded and Retry-After, holding and charging nothing", async () => {
    const { name, key } = await newService()
    expect((await limit(name, { requests_per_minute: 3 })).json.rate_limits).toEqual({
      requests_per_minute: 3,
      per_key_requests_per_minute: null,
      concurrent: null
    })
    for (let i = 0; i < 3; i++) expect((await generate(gateway.origin, bearerHeader(key))).status).toBe(200)
    const before = await gateway.run(balances)
    const calls = gateway.calls.length
    const refused = await generate(gateway.origin, bearerHeader(key))
    expectRefusal(refused, 429, "rate_limit_exceeded", null)
    expect(refused.json.error.type).toBe("rate_limit_error")
    const retryAfter = Number(refused.headers.get("retry-after"))
    expect(retryAfter).toBeGreaterThanOrEqual(1)
    expect(retryAfter).toBeLessThanOrEqual(60)
    // The OpenAI-compatible path shares the same limits.
    const openai = await generate(gateway.origin, bearerHeader(key), UNICORN, "/v1/images/generations")
    expectRefusal(openai, 429, "rate_limit_exceeded", null)
    expect(openai.headers.get("retry-after")).toBeTruthy()
    // No hold, no settlement, no provider call.
    expect(changedAccounts(before, await gateway.run(balances))).toEqual([])
    expect(gateway.calls.length).toBe(calls)
    expect(await usageOf(name)).toBe(3)
  })

  it("takes rate_limits when a service is created: limited from its first request; a bad limit refuses the creation and creates nothing", async () => {
    const name = fresh("born-limited")
    const created = await admin.call("POST", "/services", {
      body: { name, organization: { id: freshOrg("born") }, initial_credits: 1_000, rate_limits: { requests_per_minute: 2, concurrent: null } }
    })
    expect(created.status).toBe(201)
    expect(created.json.service.rate_limits).toEqual({ requests_per_minute: 2, per_key_requests_per_minute: null, concurrent: null })
    const key = created.json.key.secret as string
    for (let i = 0; i < 2; i++) expect((await generate(gateway.origin, bearerHeader(key))).status).toBe(200)
    expectRefusal(await generate(gateway.origin, bearerHeader(key)), 429, "rate_limit_exceeded", null)

    const refusedName = fresh("bad-limit")
    const refused = await admin.call("POST", "/services", {
      body: { name: refusedName, organization: { id: freshOrg("bad") }, rate_limits: { per_key_requests_per_minute: 0 } }
    })
    expectRefusal(refused, 400, "invalid_rate_limit", "rate_limits.per_key_requests_per_minute")
    expect((await admin.call("GET", "/services/{name}", { params: { name: refusedName } })).status).toBe(404)
  })

  it("counts each key alone under per_key_requests_per_minute, and all keys together under requests_per_minute", async () => {
    const { name, key } = await newService()
    const second = (await admin.call("POST", "/services/{name}/keys", { params: { name }, body: {} })).json.secret as string
    await limit(name, { per_key_requests_per_minute: 2, requests_per_minute: 3 })
    expect((await generate(gateway.origin, bearerHeader(key))).status).toBe(200)
    expect((await generate(gateway.origin, bearerHeader(key))).status).toBe(200)
    const perKey = await generate(gateway.origin, bearerHeader(key))
    expectRefusal(perKey, 429, "rate_limit_exceeded")
    expect(perKey.json.error.message).toContain("per credential")
    // The other key has its own per-key window, but the service's is now full after one more.
    expect((await generate(gateway.origin, bearerHeader(second))).status).toBe(200)
    const perService = await generate(gateway.origin, bearerHeader(second))
    expectRefusal(perService, 429, "rate_limit_exceeded")
    expect(perService.json.error.message).not.toContain("per credential")
    // Another service is not affected.
    expect((await generate(gateway.origin, bearerHeader((await newService()).key))).status).toBe(200)
  })

  it("refuses the request past `concurrent` while that many are in flight, and admits one once they end", async () => {
    const { name, key } = await newService()
    await limit(name, { concurrent: 2 })
    const hanging = { ...UNICORN, prompt: "a lighthouse [hang]" }
    const inFlight = [generate(gateway.origin, bearerHeader(key), hanging), generate(gateway.origin, bearerHeader(key), hanging)]
    // Both have reached the provider: their slots are taken.
    const deadline = Date.now() + 5_000
    while (gateway.calls.filter((c) => c.call.prompt.includes("[hang]")).length < 2 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 20))
    }
    const before = await gateway.run(balances)
    const third = await generate(gateway.origin, bearerHeader(key))
    expectRefusal(third, 429, "rate_limit_exceeded")
    expect(third.headers.get("retry-after")).toBe("1")
    expect(changedAccounts(before, await gateway.run(balances))).toEqual([])
    // The hanging ones end at the provider deadline (504), giving their slots back.
    expect((await Promise.all(inFlight)).map((r) => r.status)).toEqual([504, 504])
    expect((await generate(gateway.origin, bearerHeader(key))).status).toBe(200)
  })

  it("removes a limit with null: the service is then unlimited", async () => {
    const { name, key } = await newService()
    await limit(name, { requests_per_minute: 1 })
    expect((await generate(gateway.origin, bearerHeader(key))).status).toBe(200)
    expect((await generate(gateway.origin, bearerHeader(key))).status).toBe(429)
    const cleared = await limit(name, { requests_per_minute: null })
    expect(cleared.json.rate_limits.requests_per_minute).toBeNull()
    expect((await generate(gateway.origin, bearerHeader(key))).status).toBe(200)
  })
})

describe("rate limits in the admin API", () => {
  it("stores, shows and audits a service's limits, keeping those not sent", async () => {
    const { name } = await newService()
    const fresh = await admin.call("GET", "/services/{name}", { params: { name } })
    expect(fresh.json.rate_limits).toEqual({ requests_per_minute: null, per_key_requests_per_minute: null, concurrent: null })
    await limit(name, { requests_per_minute: 600, concurrent: 4 })
    await limit(name, { per_key_requests_per_minute: 100 })
    const shown = await admin.call("GET", "/services/{name}", { params: { name } })
    expect(shown.json.rate_limits).toEqual({ requests_per_minute: 600, per_key_requests_per_minute: 100, concurrent: 4 })
    const audit = await admin.call("GET", "/audit", { query: { action: "service.update", target: `service:${name}` } })
    expect(JSON.stringify(audit.json)).toContain("\"requestsPerMinute\":600")
  })

  it.each([
    [{ requests_per_minute: 0 }, "rate_limits.requests_per_minute"],
    [{ concurrent: 2.5 }, "rate_limits.concurrent"],
    [{ per_key_requests_per_minute: -1 }, "rate_limits.per_key_requests_per_minute"],
    [{ requests_per_minute: 1_000_001 }, "rate_limits.requests_per_minute"]
  ])("refuses %j with 400 naming the field, changing nothing", async (body, param) => {
    const { name } = await newService()
    await limit(name, { requests_per_minute: 5 })
    const refused = await limit(name, body)
    expectRefusal(refused, 400, "invalid_rate_limit", param)
    const shown = await admin.call("GET", "/services/{name}", { params: { name } })
    expect(shown.json.rate_limits).toEqual({ requests_per_minute: 5, per_key_requests_per_minute: null, concurrent: null })
  })

  it("publishes rate_limits in /openapi.json", () => {
    const schemas = admin.document.components.schemas
    expect(Object.keys(schemas.AdminUpdateService.properties)).toContain("rate_limits")
    expect(Object.keys(schemas.AdminRateLimits.properties).sort()).toEqual(["concurrent", "per_key_requests_per_minute", "requests_per_minute"])
  })
})

/**
 * The gateway-wide defaults (RATE_LIMIT_* in the environment; here the policy they make): a
 * service with no limits of its own gets them, one with its own keeps its own, and user
 * credentials are not service limits.
 */
describe("default rate limits for services without their own", () => {
  let limited: TestGateway
  let limitedAdmin: AdminClient

  beforeAll(async () => {
    limited = await startGateway({ policy: { defaultRateLimits: { requestsPerMinute: 2 } } })
    limitedAdmin = await makeAdminClient(limited.origin)
  })
  afterAll(() => limited.close())

  const serviceOn = async (rateLimits?: Record<string, number>) => {
    const r = await limitedAdmin.call("POST", "/services", {
      body: { name: fresh("defaults"), organization: { id: freshOrg("defaults") }, initial_credits: 1_000, ...(rateLimits === undefined ? {} : { rate_limits: rateLimits }) }
    })
    expect(r.status).toBe(201)
    return r.json.key.secret as string
  }

  it("limits a service with none of its own by the defaults, and leaves a service's own limits alone", async () => {
    const plain = await serviceOn()
    for (let i = 0; i < 2; i++) expect((await generate(limited.origin, bearerHeader(plain))).status).toBe(200)
    expectRefusal(await generate(limited.origin, bearerHeader(plain)), 429, "rate_limit_exceeded", null)

    const own = await serviceOn({ requests_per_minute: 4 })
    for (let i = 0; i < 4; i++) expect((await generate(limited.origin, bearerHeader(own))).status).toBe(200)
    expectRefusal(await generate(limited.origin, bearerHeader(own)), 429, "rate_limit_exceeded", null)
  })

  it("does not limit a user's own key by the services' defaults", async () => {
    for (let i = 0; i < 3; i++) expect((await generate(limited.origin, bearerHeader("uc_demo_alice"))).status).toBe(200)
  })
})
