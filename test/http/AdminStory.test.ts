import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEMO } from "../../src/DemoData.ts"
import { type AdminClient, type AdminRequest, expectRefusal, makeAdminClient } from "./support/AdminHttp.ts"
import { type DemoGateway, startDemoGateway } from "./support/DemoGateway.ts"
import { bearerHeader, generate } from "./support/HttpHarness.ts"

/**
 * One operator's day on the admin API, on the in-memory store and on PostgreSQL: a new service
 * with 10,000 credits, its key used with and without X-User-ID, the key rotated (the old one
 * still works inside the window, with Deprecation, Sunset and Link), then revoked, a charge
 * refunded, and every step read back from the audit log.
 */

type Gateway = DemoGateway
const startGateway = startDemoGateway

/** Polls `read` until `done` holds, for at most `deadlineMs`; answers the last value read. */
const eventually = async <A>(read: () => Promise<A>, done: (a: A) => boolean, deadlineMs = 10_000): Promise<A> => {
  const until = Date.now() + deadlineMs
  for (;;) {
    const value = await read()
    if (done(value) || Date.now() > until) return value
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

for (const store of ["memory", "postgres"] as const) {
  describe(`an operator's story on the admin API [${store}]`, () => {
    let gateway: Gateway
    let admin: AdminClient
    beforeAll(async () => {
      gateway = await startGateway(store)
      admin = await makeAdminClient(gateway.origin)
    }, 60_000)
    afterAll(() => gateway?.close())

    const call = (method: string, template: string, request?: AdminRequest) => admin.call(method, template, request)
    const step = (id: string) => ({ "x-request-id": `story-${store}-${id}` })
    const balanceOf = async (account: string) =>
      (await call("GET", "/accounts/{account_id}", { params: { account_id: account } })).json.balance_millicredits as number
    const image = (key: string, id: string, user?: string) =>
      generate(gateway.origin, { ...bearerHeader(key), ...step(id), ...(user === undefined ? {} : { "x-user-id": user }) }, undefined, "/v1/images/generations")

    it("creates a service with 10,000 credits, uses, rotates and revokes its key, refunds a charge, and finds every step in the audit log", async () => {
      const since = Math.floor(Date.now() / 1000)
      const org = "org_story_service"

      // 1. A service with its organization and 10,000 credits; its first key is shown once.
      const created = await call("POST", "/services", {
        body: { name: "story-service", organization: { id: org, name: "Story Inc" }, initial_credits: 10_000 },
        extraHeaders: { "idempotency-key": `story-${store}`, ...step("create") }
      })
      expect(created.status).toBe(201)
      expect(created.json.service.account).toMatchObject({ id: org, balance: 10_000, balance_millicredits: 10_000_000 })
      const firstKey: string = created.json.key.secret
      const firstKeyId: string = created.json.key.id

      // 2. Its key without X-User-ID: the organization pays 48 credits (40 × 1.2, tier managed).
      const orgPays = await image(firstKey, "image-org")
      expect(orgPays.status).toBe(200)
      expect(orgPays.headers.get("x-credits-charged")).toBe("48")
      expect(await balanceOf(org)).toBe(9_952_000)

      // 3. With a demo user's X-User-ID: Alice pays, the organization is untouched.
      const aliceBefore = await balanceOf(DEMO.alice.id)
      const alicePays = await image(firstKey, "image-alice", DEMO.alice.id)
      expect(alicePays.status).toBe(200)
      expect(await balanceOf(DEMO.alice.id)).toBe(aliceBefore - 48_000)
      expect(await balanceOf(org)).toBe(9_952_000)

      // 4. Rotation with an hour of overlap: the old key still works, and says it is retiring.
      const rotated = await call("POST", "/services/{name}/keys/rotate", {
        params: { name: "story-service" },
        body: { overlap_seconds: 3600 },
        extraHeaders: step("rotate")
      })
      expect(rotated.status).toBe(201)
      expect(rotated.json.retiring.map((k: { id: string }) => k.id)).toEqual([firstKeyId])
      const newKey: string = rotated.json.key.secret
      const oldStillWorks = await image(firstKey, "image-old-key")
      expect(oldStillWorks.status).toBe(200)
      expect(oldStillWorks.headers.get("deprecation")).toMatch(/^@\d+$/)
      const sunset = Date.parse(oldStillWorks.headers.get("sunset")!)
      expect(sunset).toBeGreaterThan(Date.now() + 3500_000)
      expect(sunset).toBeLessThanOrEqual(Date.now() + 3600_000)
      expect(oldStillWorks.headers.get("link")).toMatch(/^<[^>]+>; rel="deprecation"/)
      const newWorks = await image(newKey, "image-new-key")
      expect(newWorks.status).toBe(200)
      expect(newWorks.headers.get("deprecation")).toBeNull()
      expect(await balanceOf(org)).toBe(9_856_000)

      // 5. Revoked: the old key is refused at once; the new one goes on.
      const revoked = await call("POST", "/keys/{id}/revoke", { params: { id: firstKeyId }, extraHeaders: step("revoke") })
      expect(revoked.json.status).toBe("revoked")
      expectRefusal(await image(firstKey, "image-revoked"), 401, "invalid_api_key")
      expect((await image(newKey, "image-after-revoke")).status).toBe(200)
      expect(await balanceOf(org)).toBe(9_808_000)

      // 6. The first charge refunded in full.
      const journal = (await call("GET", "/accounts/{account_id}/transfers", { params: { account_id: org }, query: { limit: 500 } })).json.data
      const charges = journal.filter((t: { kind: string }) => t.kind === "settle")
      expect(charges).toHaveLength(4)
      const firstCharge = charges.at(-1)
      const refunded = await call("POST", "/transfers/{transfer_id}/refunds", {
        params: { transfer_id: firstCharge.id },
        body: { reason: "story: the first image was wrong" },
        extraHeaders: { "idempotency-key": `story-refund-${store}`, ...step("refund") }
      })
      expect(refunded.status).toBe(201)
      expect(refunded.json).toMatchObject({ kind: "refund", refund_of: firstCharge.id, credits: 48, account: { id: org, balance: 9_856 } })

      // 7. The audit log has every step: the admin actions, by the demo admin key, under their request ids...
      const adminKeyId = (await call("GET", "/keys", { query: { owner_kind: "admin" } })).json.data
        .find((k: { owner: { id: string } }) => k.owner.id === "demo").id
      const actions = (await call("GET", "/audit", { query: { kind: "admin", since, limit: 500 } })).json.data
        .filter((e: { request_id: string | null }) => e.request_id?.startsWith(`story-${store}-`))
        .reverse()
      expect(actions.map((e: { action: string; target: string; outcome: string; actor: string; request_id: string }) => [
        e.action,
        e.target,
        e.outcome,
        e.actor,
        e.request_id
      ])).toEqual([
        ["service.create", "service:story-service", "ok", `key:${adminKeyId}`, `story-${store}-create`],
        ["key.rotate", "service:story-service", "ok", `key:${adminKeyId}`, `story-${store}-rotate`],
        ["key.revoke", `key:${firstKeyId}`, "ok", `key:${adminKeyId}`, `story-${store}-revoke`],
        ["credits.refund", `transfer:${firstCharge.id}`, "ok", `key:${adminKeyId}`, `story-${store}-refund`]
      ])
      // ...and each use of the service's keys, with the key used and the account that paid (written within a second).
      const uses = await eventually(
        async () => (await call("GET", "/audit", { query: { kind: "credential", actor: "story-service", limit: 500 } })).json.data,
        (data: Array<{ request_id: string; key_id: string; payer: string; outcome: string }>) => data.length >= 5
      )
      expect(uses.reverse().map((e) => [
        e.request_id,
        e.key_id,
        e.payer,
        e.outcome
      ])).toEqual([
        [`story-${store}-image-org`, firstKeyId, org, "ok"],
        [`story-${store}-image-alice`, firstKeyId, DEMO.alice.id, "ok"],
        [`story-${store}-image-old-key`, firstKeyId, org, "ok"],
        [`story-${store}-image-new-key`, rotated.json.key.id, org, "ok"],
        [`story-${store}-image-after-revoke`, rotated.json.key.id, org, "ok"]
      ])
      // No secret reaches the audit log.
      const everything = await call("GET", "/audit", { query: { since, limit: 500 } })
      expect(everything.text).not.toContain(firstKey)
      expect(everything.text).not.toContain(newKey)
    }, 60_000)
  })
}
