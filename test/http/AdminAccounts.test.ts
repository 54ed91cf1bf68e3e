import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { AuditLog } from "../../src/application/ports/AuditLog.ts"
import { WORLD } from "../../specs/support/Harness.ts"
import { type AdminClient, type AdminRequest, expectRefusal, fresh, freshOrg, makeAdminClient } from "./support/AdminHttp.ts"
import { balances, bearerHeader, generate, http, startGateway, type TestGateway } from "./support/HttpHarness.ts"

let gateway: TestGateway
let admin: AdminClient
beforeAll(async () => {
  gateway = await startGateway()
  admin = await makeAdminClient(gateway.origin)
})
afterAll(() => gateway.close())

const call = (method: string, template: string, request?: AdminRequest) => admin.call(method, template, request)
const withKey = (key: string) => ({ "idempotency-key": key })

const accountOf = async (id: string) => (await call("GET", "/accounts/{account_id}", { params: { account_id: id } })).json
const successfulAdminActions = async () =>
  (await gateway.run(AuditLog.use((log) => log.list({ kind: "admin", limit: 10_000 })))).filter((e) => e.outcome === "ok").length

/** Balances, users, organizations and the admin actions that succeeded: what a refused request must leave as it was. */
const state = async () => ({
  balances: await gateway.run(balances),
  users: (await call("GET", "/users", { query: { limit: 500 } })).json,
  organizations: (await call("GET", "/organizations", { query: { limit: 500 } })).json,
  actions: await successfulAdminActions()
})

/** A new service with an organization of `credits`, and its key. */
const newService = async (credits = 1000) => {
  const name = fresh("acct")
  const org = freshOrg("acct")
  const created = await call("POST", "/services", { body: { name, organization: { id: org }, initial_credits: credits } })
  return { name, org, key: bearerHeader(created.json.key.secret as string) }
}

describe("users", () => {
  it("creates a user with a tier, a billing organization, a monthly cap and a first grant", async () => {
    const org = freshOrg("users")
    await call("POST", "/organizations", { body: { id: org, name: "Users' org" } })
    const id = crypto.randomUUID()
    const r = await call("POST", "/users", { body: { id: id.toUpperCase(), tier: "professional", billing_org: org, monthly_cap: 100.5, initial_credits: 50 } })
    expect(r.status).toBe(201)
    expect(r.json).toMatchObject({
      id,
      object: "user",
      status: "active",
      tier: "professional",
      billing_org: org,
      monthly_cap: 100.5,
      monthly_cap_millicredits: 100_500,
      account: { id, type: "user", balance: 50, balance_millicredits: 50_000, monthly_cap_millicredits: 100_500 }
    })
    const generated = await call("POST", "/users", { body: {} })
    expect(generated.json.id).toMatch(/^[0-9a-f-]{36}$/)
    expect(generated.json).toMatchObject({ tier: "free", billing_org: null, monthly_cap: null, account: { balance_millicredits: 0 } })
  })

  it("refuses bad input naming the field, with nothing created", async () => {
    const before = await state()
    const cases: ReadonlyArray<readonly [unknown, number, string, string | null]> = [
      [{ id: "alice" }, 400, "invalid_value", "id"],
      [{ id: WORLD.alice.id }, 409, "user_exists", null],
      [{ tier: "Platinum" }, 400, "invalid_tier", "tier"],
      [{ tier: 3 }, 400, "invalid_value", "tier"],
      [{ billing_org: "org_nobody_at_all" }, 404, "organization_not_found", null],
      [{ billing_org: "acme" }, 400, "invalid_value", "billing_org"],
      [{ monthly_cap: 0 }, 400, "invalid_amount", "monthly_cap"],
      [{ initial_credits: "lots" }, 400, "invalid_amount", "initial_credits"],
      [{ initial_credits: true }, 400, "invalid_value", "initial_credits"]
    ]
    for (const [body, status, code, param] of cases) expectRefusal(await call("POST", "/users", { body }), status, code, param)
    expect(await state()).toEqual(before)
  })

  it("lists users in id order, a page at a time", async () => {
    for (let i = 0; i < 3; i++) await call("POST", "/users", { body: {} })
    const all = (await call("GET", "/users", { query: { limit: 500 } })).json
    expect(all.next_cursor).toBeNull()
    const ids: Array<string> = all.data.map((u: { id: string }) => u.id)
    expect(ids).toEqual([...ids].sort())
    const first = await call("GET", "/users", { query: { limit: 2 } })
    expect(first.json.data.map((u: { id: string }) => u.id)).toEqual(ids.slice(0, 2))
    expect(first.json.next_cursor).toBe(ids[1])
    const second = await call("GET", "/users", { query: { limit: 2, after: first.json.next_cursor } })
    expect(second.json.data.map((u: { id: string }) => u.id)).toEqual(ids.slice(2, 4))
    expectRefusal(await call("GET", "/users", { query: { limit: 0 } }), 400, "invalid_value", "limit")
    expectRefusal(await call("GET", "/users", { query: { limit: "ten" } }), 400, "invalid_value", "limit")
  })

  it("shows a user, and refuses unknown and malformed ids", async () => {
    expect((await call("GET", "/users/{id}", { params: { id: WORLD.alice.id } })).json).toMatchObject({
      id: WORLD.alice.id,
      tier: "professional",
      account: { balance_millicredits: 1_000_000 }
    })
    expectRefusal(await call("GET", "/users/{id}", { params: { id: WORLD.ghost } }), 404, "user_not_found")
    expectRefusal(await call("GET", "/users/{id}", { params: { id: "alice" } }), 400, "invalid_value", "id")
  })

  it("suspends and reactivates a user, and changes its tier, cap and membership (null removes)", async () => {
    const user = (await call("POST", "/users", { body: { initial_credits: 100, monthly_cap: 10, billing_org: WORLD.acme.id } })).json
    const key = bearerHeader((await call("POST", "/users/{id}/keys", { params: { id: user.id }, body: {} })).json.secret)
    const suspended = await call("PATCH", "/users/{id}", { params: { id: user.id }, body: { status: "suspended" } })
    expect(suspended.json.status).toBe("suspended")
    expectRefusal(await generate(gateway.origin, key), 403, "account_suspended")
    const changed = await call("PATCH", "/users/{id}", {
      params: { id: user.id },
      body: { status: "active", tier: "starter", monthly_cap: null, billing_org: null }
    })
    expect(changed.json).toMatchObject({ status: "active", tier: "starter", monthly_cap: null, billing_org: null })
    expect((await generate(gateway.origin, key)).status).toBe(200)

    const before = await state()
    expectRefusal(await call("PATCH", "/users/{id}", { params: { id: user.id }, body: { status: "deleted" } }), 400, "invalid_value", "status")
    expectRefusal(await call("PATCH", "/users/{id}", { params: { id: user.id }, body: { monthly_cap: -1 } }), 400, "invalid_amount", "monthly_cap")
    expectRefusal(await call("PATCH", "/users/{id}", { params: { id: user.id }, body: { billing_org: "org_nobody_at_all" } }), 404, "organization_not_found")
    expectRefusal(await call("PATCH", "/users/{id}", { params: { id: WORLD.ghost }, body: { tier: "free" } }), 404, "user_not_found")
    expect(await state()).toEqual(before)
  })
})

describe("organizations", () => {
  it("creates, lists, shows and updates an organization", async () => {
    const id = freshOrg("orgs")
    const created = await call("POST", "/organizations", {
      body: { id, name: "Orgs Ltd", tier: "enterprise", bills_members: true, monthly_cap: 5000, initial_credits: 2500.25 }
    })
    expect(created.status).toBe(201)
    expect(created.json).toMatchObject({
      id,
      object: "organization",
      name: "Orgs Ltd",
      tier: "enterprise",
      bills_members: true,
      monthly_cap_millicredits: 5_000_000,
      account: { type: "org", balance_millicredits: 2_500_250 }
    })
    const listed = (await call("GET", "/organizations", { query: { limit: 500 } })).json
    expect(listed.data.some((o: { id: string }) => o.id === id)).toBe(true)
    expect((await call("GET", "/organizations/{id}", { params: { id } })).json.name).toBe("Orgs Ltd")
    const updated = await call("PATCH", "/organizations/{id}", {
      params: { id },
      body: { name: "Orgs Limited", tier: "managed", bills_members: false, monthly_cap: null }
    })
    expect(updated.json).toMatchObject({ name: "Orgs Limited", tier: "managed", bills_members: false, monthly_cap: null })
  })

  it("refuses bad input naming the field, with nothing created or changed", async () => {
    const before = await state()
    const cases: ReadonlyArray<readonly [unknown, number, string, string | null]> = [
      [{ name: "No id" }, 400, "missing_required_parameter", "id"],
      [{ id: "acme", name: "Acme" }, 400, "invalid_value", "id"],
      [{ id: freshOrg("orgs") }, 400, "missing_required_parameter", "name"],
      [{ id: freshOrg("orgs"), name: "  " }, 400, "invalid_name", "name"],
      [{ id: freshOrg("orgs"), name: "X", bills_members: "yes" }, 400, "invalid_value", "bills_members"],
      [{ id: freshOrg("orgs"), name: "X", initial_credits: 0 }, 400, "invalid_amount", "initial_credits"],
      [{ id: WORLD.acme.id, name: "Acme again" }, 409, "organization_exists", null]
    ]
    for (const [body, status, code, param] of cases) expectRefusal(await call("POST", "/organizations", { body }), status, code, param)
    expectRefusal(await call("PATCH", "/organizations/{id}", { params: { id: WORLD.acme.id }, body: { tier: "Gold" } }), 400, "invalid_tier", "tier")
    expectRefusal(await call("PATCH", "/organizations/{id}", { params: { id: "org_nobody_at_all" }, body: { name: "X" } }), 404, "organization_not_found")
    expectRefusal(await call("GET", "/organizations/{id}", { params: { id: "org_nobody_at_all" } }), 404, "organization_not_found")
    expectRefusal(await call("GET", "/organizations/{id}", { params: { id: "ACME" } }), 400, "invalid_value", "id")
    expect(await state()).toEqual(before)
  })
})

describe("credits", () => {
  it("grants with exactly {credits, reason}: 201 with the transfer and the balance it left, in credits and millicredits", async () => {
    const { org } = await newService(10)
    const r = await call("POST", "/accounts/{account_id}/grants", { params: { account_id: org }, body: { credits: 1000, reason: "invoice 2026-117" } })
    expect(r.status).toBe(201)
    expect(r.json).toMatchObject({
      object: "transfer",
      kind: "grant",
      from: "system:issuance",
      to: org,
      credits: 1000,
      millicredits: 1_000_000,
      reason: "invoice 2026-117",
      account: { id: org, balance: 1010, balance_millicredits: 1_010_000, available_millicredits: 1_010_000 }
    })
    expect(r.json.created).toBeCloseTo(Date.now() / 1000, -1)
    // Decimals are exact, as a number or as text.
    await call("POST", "/accounts/{account_id}/grants", { params: { account_id: org }, body: { credits: 0.125, reason: "a fraction" } })
    await call("POST", "/accounts/{account_id}/grants", { params: { account_id: org }, body: { credits: "2.875", reason: "as text" } })
    expect((await accountOf(org)).balance_millicredits).toBe(1_013_000)
    // A user account is named by its UUID, in any case.
    const alice = await call("POST", "/accounts/{account_id}/grants", {
      params: { account_id: WORLD.carol.id.toUpperCase() },
      body: { credits: 1, reason: "goodwill" }
    })
    expect(alice.json.to).toBe(WORLD.carol.id)
  })

  it("refuses a bad grant naming the field, moving nothing", async () => {
    const { org } = await newService(10)
    const grant = (account_id: string, body: unknown) => call("POST", "/accounts/{account_id}/grants", { params: { account_id }, body })
    const before = await state()
    expectRefusal(await grant(org, { credits: 1000.0001, reason: "r" }), 400, "invalid_amount", "credits")
    expectRefusal(await grant(org, { credits: 0, reason: "r" }), 400, "invalid_amount", "credits")
    expectRefusal(await grant(org, { credits: -5, reason: "r" }), 400, "invalid_amount", "credits")
    expectRefusal(await grant(org, { credits: "1e400", reason: "r" }), 400, "invalid_amount", "credits")
    expectRefusal(await grant(org, { credits: [1], reason: "r" }), 400, "invalid_value", "credits")
    expectRefusal(await grant(org, { reason: "r" }), 400, "missing_required_parameter", "credits")
    expectRefusal(await grant(org, { credits: 5 }), 400, "missing_required_parameter", "reason")
    expectRefusal(await grant(org, { credits: 5, reason: "   " }), 400, "invalid_reason", "reason")
    expectRefusal(await grant(org, { credits: 5, reason: "r".repeat(501) }), 400, "invalid_reason", "reason")
    expectRefusal(await grant(WORLD.ghost, { credits: 5, reason: "r" }), 404, "account_not_found")
    expectRefusal(await grant("org_nobody_at_all", { credits: 5, reason: "r" }), 404, "account_not_found")
    expectRefusal(await grant("acme", { credits: 5, reason: "r" }), 400, "invalid_account_id", "account_id")
    expectRefusal(await grant("system:issuance", { credits: 5, reason: "r" }), 400, "invalid_account_id", "account_id")
    expect(await state()).toEqual(before)
  })

  it("shows an account: balance, pending, available, this month's spend, tier and cap", async () => {
    const { org, key } = await newService(1000)
    await generate(gateway.origin, key)
    expect(await accountOf(org)).toEqual({
      id: org,
      object: "account",
      type: "org",
      tier: "managed",
      balance: 952,
      balance_millicredits: 952_000,
      pending: 0,
      pending_millicredits: 0,
      available: 952,
      available_millicredits: 952_000,
      spent_this_month: 48,
      spent_this_month_millicredits: 48_000,
      monthly_cap: null,
      monthly_cap_millicredits: null,
      low_balance_alert: { threshold: 1000, threshold_millicredits: 1_000_000, default: true, state: "armed" }
    })
    expectRefusal(await call("GET", "/accounts/{account_id}", { params: { account_id: WORLD.ghost } }), 404, "account_not_found")
    expectRefusal(await call("GET", "/accounts/{account_id}", { params: { account_id: "nobody" } }), 400, "invalid_account_id", "account_id")
  })

  it("pages an account's journal, newest first, by its cursor", async () => {
    const { org } = await newService(1)
    for (const credits of [2, 3, 4]) {
      await call("POST", "/accounts/{account_id}/grants", { params: { account_id: org }, body: { credits, reason: `grant ${credits}` } })
    }
    const first = await call("GET", "/accounts/{account_id}/transfers", { params: { account_id: org }, query: { limit: 2 } })
    expect(first.json.data.map((t: { credits: number }) => t.credits)).toEqual([4, 3])
    expect(first.json.next_cursor).toBe(first.json.data[1].seq)
    const rest = await call("GET", "/accounts/{account_id}/transfers", {
      params: { account_id: org },
      query: { limit: 2, before: first.json.next_cursor }
    })
    expect(rest.json.data.map((t: { credits: number; reason: string }) => [t.credits, t.reason]))
      .toEqual([[2, "grant 2"], [1, `initial allocation for ${rest.json.data[1].reason.split(" ").at(-1)}`]])
    // A full page may have a next one; the page after the last is empty and says so.
    const end = await call("GET", "/accounts/{account_id}/transfers", {
      params: { account_id: org },
      query: { limit: 2, before: rest.json.next_cursor ?? 1 }
    })
    expect(end.json).toEqual({ object: "list", data: [], next_cursor: null })
    expectRefusal(await call("GET", "/accounts/{account_id}/transfers", { params: { account_id: org }, query: { limit: 501 } }), 400, "invalid_value", "limit")
    expectRefusal(await call("GET", "/accounts/{account_id}/transfers", { params: { account_id: org }, query: { before: "x" } }), 400, "invalid_value", "before")
    expectRefusal(await call("GET", "/accounts/{account_id}/transfers", { params: { account_id: WORLD.ghost } }), 404, "account_not_found")
  })

  it("refunds (part of) a charge to its payer, and refuses what is not refundable", async () => {
    const { org, key } = await newService(1000)
    await generate(gateway.origin, key)
    const journal = (await call("GET", "/accounts/{account_id}/transfers", { params: { account_id: org } })).json.data
    const charge = journal.find((t: { kind: string }) => t.kind === "settle")
    expect(charge).toMatchObject({ from: org, to: "system:revenue", millicredits: 48_000 })
    const refund = (transfer_id: string, body: unknown) => call("POST", "/transfers/{transfer_id}/refunds", { params: { transfer_id }, body })

    const part = await refund(charge.id, { credits: 8.5, reason: "blurry image" })
    expect(part.status).toBe(201)
    expect(part.json).toMatchObject({ kind: "refund", from: "system:revenue", to: org, millicredits: 8_500, refund_of: charge.id, account: { id: org, balance_millicredits: 960_500 } })
    const before = await state()
    expectRefusal(await refund(charge.id, { credits: 40, reason: "more than is left" }), 400, "refund_exceeds_transfer", "credits")
    expectRefusal(await refund(charge.id, { credits: 1 }), 400, "missing_required_parameter", "reason")
    expectRefusal(await refund(charge.id, { credits: 0.0001, reason: "r" }), 400, "invalid_amount", "credits")
    const grantId = journal.find((t: { kind: string }) => t.kind === "grant").id
    expectRefusal(await refund(grantId, { reason: "not a charge" }), 400, "not_refundable", "transfer_id")
    expectRefusal(await refund("settle:nothing", { reason: "r" }), 404, "transfer_not_found")
    expect(await state()).toEqual(before)

    // Without an amount: all that is left.
    const rest = await refund(charge.id, { reason: "the rest" })
    expect(rest.json).toMatchObject({ millicredits: 39_500, account: { balance_millicredits: 1_000_000 } })
    expectRefusal(await refund(charge.id, { reason: "again" }), 400, "refund_exceeds_transfer", "credits")
  })
})

describe("Idempotency-Key", () => {
  it("a grant sent twice with one key is granted once; the replay answers the same body with Idempotent-Replayed", async () => {
    const { org } = await newService(10)
    const body = { credits: 1000, reason: "invoice 7" }
    const first = await call("POST", "/accounts/{account_id}/grants", { params: { account_id: org }, body, extraHeaders: withKey(`grant-${org}`) })
    const again = await call("POST", "/accounts/{account_id}/grants", { params: { account_id: org }, body, extraHeaders: withKey(`grant-${org}`) })
    expect(first.status).toBe(201)
    expect(first.headers.get("idempotent-replayed")).toBeNull()
    expect(again.status).toBe(201)
    expect(again.headers.get("idempotent-replayed")).toBe("true")
    expect(again.json).toEqual(first.json)
    expect((await accountOf(org)).balance_millicredits).toBe(1_010_000)

    const before = await state()
    const other = await call("POST", "/accounts/{account_id}/grants", {
      params: { account_id: org },
      body: { credits: 2000, reason: "invoice 7" },
      extraHeaders: withKey(`grant-${org}`)
    })
    expectRefusal(other, 409, "idempotency_conflict", "Idempotency-Key")
    expectRefusal(
      await call("POST", "/accounts/{account_id}/grants", { params: { account_id: org }, body, extraHeaders: withKey("k".repeat(256)) }),
      400,
      "invalid_idempotency_key",
      "Idempotency-Key"
    )
    expectRefusal(
      await call("POST", "/accounts/{account_id}/grants", { params: { account_id: org }, body, extraHeaders: withKey("") }),
      400,
      "invalid_idempotency_key",
      "Idempotency-Key"
    )
    expect(await state()).toEqual(before)
  })

  it("a service created twice with one key is created once; the replay does not show the key's secret again", async () => {
    const name = fresh("idem")
    const body = { name, organization: { id: freshOrg("idem") }, initial_credits: 100, jwt_secret: "a-secret-that-is-long-enough" }
    const first = await call("POST", "/services", { body, extraHeaders: withKey(`svc-${name}`) })
    const again = await call("POST", "/services", { body, extraHeaders: withKey(`svc-${name}`) })
    expect(again.status).toBe(201)
    expect(again.headers.get("idempotent-replayed")).toBe("true")
    expect(first.json.key.secret).toMatch(/^sk-/)
    expect(again.json.key).not.toHaveProperty("secret")
    expect(again.text).not.toContain(first.json.key.secret)
    const { secret: _secret, ...key } = first.json.key
    expect(again.json).toEqual({ ...first.json, key })
    const shown = (await call("GET", "/services/{name}", { params: { name } })).json
    expect(shown.keys).toHaveLength(1)
    expect(shown.account.balance_millicredits).toBe(100_000)
    expectRefusal(
      await call("POST", "/services", { body: { ...body, jwt_secret: "another-secret-long-enough" }, extraHeaders: withKey(`svc-${name}`) }),
      409,
      "idempotency_conflict",
      "Idempotency-Key"
    )
  })

  it("users, organizations, keys and refunds replay too", async () => {
    const userBody = { id: crypto.randomUUID(), initial_credits: 100 }
    const userKey = withKey(fresh("user"))
    const user = await call("POST", "/users", { body: userBody, extraHeaders: userKey })
    const userAgain = await call("POST", "/users", { body: userBody, extraHeaders: userKey })
    expect(userAgain.status).toBe(201)
    expect(userAgain.headers.get("idempotent-replayed")).toBe("true")
    expect(userAgain.json).toEqual(user.json)
    const org = freshOrg("idem")
    const orgKey = withKey(fresh("org"))
    const firstOrg = await call("POST", "/organizations", { body: { id: org, name: "Idem", initial_credits: 7 }, extraHeaders: orgKey })
    const againOrg = await call("POST", "/organizations", { body: { id: org, name: "Idem", initial_credits: 7 }, extraHeaders: orgKey })
    expect(againOrg.headers.get("idempotent-replayed")).toBe("true")
    expect(againOrg.json).toEqual(firstOrg.json)
    expect((await accountOf(org)).balance_millicredits).toBe(7_000)

    const issueKey = withKey(fresh("issue"))
    const issued = await call("POST", "/users/{id}/keys", { params: { id: user.json.id }, body: {}, extraHeaders: issueKey })
    const reissued = await call("POST", "/users/{id}/keys", { params: { id: user.json.id }, body: {}, extraHeaders: issueKey })
    expect(reissued.headers.get("idempotent-replayed")).toBe("true")
    expect(reissued.json.id).toBe(issued.json.id)
    expect(reissued.json).not.toHaveProperty("secret")
    expect((await call("GET", "/keys", { query: { user: user.json.id } })).json.data).toHaveLength(1)

    const key = bearerHeader(issued.json.secret)
    await generate(gateway.origin, key)
    const charge = (await call("GET", "/accounts/{account_id}/transfers", { params: { account_id: user.json.id } })).json.data
      .find((t: { kind: string }) => t.kind === "settle")
    const refundKey = withKey(fresh("refund"))
    const refunded = await call("POST", "/transfers/{transfer_id}/refunds", { params: { transfer_id: charge.id }, body: { credits: 1, reason: "r" }, extraHeaders: refundKey })
    const again = await call("POST", "/transfers/{transfer_id}/refunds", { params: { transfer_id: charge.id }, body: { credits: 1, reason: "r" }, extraHeaders: refundKey })
    expect(again.headers.get("idempotent-replayed")).toBe("true")
    expect(again.json.id).toBe(refunded.json.id)
    expect(charge.millicredits).toBe(60_000)
    expect((await accountOf(user.json.id)).balance_millicredits).toBe(100_000 - 60_000 + 1_000)
  })
})

describe("pricing", () => {
  it("shows the pricing and changes it: every amount in credits and millicredits, the change applied to the next request", async () => {
    const shown = await call("GET", "/pricing")
    expect(shown.json).toMatchObject({ object: "pricing", billing_enabled: true, multipliers: { managed: 12000 }, default_multiplier: 12000 })
    expect(shown.json.prices).toContainEqual({ model: "dall-e-3", quality: "standard", size: "1024x1024", credits: 40, millicredits: 40_000 })

    const changed = await call("PATCH", "/pricing", {
      body: { prices: [{ model: "dall-e-3", quality: "standard", size: "1024x1024", credits: 50.5 }], multipliers: { trial: 9000 } }
    })
    expect(changed.json.version).toBe(shown.json.version + 1)
    expect(changed.json.prices).toContainEqual({ model: "dall-e-3", quality: "standard", size: "1024x1024", credits: 50.5, millicredits: 50_500 })
    expect(changed.json.multipliers.trial).toBe(9000)
    const models = (await http(gateway.origin, "/v1/models")).json.data.find((m: { id: string }) => m.id === "dall-e-3")
    expect(models.prices).toContainEqual({ quality: "standard", size: "1024x1024", credits: 50.5 })
    const { org, key } = await newService(1000)
    await generate(gateway.origin, key)
    // 50.5 × 1.2 for a managed organization.
    expect((await accountOf(org)).balance_millicredits).toBe(1_000_000 - 60_600)

    const restored = await call("PATCH", "/pricing", {
      body: { prices: [{ model: "dall-e-3", quality: "standard", size: "1024x1024", credits: 40 }], multipliers: { trial: null } }
    })
    expect(restored.json.prices).toEqual(shown.json.prices)
    expect(restored.json.multipliers).toEqual(shown.json.multipliers)
  })

  it("refuses a bad change naming the field in the API's words, changing nothing", async () => {
    const before = (await call("GET", "/pricing")).json
    const refuse = async (body: unknown, param: string | null, text?: string) => {
      const r = await call("PATCH", "/pricing", { body })
      expectRefusal(r, 400, r.json.error.code, param)
      if (text !== undefined) expect(r.json.error.message).toContain(text)
    }
    await refuse({ prices: [{ model: "dall-e-9", quality: "standard", size: "1024x1024", credits: 1 }] }, "prices[0].model", "prices[0].model")
    await refuse({ prices: [{ model: "dall-e-3", quality: "ultra", size: "1024x1024", credits: 1 }] }, "prices[0].quality")
    await refuse({ prices: [{ model: "dall-e-3", quality: "standard", size: "1024x1024", credits: -1 }] }, "prices[0].credits")
    await refuse({ prices: [{ model: "dall-e-3", quality: "standard", size: "1024x1024" }] }, "prices[0].credits")
    await refuse({ remove_prices: [{ model: "dall-e-3", quality: "hd", size: "256x256" }] }, "remove_prices[0].size")
    await refuse({ multipliers: { managed: 0 } }, "multipliers.managed", "multipliers.managed")
    await refuse({ multipliers: { managed: 1.5 } }, "multipliers.managed")
    await refuse({ multipliers: { "Not A Tier": 10000 } }, "multipliers", "multipliers")
    await refuse({ default_multiplier: "double" }, "default_multiplier")
    await refuse({ credit_exempt: ["Free!"] }, "credit_exempt[0]", "credit_exempt[0]")
    await refuse({ billing_enabled: "no" }, "billing_enabled")
    await refuse({ routes: { "dall-e-3": "nobody" } }, "routes.dall-e-3", "routes.dall-e-3")
    await refuse({ routes: { "dall-e-9": "local" } }, "routes.dall-e-9", "dall-e-9")
    await refuse({}, null, "prices, remove_prices, multipliers, default_multiplier, credit_exempt, billing_enabled or routes")
    expect((await call("GET", "/pricing")).json).toEqual(before)
  })
})

describe("audit and usage", () => {
  it("records each admin action with the admin key, the request id, and the outcome; filters and pages the log", async () => {
    const { org } = await newService(1)
    const requestId = `req-audit-${Date.now()}`
    await call("POST", "/accounts/{account_id}/grants", {
      params: { account_id: org },
      body: { credits: 3, reason: "audited" },
      extraHeaders: { "x-request-id": requestId }
    })
    await call("POST", "/accounts/{account_id}/grants", { params: { account_id: org }, body: { credits: 0.5, reason: "" } })
    const trail = await call("GET", "/audit", { query: { target: `account:${org}` } })
    expect(trail.json.data.map((e: { action: string; outcome: string }) => [e.action, e.outcome]))
      .toEqual([["credits.grant", "InvalidRequest"], ["credits.grant", "ok"]])
    const granted = trail.json.data[1]
    expect(granted).toMatchObject({ object: "audit_entry", kind: "admin", request_id: requestId, target: `account:${org}` })
    const adminKeyId = (await call("GET", "/keys", { query: { owner_kind: "admin" } })).json.data
      .find((k: { owner: { id: string } }) => k.owner.id === "demo").id
    expect(granted.actor).toBe(`key:${adminKeyId}`)

    const page = await call("GET", "/audit", { query: { action: "credits.grant", limit: 1 } })
    expect(page.json.data).toHaveLength(1)
    const next = await call("GET", "/audit", { query: { action: "credits.grant", limit: 1, before: page.json.next_cursor } })
    expect(next.json.data[0].seq).toBeLessThan(page.json.data[0].seq)
    expect((await call("GET", "/audit", { query: { kind: "admin", since: "2000-01-01", until: "2001-01-01" } })).json.data).toEqual([])
    expect((await call("GET", "/audit", { query: { kind: "admin", since: Math.floor(Date.now() / 1000) - 3600 } })).json.data.length).toBeGreaterThan(0)

    expectRefusal(await call("GET", "/audit", { query: { kind: "everything" } }), 400, "invalid_value", "kind")
    expectRefusal(await call("GET", "/audit", { query: { since: "last tuesday" } }), 400, "invalid_value", "since")
    expectRefusal(await call("GET", "/audit", { query: { limit: 0 } }), 400, "invalid_value", "limit")
    expectRefusal(await call("GET", "/audit", { query: { before: -3 } }), 400, "invalid_value", "before")
  })

  it("reports usage per service, payer, model, credential and billing mode; the last 7 days by default", async () => {
    const { name, org, key } = await newService(1000)
    await generate(gateway.origin, key)
    await generate(gateway.origin, { ...key, "x-user-id": WORLD.alice.id })
    const report = (await call("GET", "/usage/report", { query: { top: 1000 } })).json
    expect(report.until - report.since).toBe(7 * 86400)
    expect(report.by_service.find((g: { key: string }) => g.key === name)).toEqual({
      key: name,
      requests: 2,
      succeeded: 2,
      failed: 0,
      images: 2,
      credits: 96,
      millicredits: 96_000,
      credits_per_image: 48
    })
    expect(report.by_payer.find((g: { key: string }) => g.key === org)).toMatchObject({ requests: 1, millicredits: 48_000 })
    expect(report.by_credential.map((g: { key: string }) => g.key)).toEqual(expect.arrayContaining(["service_key", "service_key_on_behalf"]))

    const old = (await call("GET", "/usage/report", { query: { since: "2020-01-01", until: "2020-01-08" } })).json
    expect(old.total).toMatchObject({ requests: 0, millicredits: 0, credits_per_image: null })
    expectRefusal(await call("GET", "/usage/report", { query: { since: "2020-01-08", until: "2020-01-01" } }), 400, "invalid_range", "since")
    expectRefusal(await call("GET", "/usage/report", { query: { since: "2020-01-01", until: "2022-01-01" } }), 400, "invalid_range", "since")
    expectRefusal(await call("GET", "/usage/report", { query: { top: 0 } }), 400, "invalid_value", "top")
    expectRefusal(await call("GET", "/usage/report", { query: { until: "someday" } }), 400, "invalid_value", "until")
  })
})
