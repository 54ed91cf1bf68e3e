import { Effect, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { AuditLog } from "../../src/application/ports/AuditLog.ts"
import { Provisioning } from "../../src/application/Provisioning.ts"
import type { UserId } from "../../src/domain/Ids.ts"
import { serviceJwt, WORLD } from "../../specs/support/Harness.ts"
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
const json = { "content-type": "application/json" }

/** The admin actions recorded so far (credential uses aside). */
const adminAudit = () => gateway.run(AuditLog.use((log) => log.list({ kind: "admin", limit: 10_000 })))

/**
 * What an admin request could change: balances, services, keys, users, organizations, pricing,
 * and the admin actions that succeeded (a refused action that reached the core is audited too,
 * as refused); not when credentials were last used.
 */
const state = async () => {
  // A credential's last use moves with every request, refused ones included: not a change made.
  const read = async (template: string) =>
    JSON.parse((await call("GET", template)).text, (key, value) => (key === "last_used_at" ? undefined : value))
  return {
    balances: await gateway.run(balances),
    audit: (await adminAudit()).filter((e) => e.outcome === "ok").length,
    services: await read("/services"),
    keys: await read("/keys"),
    users: await read("/users"),
    organizations: await read("/organizations"),
    pricing: await read("/pricing")
  }
}

const sessionOf = async (user: UserId) => {
  const token = await gateway.run(Provisioning.use((p) => p.createSession(user, 60_000)))
  return { cookie: `session_token=${Redacted.value(token)}` }
}

describe("admin credentials, both ways", () => {
  /** Every admin operation, with input that would succeed for an admin key. */
  const everyOperation = async (): Promise<ReadonlyArray<readonly [string, string, AdminRequest]>> => {
    const keyId = (await call("GET", "/keys", { query: { service: WORLD.presenton } })).json.data[0].id
    return [
      ["POST", "/services", { body: { name: fresh("refused"), organization: { id: freshOrg("refused") }, initial_credits: 10 } }],
      ["GET", "/services", {}],
      ["GET", "/services/{name}", { params: { name: WORLD.presenton } }],
      ["PATCH", "/services/{name}", { params: { name: "bolt-diy-service" }, body: { user_id_policy: "required" } }],
      ["POST", "/services/{name}/deactivate", { params: { name: "brigade-service" } }],
      ["POST", "/services/{name}/keys", { params: { name: WORLD.presenton }, body: {} }],
      ["POST", "/services/{name}/keys/rotate", { params: { name: WORLD.presenton }, body: { overlap_seconds: 60 } }],
      ["POST", "/users/{id}/keys", { params: { id: WORLD.alice.id }, body: {} }],
      ["POST", "/admin-keys", { body: { name: "intruder" } }],
      ["POST", "/keys/import", { body: { admin: "intruder", key: "adm_intruder_literal_key" } }],
      ["POST", "/keys/{id}/revoke", { params: { id: keyId } }],
      ["POST", "/keys/{id}/deprecate", { params: { id: keyId }, body: { sunset: "2030-01-01" } }],
      ["GET", "/keys", {}],
      ["POST", "/users", { body: { initial_credits: 5 } }],
      ["GET", "/users", {}],
      ["GET", "/users/{id}", { params: { id: WORLD.alice.id } }],
      ["PATCH", "/users/{id}", { params: { id: WORLD.alice.id }, body: { status: "suspended" } }],
      ["POST", "/organizations", { body: { id: freshOrg("refused"), name: "Refused" } }],
      ["GET", "/organizations", {}],
      ["GET", "/organizations/{id}", { params: { id: WORLD.acme.id } }],
      ["PATCH", "/organizations/{id}", { params: { id: WORLD.acme.id }, body: { tier: "free" } }],
      ["POST", "/accounts/{account_id}/grants", { params: { account_id: WORLD.alice.id }, body: { credits: 1000, reason: "not allowed" } }],
      ["GET", "/accounts/{account_id}", { params: { account_id: WORLD.alice.id } }],
      ["GET", "/accounts/{account_id}/transfers", { params: { account_id: WORLD.alice.id } }],
      ["POST", "/transfers/{transfer_id}/refunds", { params: { transfer_id: "settle:any" }, body: { reason: "not allowed" } }],
      ["GET", "/pricing", {}],
      ["PATCH", "/pricing", { body: { billing_enabled: false } }],
      ["GET", "/audit", {}],
      ["GET", "/usage/report", {}],
      ["GET", "/usage/analytics", {}],
      ["GET", "/alerts", {}],
      ["PUT", "/accounts/{account_id}/alert-threshold", { params: { account_id: WORLD.alice.id }, body: { credits: 5 } }]
    ]
  }

  it("the document lists every admin operation above, each behind the admin key alone", async () => {
    const operations = await everyOperation()
    const documented = Object.entries(admin.document.paths as Record<string, Record<string, any>>)
      .filter(([path]) => path.startsWith("/api/v1/admin/"))
      .flatMap(([path, ops]) => Object.entries(ops).map(([method, op]) => ({ path, method, security: op.security })))
    expect(documented.map((d) => `${d.method.toUpperCase()} ${d.path}`).sort())
      .toEqual(operations.map(([method, template]) => `${method} /api/v1/admin${template}`).sort())
    for (const d of documented) expect(d.security).toEqual([{ adminKey: [] }])
    expect(admin.document.components.securitySchemes.adminKey).toMatchObject({ type: "http", scheme: "bearer" })
  })

  it("refuses service keys, service JWTs, user keys and sessions (403 admin_required) and unknown or absent credentials (401) on every admin operation, changing nothing", async () => {
    const operations = await everyOperation()
    const credentials: ReadonlyArray<readonly [string, Record<string, string>, number, string]> = [
      ["service key", bearerHeader(WORLD.presentonKey), 403, "admin_required"],
      ["service JWT", bearerHeader(await Effect.runPromise(serviceJwt({}))), 403, "admin_required"],
      ["user key", bearerHeader(WORLD.alice.key), 403, "admin_required"],
      ["session", await sessionOf(WORLD.carol.id), 403, "admin_required"],
      ["unknown admin key", bearerHeader("adm_not_a_key_of_this_gateway_000000"), 401, "invalid_api_key"],
      ["malformed Authorization", { authorization: "Basic YWRtaW46YWRtaW4=" }, 401, "malformed_authorization"],
      ["no credentials", {}, 401, "missing_credentials"]
    ]
    const before = await state()
    for (const [method, template, request] of operations) {
      for (const [what, headers, status, code] of credentials) {
        const r = await call(method, template, { ...request, headers: { ...headers, ...(request.body === undefined ? {} : json) } })
        expect({ operation: `${method} ${template}`, what, status: r.status, code: r.json.error?.code }).toEqual({
          operation: `${method} ${template}`,
          what,
          status,
          code
        })
        if (status === 403) expect(r.json.error.param).toBe("Authorization")
        // What to send is an admin key, not an image credential.
        if (code === "missing_credentials") expect(r.json.error.message).toContain("admin key (adm_…)")
      }
    }
    expect(await state()).toEqual(before)
  })

  it("refuses an admin key on every image, credits and BYOK endpoint (401, pointing to the admin API), moving no credits", async () => {
    const before = await gateway.run(balances)
    const adminKey = bearerHeader(WORLD.adminKey)
    const refusals = [
      await generate(gateway.origin, adminKey, undefined, "/v1/images/generations"),
      await generate(gateway.origin, adminKey, undefined, "/api/v1/llm/images/generations"),
      await generate(gateway.origin, adminKey, undefined, "/api/v1/llm/image/generations"),
      await http(gateway.origin, "/api/v1/llm/credits", { headers: adminKey }),
      await http(gateway.origin, "/api/v1/llm/credits/history", { headers: adminKey }),
      await http(gateway.origin, "/api/v1/llm/byok/keys", { headers: adminKey }),
      await http(gateway.origin, "/api/v1/llm/byok/keys", {
        headers: { ...adminKey, ...json },
        body: JSON.stringify({ provider: "openai", api_key: "sk-someone-elses-key" })
      }),
      await http(gateway.origin, "/api/v1/llm/byok/keys/byok_demo_bob_openai", {
        method: "PATCH",
        headers: { ...adminKey, ...json },
        body: JSON.stringify({ enabled: false })
      }),
      await http(gateway.origin, "/api/v1/llm/byok/keys/byok_demo_bob_openai", { method: "DELETE", headers: adminKey })
    ]
    for (const r of refusals) {
      expectRefusal(r, 401, "invalid_api_key")
      expect(r.json.error.message).toContain("/api/v1/admin/")
    }
    expect(await gateway.run(balances)).toEqual(before)
    expect(gateway.calls.length).toBe(0)
  })

  it("an admin key made through the API works there and nowhere else, until it is revoked", async () => {
    const made = await call("POST", "/admin-keys", { body: { name: "ops@example.com" } })
    expect(made.status).toBe(201)
    expect(made.json).toMatchObject({ object: "api_key", owner: { kind: "admin", id: "ops@example.com" }, status: "active" })
    const secret: string = made.json.secret
    expect(secret).toMatch(/^adm_/)
    const own = bearerHeader(secret)
    expect((await call("GET", "/pricing", { headers: own })).status).toBe(200)
    expectRefusal(await generate(gateway.origin, own), 401, "invalid_api_key")
    expect((await call("POST", "/keys/{id}/revoke", { params: { id: made.json.id } })).json.status).toBe("revoked")
    expectRefusal(await call("GET", "/pricing", { headers: own }), 401, "invalid_api_key")
    // Audited as the key that acted.
    const entry = (await adminAudit()).find((e) => e.action === "key.revoke" && e.target === `key:${made.json.id}`)
    expect(entry?.actor).toMatch(/^key:/)
    expect(entry?.actor).not.toBe(`key:${made.json.id}`)
  })
})

describe("services", () => {
  it("creates a service with its organization, policy, scopes, JWT secret and first grant, and shows its first key once", async () => {
    const name = fresh("svc")
    const org = freshOrg("svc")
    const jwtSecret = "a-jwt-secret-of-32-characters-xx"
    const r = await call("POST", "/services", {
      body: {
        name,
        organization: { id: org, name: "Svc Inc", tier: "enterprise" },
        user_id_policy: "required",
        scopes: ["images:generate", "credits:read"],
        jwt_secret: jwtSecret,
        initial_credits: 10_000.5
      }
    })
    expect(r.status).toBe(201)
    expect(r.json.service).toMatchObject({
      name,
      object: "service",
      organization: org,
      user_id_policy: "required",
      scopes: ["images:generate", "credits:read"],
      jwt_enabled: true,
      active: true,
      account: { id: org, tier: "enterprise", balance: 10_000.5, balance_millicredits: 10_000_500, available_millicredits: 10_000_500 }
    })
    expect(r.json.key).toMatchObject({ object: "api_key", owner: { kind: "service", id: name }, status: "active", legacy: false })
    expect(r.json.key.secret).toMatch(/^sk-/)
    expect(r.json.key.secret.startsWith(r.json.key.prefix)).toBe(true)
    // Neither the JWT secret nor a key's hash ever comes back.
    expect(r.text).not.toContain(jwtSecret)
    expect(r.text).not.toMatch(/"hash"/)

    const shown = await call("GET", "/services/{name}", { params: { name } })
    expect(shown.json).toMatchObject({ name, keys: [{ id: r.json.key.id, prefix: r.json.key.prefix }] })
    expect(shown.text).not.toContain(r.json.key.secret)
    expect(shown.json.keys[0]).not.toHaveProperty("secret")
    const listed = await call("GET", "/services")
    const inList = listed.json.data.find((s: { name: string }) => s.name === name)
    expect(inList).toMatchObject({ organization: org, account: { balance_millicredits: 10_000_500 } })
    expect(inList).not.toHaveProperty("keys")
  })

  it("ignores fields it does not know, at any depth, as the document says", async () => {
    const forbidsUnknown = (schema: unknown): boolean =>
      typeof schema === "object" && schema !== null &&
      ((schema as Record<string, unknown>)["additionalProperties"] === false || Object.values(schema).some(forbidsUnknown))
    const requestSchemas = Object.values(admin.document.paths as Record<string, Record<string, any>>)
      .flatMap((ops) => Object.values(ops))
      .flatMap((op) => Object.values<any>(op.requestBody?.content ?? {}).map((media) => media.schema.$ref as string))
    expect(requestSchemas.length).toBeGreaterThan(10)
    for (const ref of requestSchemas) expect(forbidsUnknown(admin.document.components.schemas[ref.split("/").at(-1)!]), ref).toBe(false)
    const name = fresh("extra")
    const r = await call("POST", "/services", { body: { name, organization: { id: freshOrg("extra"), colour: "blue" }, colour: "red" } })
    expect(r.status).toBe(201)
  })

  it("refuses bad input naming the field, with nothing created", async () => {
    const name = fresh("bad")
    const cases: ReadonlyArray<readonly [unknown, number, string, string | null]> = [
      [{}, 400, "missing_required_parameter", "name"],
      [{ name: "Not A Slug" }, 400, "invalid_value", "name"],
      [{ name: 42 }, 400, "invalid_value", "name"],
      [{ name, organization: {} }, 400, "missing_required_parameter", "organization.id"],
      [{ name, organization: { id: "acme" } }, 400, "invalid_value", "organization.id"],
      [{ name, organization: { id: freshOrg("bad"), tier: "Gold!" } }, 400, "invalid_tier", "organization.tier"],
      [{ name, user_id_policy: "sometimes" }, 400, "invalid_value", "user_id_policy"],
      [{ name, scopes: ["images:generate", "root"] }, 400, "invalid_value", "scopes[1]"],
      [{ name, jwt_secret: "short" }, 400, "invalid_jwt_secret", "jwt_secret"],
      [{ name, initial_credits: 100 }, 400, "organization_required", "initial_credits"],
      [{ name, organization: { id: freshOrg("bad") }, initial_credits: 0.0001 }, 400, "invalid_amount", "initial_credits"],
      [{ name, organization: { id: freshOrg("bad") }, initial_credits: -5 }, 400, "invalid_amount", "initial_credits"],
      [{ name: WORLD.presenton }, 409, "service_exists", null]
    ]
    const before = await state()
    for (const [body, status, code, param] of cases) expectRefusal(await call("POST", "/services", { body }), status, code, param)
    expectRefusal(await call("POST", "/services", { body: "{not json" }), 400, "invalid_json", null)
    expectRefusal(await call("POST", "/services", { body: "[1]" }), 400, "invalid_request_body", "body")
    expectRefusal(
      await call("POST", "/services", { body: JSON.stringify({ name }), extraHeaders: { "content-type": "text/plain" } }),
      415,
      "unsupported_media_type",
      "Content-Type"
    )
    expectRefusal(
      await call("POST", "/services", { body: JSON.stringify({ name, jwt_secret: "x".repeat(2 * 1024 * 1024) }) }),
      413,
      "request_too_large",
      null
    )
    expect(await state()).toEqual(before)
  })

  it("shows a service, and refuses unknown and malformed names", async () => {
    const r = await call("GET", "/services/{name}", { params: { name: WORLD.presenton } })
    expect(r.json).toMatchObject({
      name: WORLD.presenton,
      organization: WORLD.presentonOrg,
      jwt_enabled: true,
      account: { object: "account", type: "org", tier: "managed" }
    })
    expect(r.json.keys.some((k: { legacy: boolean; prefix: string }) => k.legacy && WORLD.presentonKey.startsWith(k.prefix))).toBe(true)
    expectRefusal(await call("GET", "/services/{name}", { params: { name: "no-such-service" } }), 404, "service_not_found")
    expectRefusal(await call("GET", "/services/{name}", { params: { name: "Bad_Name" } }), 400, "invalid_value", "name")
  })

  it("updates a service's policy, scopes, JWT secret and organization; null restores every scope and removes the secret", async () => {
    const name = fresh("upd")
    const org = freshOrg("upd")
    const other = freshOrg("upd-other")
    await call("POST", "/services", { body: { name, organization: { id: org }, scopes: ["credits:read"] } })
    await call("POST", "/organizations", { body: { id: other, name: "Other" } })
    const changed = await call("PATCH", "/services/{name}", {
      params: { name },
      body: { user_id_policy: "forbidden", scopes: null, jwt_secret: "another-secret-of-enough-length", organization_id: other }
    })
    expect(changed.status).toBe(200)
    expect(changed.json).toMatchObject({ user_id_policy: "forbidden", scopes: null, jwt_enabled: true, organization: other })
    expect(changed.text).not.toContain("another-secret-of-enough-length")
    const removed = await call("PATCH", "/services/{name}", { params: { name }, body: { jwt_secret: null } })
    expect(removed.json.jwt_enabled).toBe(false)

    const before = await state()
    expectRefusal(await call("PATCH", "/services/{name}", { params: { name }, body: { organization_id: "org_nobody_here" } }), 404, "organization_not_found")
    expectRefusal(await call("PATCH", "/services/{name}", { params: { name }, body: { scopes: ["nope"] } }), 400, "invalid_value", "scopes[0]")
    expectRefusal(await call("PATCH", "/services/{name}", { params: { name }, body: { jwt_secret: "short" } }), 400, "invalid_jwt_secret", "jwt_secret")
    expectRefusal(await call("PATCH", "/services/{name}", { params: { name: "no-such-service" }, body: {} }), 404, "service_not_found")
    expect(await state()).toEqual(before)
  })

  it("deactivates a service: its keys stop working at once", async () => {
    const name = fresh("off")
    const created = await call("POST", "/services", { body: { name, organization: { id: freshOrg("off") }, initial_credits: 100 } })
    const key = bearerHeader(created.json.key.secret)
    expect((await generate(gateway.origin, key)).status).toBe(200)
    const off = await call("POST", "/services/{name}/deactivate", { params: { name } })
    expect(off.json).toMatchObject({ name, active: false })
    expectRefusal(await generate(gateway.origin, key), 401, "invalid_api_key")
    expectRefusal(await call("POST", "/services/{name}/deactivate", { params: { name: "no-such-service" } }), 404, "service_not_found")
  })
})

describe("keys", () => {
  const newService = async (credits = 1000) => {
    const name = fresh("keys")
    const created = await call("POST", "/services", { body: { name, organization: { id: freshOrg("keys") }, initial_credits: credits } })
    return { name, first: created.json.key as { id: string; secret: string; prefix: string } }
  }

  it("issues a service key, shown once, narrowed to its scopes and with an expiry", async () => {
    const { name } = await newService()
    const narrowed = await call("POST", "/services/{name}/keys", { params: { name }, body: { scopes: ["credits:read"], expires_at: "2099-01-01" } })
    expect(narrowed.status).toBe(201)
    expect(narrowed.json).toMatchObject({ owner: { kind: "service", id: name }, scopes: ["credits:read"], expires_at: Date.UTC(2099, 0, 1) / 1000 })
    expectRefusal(await generate(gateway.origin, bearerHeader(narrowed.json.secret)), 403, "scope_denied")
    expect((await http(gateway.origin, "/api/v1/llm/credits", { headers: bearerHeader(narrowed.json.secret) })).status).toBe(200)

    const before = await state()
    expectRefusal(await call("POST", "/services/{name}/keys", { params: { name }, body: { expires_at: 1_000_000 } }), 400, "invalid_expiry", "expires_at")
    expectRefusal(await call("POST", "/services/{name}/keys", { params: { name }, body: { expires_at: "soon" } }), 400, "invalid_value", "expires_at")
    expectRefusal(await call("POST", "/services/{name}/keys", { params: { name }, body: { scopes: ["all"] } }), 400, "invalid_value", "scopes[0]")
    expectRefusal(await call("POST", "/services/{name}/keys", { params: { name: "no-such-service" }, body: {} }), 404, "service_not_found")
    expect(await state()).toEqual(before)
  })

  it("rotates a service's keys: a new key shown once, the old ones retiring and still working inside the window, with Deprecation, Sunset and Link", async () => {
    const { name, first } = await newService()
    const rotated = await call("POST", "/services/{name}/keys/rotate", { params: { name }, body: { overlap_seconds: 3600 } })
    expect(rotated.status).toBe(201)
    expect(rotated.json.key.secret).toMatch(/^sk-/)
    expect(rotated.json.retiring.map((k: { id: string }) => k.id)).toEqual([first.id])
    expect(rotated.json.retiring[0]).toMatchObject({ deprecated: true })
    expect(rotated.json.retiring[0]).not.toHaveProperty("secret")

    const old = await generate(gateway.origin, bearerHeader(first.secret))
    expect(old.status).toBe(200)
    expect(old.headers.get("deprecation")).toMatch(/^@\d+$/)
    expect(Date.parse(old.headers.get("sunset")!)).toBeGreaterThan(Date.now())
    expect(old.headers.get("link")).toBe(`</docs/jwt-migration>; rel="deprecation"`)
    // The link serves the README's JWT migration guide.
    const guide = await http(gateway.origin, "/docs/jwt-migration")
    expect(guide.status).toBe(200)
    expect(guide.headers.get("content-type")).toBe("text/markdown; charset=utf-8")
    expect(guide.text).toMatch(/^## JWT migration\n/)
    expect(guide.text).toContain("HS256")
    expect(guide.text).not.toMatch(/\n## (?!JWT migration)/)
    const current = await generate(gateway.origin, bearerHeader(rotated.json.key.secret))
    expect(current.status).toBe(200)
    expect(current.headers.get("deprecation")).toBeNull()

    expectRefusal(await call("POST", "/services/{name}/keys/rotate", { params: { name }, body: {} }), 400, "missing_required_parameter", "overlap_seconds")
    expectRefusal(await call("POST", "/services/{name}/keys/rotate", { params: { name }, body: { overlap_seconds: 31 * 86400 } }), 400, "invalid_overlap", "overlap_seconds")
    expectRefusal(await call("POST", "/services/{name}/keys/rotate", { params: { name }, body: { overlap_seconds: 1.5 } }), 400, "invalid_value", "overlap_seconds")
  })

  it("issues a user key that bills the user, and refuses malformed and unknown users", async () => {
    const user = (await call("POST", "/users", { body: { initial_credits: 100, tier: "professional" } })).json
    const issued = await call("POST", "/users/{id}/keys", { params: { id: user.id }, body: {} })
    expect(issued.status).toBe(201)
    expect(issued.json.owner).toEqual({ kind: "user", id: user.id })
    expect(issued.json.secret).toMatch(/^uc_/)
    const r = await generate(gateway.origin, bearerHeader(issued.json.secret))
    expect(r.status).toBe(200)
    expect((await call("GET", "/accounts/{account_id}", { params: { account_id: user.id } })).json.balance_millicredits).toBe(100_000 - 48_000)
    expectRefusal(await call("POST", "/users/{id}/keys", { params: { id: "not-a-uuid" }, body: {} }), 400, "invalid_value", "id")
    expectRefusal(await call("POST", "/users/{id}/keys", { params: { id: WORLD.ghost }, body: {} }), 404, "user_not_found")
  })

  it("imports a legacy key for exactly one owner; the literal then works, hashed like any key", async () => {
    const { name } = await newService()
    const literal = `sk-legacy-${fresh("lit")}`
    const imported = await call("POST", "/keys/import", { body: { service: name, key: literal } })
    expect(imported.status).toBe(201)
    expect(imported.json).toMatchObject({ owner: { kind: "service", id: name }, legacy: true, status: "active" })
    expect(imported.json).not.toHaveProperty("secret")
    expect(imported.text).not.toContain(literal)
    expect((await generate(gateway.origin, bearerHeader(literal))).status).toBe(200)
    // Importing the same literal for the same owner again changes nothing.
    expect((await call("POST", "/keys/import", { body: { service: name, key: literal } })).json.id).toBe(imported.json.id)

    const before = await state()
    expectRefusal(await call("POST", "/keys/import", { body: { key: "sk-no-owner-given" } }), 400, "missing_required_parameter", "service")
    expectRefusal(await call("POST", "/keys/import", { body: { service: name, user: WORLD.alice.id, key: "sk-two-owners-given" } }), 400, "invalid_value", "user")
    expectRefusal(await call("POST", "/keys/import", { body: { service: name } }), 400, "missing_required_parameter", "key")
    expectRefusal(await call("POST", "/keys/import", { body: { service: name, key: "short" } }), 400, "invalid_key", "key")
    expectRefusal(await call("POST", "/keys/import", { body: { user: "nobody", key: "uc_legacy_literal" } }), 400, "invalid_value", "user")
    expectRefusal(await call("POST", "/keys/import", { body: { admin: "two words", key: "adm_legacy_literal" } }), 400, "invalid_admin_name", "admin")
    expectRefusal(await call("POST", "/keys/import", { body: { user: WORLD.alice.id, key: literal } }), 409, "key_exists")
    expectRefusal(await call("POST", "/keys/import", { body: { service: "no-such-service", key: "sk-orphan-literal" } }), 404, "service_not_found")
    expect(await state()).toEqual(before)
  })

  it("revokes a key (401 at once) and deprecates one (Deprecation and Sunset at the date given)", async () => {
    const { name, first } = await newService()
    const second = (await call("POST", "/services/{name}/keys", { params: { name }, body: {} })).json
    const deprecated = await call("POST", "/keys/{id}/deprecate", { params: { id: second.id }, body: { sunset: "2099-06-30" } })
    expect(deprecated.json).toMatchObject({ id: second.id, deprecated: true, sunset: Date.UTC(2099, 5, 30) / 1000 })
    const warned = await generate(gateway.origin, bearerHeader(second.secret))
    expect(warned.status).toBe(200)
    expect(warned.headers.get("sunset")).toBe(new Date(Date.UTC(2099, 5, 30)).toUTCString())
    expect(warned.headers.get("link")).toMatch(/rel="deprecation"/)

    const revoked = await call("POST", "/keys/{id}/revoke", { params: { id: first.id } })
    expect(revoked.json).toMatchObject({ id: first.id, status: "revoked" })
    expectRefusal(await generate(gateway.origin, bearerHeader(first.secret)), 401, "invalid_api_key")

    expectRefusal(await call("POST", "/keys/{id}/revoke", { params: { id: "key_nothing" } }), 404, "key_not_found")
    expectRefusal(await call("POST", "/keys/{id}/deprecate", { params: { id: second.id }, body: { sunset: "next week" } }), 400, "invalid_value", "sunset")
    expectRefusal(await call("POST", "/keys/{id}/deprecate", { params: { id: second.id }, body: {} }), 400, "missing_required_parameter", "sunset")
    expectRefusal(await call("POST", "/keys/{id}/deprecate", { params: { id: "key_nothing" }, body: { sunset: 4_000_000_000 } }), 404, "key_not_found")
  })

  it("lists keys by owner or owner kind, with prefix, status and last use, never a secret or a hash", async () => {
    const { name, first } = await newService()
    await generate(gateway.origin, bearerHeader(first.secret))
    const own = await call("GET", "/keys", { query: { service: name } })
    expect(own.json.data.map((k: { id: string }) => k.id)).toEqual([first.id])
    expect(own.text).not.toContain(first.secret)
    expect(own.text).not.toMatch(/"hash"/)
    const admins = await call("GET", "/keys", { query: { owner_kind: "admin" } })
    expect(admins.json.data.length).toBeGreaterThan(0)
    expect(admins.json.data.every((k: { owner: { kind: string } }) => k.owner.kind === "admin")).toBe(true)
    const alice = await call("GET", "/keys", { query: { user: WORLD.alice.id } })
    expect(alice.json.data.every((k: { owner: { id: string } }) => k.owner.id === WORLD.alice.id)).toBe(true)
    expect(alice.json.data.length).toBeGreaterThan(0)

    expectRefusal(await call("GET", "/keys", { query: { owner_kind: "robot" } }), 400, "invalid_value", "owner_kind")
    expectRefusal(await call("GET", "/keys", { query: { service: name, user: WORLD.alice.id } }), 400, "invalid_value", "user")
    expectRefusal(await call("GET", "/keys", { query: { owner_kind: "user", service: name } }), 400, "invalid_value", "owner_kind")
    expectRefusal(await call("GET", "/keys", { query: { user: "alice" } }), 400, "invalid_value", "user")
    // A parameter sent twice is refused, naming it.
    expectRefusal(await http(gateway.origin, "/api/v1/admin/keys?service=a&service=b", { headers: bearerHeader(WORLD.adminKey) }), 400, "invalid_value", "service")
  })
})
