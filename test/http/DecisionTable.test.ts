import { Effect, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Provisioning } from "../../src/application/Provisioning.ts"
import { DEMO } from "../../src/DemoData.ts"
import type { KeyOwner } from "../../src/domain/Entities.ts"
import type { UserId } from "../../src/domain/Ids.ts"
import { accounts, serviceJwt, WORLD } from "../../specs/support/Harness.ts"
import { isAllowedPrefix, leakedPart, unknownSecret } from "../../specs/support/SecretLeaks.ts"
import {
  balances,
  bearerHeader,
  changedAccounts,
  generate,
  http,
  openAISchemas,
  postedOf,
  schemaErrors,
  startGateway,
  type TestGateway
} from "./support/HttpHarness.ts"

let gateway: TestGateway
beforeAll(async () => {
  gateway = await startGateway()
})
afterAll(() => gateway.close())

const jwt = (claims: Record<string, unknown>, options: Parameters<typeof serviceJwt>[1] = {}) =>
  Effect.runPromise(serviceJwt(claims, options))

const REVENUE = "system:revenue"

interface Row {
  readonly credential: string
  readonly userId: string
  readonly policy: string
  readonly headers: () => Promise<Record<string, string>>
  readonly status: number
  readonly code?: string
  readonly param?: string | null
  /** The account that pays 48 credits (a standard 1024² dall-e-3 image at ×1.2), if any. */
  readonly payer?: string
  readonly message?: string
}

const withUser = (id: string) => ({ "x-user-id": id })
const key = (token: string) => async () => bearerHeader(token)
const keyAndUser = (token: string, user: string) => async () => ({ ...bearerHeader(token), ...withUser(user) })
/** A `session_token` cookie of a new session of `user` (expired when `ttlMs` is negative). */
const session = (user: string, options: { readonly ttlMs?: number; readonly userId?: string } = {}) => async () => {
  const token = await gateway.run(Provisioning.use((p) => p.createSession(user as UserId, options.ttlMs ?? 60_000)))
  return { cookie: `session_token=${Redacted.value(token)}`, ...(options.userId === undefined ? {} : withUser(options.userId)) }
}

/** The secret a request carries: its bearer token, or its session cookie. */
const secretOf = (headers: Record<string, string>): string | undefined =>
  headers["authorization"]?.replace(/^Bearer\s+/i, "") ?? /session_token=([^;]+)/.exec(headers["cookie"] ?? "")?.[1]

/** Everything a response shows: its headers and its body. */
const shownBy = (r: { readonly headers: Headers; readonly text: string }) =>
  [...r.headers].map(([name, value]) => `${name}: ${value}`).join("\n") + "\n" + r.text

/** SPEC §3's decision table, one row (or variant of a row) per case, over HTTP. */
const ROWS: ReadonlyArray<Row> = [
  { credential: "service key", userId: "absent", policy: "optional", headers: key(WORLD.presentonKey), status: 200, payer: accounts.presentonOrg },
  { credential: "service JWT", userId: "absent", policy: "optional", headers: async () => bearerHeader(await jwt({})), status: 200, payer: accounts.presentonOrg },
  {
    credential: "service key",
    userId: "absent",
    policy: "required",
    headers: key(WORLD.strict.key),
    status: 400,
    code: "missing_user_context",
    param: "X-User-ID",
    message: "Service key authentication requires X-User-ID header. Format: X-User-ID: <user-uuid>"
  },
  { credential: "service key", userId: "a valid, active user", policy: "optional", headers: keyAndUser(WORLD.presentonKey, WORLD.alice.id), status: 200, payer: accounts.alice },
  { credential: "service key", userId: "a valid, active user", policy: "required", headers: keyAndUser(WORLD.strict.key, WORLD.alice.id), status: 200, payer: accounts.alice },
  { credential: "service JWT", userId: "a valid, active user", policy: "optional", headers: async () => ({ ...bearerHeader(await jwt({})), ...withUser(WORLD.alice.id) }), status: 200, payer: accounts.alice },
  { credential: "service key", userId: "a member of an organization that bills its members", policy: "optional", headers: keyAndUser(WORLD.presentonKey, WORLD.member.id), status: 200, payer: accounts.acme },
  { credential: "service key", userId: "present", policy: "forbidden", headers: keyAndUser(WORLD.closed.key, WORLD.alice.id), status: 403, code: "user_context_forbidden", param: "X-User-ID" },
  { credential: "service key", userId: "not a UUID", policy: "optional", headers: keyAndUser(WORLD.presentonKey, "presenton-service"), status: 400, code: "invalid_user_id", param: "X-User-ID" },
  { credential: "service key", userId: "not a UUID", policy: "required", headers: keyAndUser(WORLD.strict.key, "42"), status: 400, code: "invalid_user_id", param: "X-User-ID" },
  { credential: "service key", userId: "no such user", policy: "optional", headers: keyAndUser(WORLD.presentonKey, WORLD.ghost), status: 403, code: "unknown_user", param: "X-User-ID" },
  { credential: "service key", userId: "a suspended user", policy: "optional", headers: keyAndUser(WORLD.presentonKey, WORLD.suspended.id), status: 403, code: "account_suspended" },
  { credential: "service JWT with user_id", userId: "absent", policy: "optional", headers: async () => bearerHeader(await jwt({ user_id: WORLD.alice.id })), status: 200, payer: accounts.alice },
  { credential: "service JWT with user_id", userId: "equal", policy: "optional", headers: async () => ({ ...bearerHeader(await jwt({ user_id: WORLD.alice.id })), ...withUser(WORLD.alice.id) }), status: 200, payer: accounts.alice },
  { credential: "service JWT with user_id", userId: "different", policy: "optional", headers: async () => ({ ...bearerHeader(await jwt({ user_id: WORLD.alice.id })), ...withUser(WORLD.carol.id) }), status: 400, code: "conflicting_user_context", param: "X-User-ID" },
  { credential: "service with no organization", userId: "absent", policy: "optional", headers: key(WORLD.orphan.key), status: 500, code: "service_org_not_configured", message: "orphan-service" },
  { credential: "user API key", userId: "absent", policy: "—", headers: key(WORLD.alice.key), status: 200, payer: accounts.alice },
  { credential: "user API key", userId: "equal to own id", policy: "—", headers: keyAndUser(WORLD.alice.key, WORLD.alice.id), status: 200, payer: accounts.alice },
  { credential: "user API key of a billing organization's member", userId: "absent", policy: "—", headers: key(WORLD.member.key), status: 200, payer: accounts.acme },
  {
    credential: "session",
    userId: "absent",
    policy: "—",
    headers: async () => {
      const token = await gateway.run(Provisioning.use((p) => p.createSession(WORLD.carol.id, 60_000)))
      return { cookie: `theme=dark; session_token=${Redacted.value(token)}` }
    },
    status: 200,
    payer: accounts.carol
  },
  { credential: "session", userId: "equal to own id", policy: "—", headers: session(WORLD.carol.id, { userId: WORLD.carol.id }), status: 200, payer: accounts.carol },
  { credential: "session of a billing organization's member", userId: "absent", policy: "—", headers: session(WORLD.member.id), status: 200, payer: accounts.acme },
  { credential: "user API key of a suspended user", userId: "absent", policy: "—", headers: key(WORLD.suspended.key), status: 403, code: "account_suspended", param: null },
  { credential: "session of a suspended user", userId: "absent", policy: "—", headers: session(WORLD.suspended.id), status: 403, code: "account_suspended", param: null },
  { credential: "session of a suspended user", userId: "equal to own id", policy: "—", headers: session(WORLD.suspended.id, { userId: WORLD.suspended.id }), status: 403, code: "account_suspended" },
  { credential: "expired session", userId: "—", policy: "—", headers: session(WORLD.carol.id, { ttlMs: -1 }), status: 401, code: "invalid_session", param: "session_token", message: "expired" },
  { credential: "user API key", userId: "different", policy: "—", headers: keyAndUser(WORLD.alice.key, WORLD.carol.id), status: 403, code: "user_context_forbidden", param: "X-User-ID" },
  {
    credential: "session",
    userId: "different",
    policy: "—",
    headers: async () => {
      const token = await gateway.run(Provisioning.use((p) => p.createSession(WORLD.carol.id, 60_000)))
      return { cookie: `session_token=${Redacted.value(token)}`, ...withUser(WORLD.alice.id) }
    },
    status: 403,
    code: "user_context_forbidden"
  },
  { credential: "unknown key", userId: "—", policy: "—", headers: key("sk-unknown-service-key"), status: 401, code: "invalid_api_key" },
  { credential: "unknown user key", userId: "—", policy: "—", headers: key("uc_unknown_user_key"), status: 401, code: "invalid_api_key" },
  {
    credential: "revoked key",
    userId: "—",
    policy: "—",
    headers: async () => {
      const secret = await gateway.run(Provisioning.use((p) =>
        Effect.gen(function*() {
          const issued = yield* p.issueKey({ _tag: "User", user: WORLD.alice.id })
          yield* p.revokeKey(issued.record.id)
          return Redacted.value(issued.secret)
        })
      ))
      return bearerHeader(secret)
    },
    status: 401,
    code: "invalid_api_key",
    message: "revoked"
  },
  {
    credential: "expired key",
    userId: "—",
    policy: "—",
    headers: async () => {
      const issued = await gateway.run(Provisioning.use((p) => p.issueKey({ _tag: "User", user: WORLD.alice.id }, { expiresAt: 1 })))
      return bearerHeader(Redacted.value(issued.secret))
    },
    status: 401,
    code: "invalid_api_key",
    message: "expired"
  },
  { credential: "JWT with a bad signature", userId: "—", policy: "—", headers: async () => bearerHeader(await jwt({}, { secret: "not-the-secret" })), status: 401, code: "invalid_token" },
  { credential: "JWT signed with alg none", userId: "—", policy: "—", headers: async () => bearerHeader(`${Buffer.from('{"alg":"none"}').toString("base64url")}.${Buffer.from(`{"service":"presenton-service","exp":${Math.floor(Date.now() / 1000) + 60}}`).toString("base64url")}.`), status: 401, code: "invalid_token" },
  { credential: "expired JWT", userId: "—", policy: "—", headers: async () => bearerHeader(await jwt({}, { iat: Math.floor(Date.now() / 1000) - 1000, exp: Math.floor(Date.now() / 1000) - 600 })), status: 401, code: "token_expired" },
  { credential: "unknown session", userId: "—", policy: "—", headers: async () => ({ cookie: "session_token=sess_nope" }), status: 401, code: "invalid_session" },
  { credential: "malformed Authorization", userId: "—", policy: "—", headers: async () => ({ authorization: "Token abc" }), status: 401, code: "malformed_authorization", message: "Authorization: Bearer <token>" },
  { credential: "Authorization: Bearer with no token", userId: "—", policy: "—", headers: async () => ({ authorization: "Bearer" }), status: 401, code: "malformed_authorization" },
  { credential: "none", userId: "—", policy: "—", headers: async () => ({}), status: 401, code: "missing_credentials", message: "session_token" },
  { credential: "none, with X-User-ID", userId: "present", policy: "—", headers: async () => withUser(WORLD.alice.id), status: 401, code: "missing_credentials" },
  { credential: "service key outside its scopes", userId: "absent", policy: "optional", headers: key(WORLD.scoped.key), status: 403, code: "scope_denied" }
]

describe("SPEC §3's decision table over HTTP, with the ledger checked after each row", () => {
  let counter = 0
  it.each(ROWS)("$credential, X-User-ID $userId, policy $policy → $status $code", async (row) => {
    const headers = await row.headers()
    const before = await gateway.run(balances)
    const body = { prompt: `decision table row ${++counter}`, model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 }
    const r = await generate(gateway.origin, headers, body)
    const after = await gateway.run(balances)

    expect(r.status).toBe(row.status)
    expect(r.headers.get("content-type")).toBe("application/json")
    expect(r.headers.get("x-request-id")).toMatch(/^req_/)
    if (row.status === 200) {
      expect(schemaErrors(openAISchemas.imagesResponse, r.json)).toBeUndefined()
      expect(r.json._metadata.billed_to).toBe(row.payer)
      expect(changedAccounts(before, after)).toEqual([row.payer!, REVENUE].sort())
      expect(postedOf(before, row.payer!) - postedOf(after, row.payer!)).toBe(48_000)
      expect(r.headers.get("x-credits-charged")).toBe("48")
      expect(Number(r.headers.get("x-credits-remaining"))).toBe(postedOf(after, row.payer!) / 1000)
    } else {
      expect(schemaErrors(openAISchemas.errorResponse, r.json)).toBeUndefined()
      expect(Object.keys(r.json.error).sort()).toEqual(["code", "message", "param", "type"])
      expect(r.json.error.code).toBe(row.code)
      if (row.param !== undefined) expect(r.json.error.param).toBe(row.param)
      if (row.message !== undefined) expect(r.json.error.message).toContain(row.message)
      expect(changedAccounts(before, after)).toEqual([])
    }
    if (row.status === 500) expect(r.headers.get("x-should-retry")).toBe("false")
    // No secret ever comes back: not the key, not the JWT secret.
    expect(r.text).not.toContain(DEMO.presentonJwtSecret)
    const auth = headers["authorization"]
    if (auth !== undefined && auth.length > 20) expect(r.text).not.toContain(auth.slice(7))
    // A refused credential comes back by at most its first 8 characters.
    const secret = secretOf(headers)
    if (row.status === 401 && secret !== undefined) expect(leakedPart(shownBy(r), secret)).toBeUndefined()
  })

  it("refuses a suspended user's session with exactly the answer the user's key gets, and moves nothing", async () => {
    const before = await gateway.run(balances)
    const bySession = await generate(gateway.origin, await session(WORLD.suspended.id)())
    const byKey = await generate(gateway.origin, bearerHeader(WORLD.suspended.key))
    expect(changedAccounts(before, await gateway.run(balances))).toEqual([])
    expect(bySession.status).toBe(403)
    expect(bySession.json).toEqual(byKey.json)
    expect(bySession.json.error).toMatchObject({ type: "permission_error", code: "account_suspended" })
    for (const header of ["content-type", "x-should-retry", "retry-after"]) {
      expect(bySession.headers.get(header), header).toBe(byKey.headers.get(header))
    }
  })

  describe("a refused key comes back by at most its first 8 characters", () => {
    const issue = (owner: KeyOwner, then: "revoke" | "expire") => async () =>
      gateway.run(Provisioning.use((p) =>
        Effect.gen(function*() {
          const issued = yield* p.issueKey(owner, then === "expire" ? { expiresAt: Date.now() - 1 } : {})
          if (then === "revoke") yield* p.revokeKey(issued.record.id)
          return Redacted.value(issued.secret)
        })
      ))
    const service: KeyOwner = { _tag: "Service", service: WORLD.presenton }
    const user: KeyOwner = { _tag: "User", user: WORLD.alice.id }
    const CASES: ReadonlyArray<{ readonly what: string; readonly secret: () => Promise<string>; readonly state: string }> = [
      { what: "an unknown service key", secret: async () => unknownSecret("sk-"), state: "not recognised" },
      { what: "an unknown user key", secret: async () => unknownSecret("uc_"), state: "not recognised" },
      { what: "an unknown opaque token", secret: async () => unknownSecret(""), state: "not recognised" },
      { what: "a revoked service key", secret: issue(service, "revoke"), state: "revoked" },
      { what: "a revoked user key", secret: issue(user, "revoke"), state: "revoked" },
      { what: "an expired service key", secret: issue(service, "expire"), state: "expired" },
      { what: "an expired user key", secret: issue(user, "expire"), state: "expired" }
    ]
    it.each(CASES)("$what", async ({ secret: make, state }) => {
      const secret = await make()
      const before = await gateway.run(balances)
      const answers = [
        await generate(gateway.origin, bearerHeader(secret)),
        await generate(gateway.origin, bearerHeader(secret), undefined, "/v1/images/generations"),
        await http(gateway.origin, "/api/v1/llm/credits", { headers: bearerHeader(secret) })
      ]
      for (const r of answers) {
        expect(r.status).toBe(401)
        expect(r.json.error).toMatchObject({ type: "authentication_error", code: "invalid_api_key" })
        expect(r.json.error.message).toContain(state)
        const shown = /'([^']*)…'/.exec(r.json.error.message)?.[1]
        expect(shown).toBeDefined()
        expect(isAllowedPrefix(shown!, secret), `shows '${shown}'`).toBe(true)
        expect(leakedPart(shownBy(r), secret)).toBeUndefined()
      }
      expect(changedAccounts(before, await gateway.run(balances))).toEqual([])
    })
  })

  it("a deprecated (rotated) service key still works, with Deprecation and Sunset headers", async () => {
    const issued = await gateway.run(Provisioning.use((p) =>
      Effect.gen(function*() {
        const old = yield* p.issueKey({ _tag: "Service", service: WORLD.presenton })
        yield* p.rotateServiceKey(WORLD.presenton, 3_600_000)
        return Redacted.value(old.secret)
      })
    ))
    const r = await generate(gateway.origin, bearerHeader(issued))
    expect(r.status).toBe(200)
    expect(r.headers.get("deprecation")).toMatch(/^@\d+$/)
    expect(new Date(r.headers.get("sunset")!).getTime()).toBeGreaterThan(Date.now())
    expect(r.headers.get("link")).toContain(`rel="deprecation"`)
    const current = await generate(gateway.origin, bearerHeader(WORLD.alice.key))
    expect(current.headers.get("deprecation")).toBeNull()
  })
})
