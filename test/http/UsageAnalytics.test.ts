import { Effect } from "effect"
import { SignJWT } from "jose"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { AuthFailures } from "../../src/application/AuthFailures.ts"
import { AuthFailureLog } from "../../src/application/ports/AuthFailureLog.ts"
import { DEMO, demoLegacyKeyOf } from "../../src/DemoData.ts"
import { type AdminClient, expectRefusal, makeAdminClient } from "./support/AdminHttp.ts"
import { type DemoGateway, startDemoGateway } from "./support/DemoGateway.ts"
import { bearerHeader, generate } from "./support/HttpHarness.ts"

/**
 * Usage analytics over HTTP, on the in-memory store and on PostgreSQL: real generations, 401s,
 * a service refused after authenticating and a 402 are made over HTTP, then
 * GET /api/v1/admin/usage/analytics reflects each of them (every answer checked against the
 * OpenAPI document by the admin client).
 */

type Gateway = DemoGateway<AuthFailureLog | AuthFailures>
const startGateway = (store: "memory" | "postgres") => startDemoGateway<AuthFailureLog | AuthFailures>(store)

const HOUR = 3_600_000

for (const store of ["memory", "postgres"] as const) {
  describe(`usage analytics over HTTP [${store}]`, () => {
    let gateway: Gateway
    let admin: AdminClient
    beforeAll(async () => {
      gateway = await startGateway(store)
      admin = await makeAdminClient(gateway.origin)
    }, 60_000)
    afterAll(() => gateway?.close())

    const run = <A>(effect: Effect.Effect<A, never, AuthFailureLog | AuthFailures>) =>
      Effect.runPromise(Effect.provideContext(effect, gateway.context))
    const image = (headers: Record<string, string>, body?: unknown) => generate(gateway.origin, headers, body, "/v1/images/generations")
    const analytics = (query: Record<string, string | number>) => admin.call("GET", "/usage/analytics", { query })

    it("counts generations, credits, images, 402s, 401s and a service's refusals, per bucket and per group", async () => {
      const now = Date.now()
      const range = { since: Math.floor((now - HOUR) / 1000), until: Math.ceil((now + HOUR) / 1000) }
      const presenton = bearerHeader(demoLegacyKeyOf("presenton-service"))

      // Two images for the service's organization (48 credits each: 40 × 1.2, tier managed), one for Alice.
      expect((await image(presenton)).status).toBe(200)
      expect((await image(presenton)).status).toBe(200)
      expect((await image(bearerHeader(DEMO.alice.key))).status).toBe(200)
      // 402: ten high-quality portrait images cost Alice more than her remaining credits.
      const tooDear = await image(bearerHeader(DEMO.alice.key), { prompt: "a unicorn", model: "gpt-image-1", quality: "high", size: "1024x1536", n: 10 })
      expect(tooDear.status).toBe(402)
      // 401 four ways: an unknown key, no credentials, an unreadable Authorization header, a JWT naming
      // presenton-service with a wrong signature.
      expect((await image(bearerHeader("sk-not-a-real-key-0000000000"))).status).toBe(401)
      expect((await image({})).status).toBe(401)
      expect((await image({ authorization: "Basic c2VjcmV0" })).status).toBe(401)
      const forged = await new SignJWT({ service: "presenton-service" })
        .setProtectedHeader({ alg: "HS256" })
        .setIssuedAt()
        .setExpirationTime("10m")
        .sign(new TextEncoder().encode("not-the-presenton-secret"))
      expect((await image(bearerHeader(forged))).status).toBe(401)
      // The service authenticates, then names a user that does not exist: 403 unknown_user.
      expect((await image({ ...presenton, "x-user-id": "00000000-0000-4000-8000-000000000000" })).status).toBe(403)
      // 401s on another route do not count among the generation route's.
      expect((await admin.call("GET", "/usage/analytics", { headers: bearerHeader("adm_not_a_key_000000000000000000000000") })).status).toBe(401)
      expect((await admin.call("GET", "/usage/analytics", { headers: { authorization: "Token x" } })).status).toBe(401)
      await run(AuthFailures.use((f) => f.flush))

      const byService = await analytics({ ...range, bucket: "day", group_by: "service" })
      expect(byService.status).toBe(200)
      const totals = byService.json.totals as Array<Record<string, number>>
      const sum = (field: string) => totals.reduce((n, t) => n + t[field]!, 0)
      expect({
        requests: sum("requests"),
        succeeded: sum("succeeded"),
        images: sum("images"),
        millicredits: sum("millicredits"),
        insufficient_credits: sum("insufficient_credits"),
        unauthorized: sum("unauthorized"),
        service_auth_failures: sum("service_auth_failures"),
        attempts: sum("attempts")
      }).toEqual({
        requests: 4,
        succeeded: 3,
        images: 3,
        // 48 + 48 for the organization, 48 for Alice (professional: 40 × 1.2).
        millicredits: 144_000,
        insufficient_credits: 1,
        unauthorized: 4,
        service_auth_failures: 1,
        attempts: 9
      })
      // Unless the requests straddled midnight UTC, one bucket holds them all.
      const busiest = totals.find((t) => t["attempts"] === 9)
      if (busiest !== undefined) {
        expect(busiest).toMatchObject({ unauthorized_rate: 0.4444, service_auth_failure_rate: 0.1111, insufficient_credits_rate: 0.1111, credits_per_image: 48 })
      }
      expect(byService.json.groups.map((g: any) => [g.key, g.requests, g.millicredits, g.insufficient_credits])).toEqual([
        ["presenton-service", 2, 96_000, 0],
        ["-", 2, 48_000, 1]
      ])
      expect(byService.json.next_cursor).toBeNull()

      const byCredential = await analytics({ ...range, bucket: "month", group_by: "credential" })
      expect(byCredential.json.groups.map((g: any) => [g.key, g.requests])).toEqual([["service_key", 2], ["user_key", 2]])

      // One group per page: the cursor leads to the second, and the second is the last.
      const first = await analytics({ ...range, group_by: "service", limit: 1 })
      expect(first.json.groups.map((g: any) => g.key)).toEqual(["presenton-service"])
      const second = await analytics({ ...range, group_by: "service", limit: 1, cursor: first.json.next_cursor })
      expect(second.json.groups.map((g: any) => g.key)).toEqual(["-"])
      expect(second.json.next_cursor).toBeNull()

      // The forged JWT is put down to the service it names; the unknown key and the missing credential to none.
      const since = now - HOUR
      const until = now + HOUR
      expect(await run(AuthFailureLog.use((l) => l.count(since, until, { route: "generation", kind: "unauthenticated" })))).toBe(4)
      expect(await run(AuthFailureLog.use((l) => l.count(since, until, { service: "presenton-service" })))).toBe(2)
      expect(await run(AuthFailureLog.use((l) => l.count(since, until, { route: "other" })))).toBe(2)
    })

    it("puts a revoked service key's 401 down to its service and key prefix", async () => {
      const created = await admin.call("POST", "/services", {
        body: { name: `analytics-${store}`, organization: { id: `org_analytics_${store}`, name: "Analytics" }, initial_credits: 100 },
        extraHeaders: { "idempotency-key": `analytics-${store}` }
      })
      expect(created.status).toBe(201)
      const key: string = created.json.key.secret
      expect((await admin.call("POST", "/keys/{id}/revoke", { params: { id: created.json.key.id } })).status).toBe(200)
      const start = Date.now()
      expect((await image(bearerHeader(key))).status).toBe(401)
      await run(AuthFailures.use((f) => f.flush))
      expect(await run(AuthFailureLog.use((l) => l.count(start, Date.now() + 1, { service: `analytics-${store}`, kind: "unauthenticated" })))).toBe(1)
    })

    it("refuses bad parameters with 400 naming each", async () => {
      const day = 86_400
      const refusals: ReadonlyArray<readonly [Record<string, string | number>, string, string]> = [
        [{ bucket: "hour" }, "bucket", "invalid_value"],
        [{ group_by: "tier" }, "group_by", "invalid_value"],
        [{ limit: 0 }, "limit", "invalid_value"],
        [{ limit: 101 }, "limit", "invalid_value"],
        [{ limit: "ten" }, "limit", "invalid_value"],
        [{ since: "yesterday" }, "since", "invalid_value"],
        [{ until: "2026-13-45x" }, "until", "invalid_value"],
        [{ since: 1_800_000_000, until: 1_700_000_000 }, "since", "invalid_range"],
        // 367 day buckets; 367 days of weeks are fine.
        [{ since: 1_700_000_000, until: 1_700_000_000 + 367 * day, bucket: "day" }, "since", "invalid_range"],
        [{ cursor: "not-a-cursor" }, "cursor", "invalid_cursor"]
      ]
      for (const [query, param, code] of refusals) expectRefusal(await analytics(query), 400, code, param)
      expect((await analytics({ since: 1_700_000_000, until: 1_700_000_000 + 367 * day, bucket: "week" })).status).toBe(200)
      // Admin keys only.
      expect((await admin.call("GET", "/usage/analytics", { headers: bearerHeader(DEMO.alice.key) })).status).toBe(403)
    })
  })
}
