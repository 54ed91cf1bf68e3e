import { Effect, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { PrincipalResolver } from "../src/application/PrincipalResolver.ts"
import { type Credentials, resolveAs } from "./support/Calls.ts"
import { Provisioning } from "../src/application/Provisioning.ts"
import type { ApiKeyRecord, KeyOwner, Scope } from "../src/domain/Entities.ts"
import { KeyStore } from "../src/application/ports/KeyStore.ts"
import { ServiceRegistry } from "../src/application/ports/Repositories.ts"
import type { DomainError } from "../src/domain/Errors.ts"
import { wireMessage as describeError } from "../src/adapters/http/ErrorMapping.ts"
import { accountOfOrg, type ServiceName, type UserId } from "../src/domain/Ids.ts"
import type { AdapterSet } from "./support/AdapterSet.ts"
import { accounts, bearer, inWorld, serviceJwt, WORLD } from "./support/Harness.ts"
import { isAllowedPrefix, leakedPart, unknownSecret } from "./support/SecretLeaks.ts"

const resolve = (credentials: Credentials, scope: Scope = "images:generate") => resolveAs(credentials, scope)

const failure = (credentials: Credentials, scope: Scope = "images:generate") =>
  Effect.flip(resolve(credentials, scope)) as Effect.Effect<DomainError, never, PrincipalResolver>

/** The decision table of SPEC §3, row by row. */
export const principalResolverSuite = (adapters: AdapterSet) =>
  describe(`PrincipalResolver [${adapters.name}]`, () => {
    const run = inWorld(adapters)

    describe("a valid service credential", () => {
      it("bills the service's organization when no X-User-ID is sent", () =>
        run(Effect.gen(function*() {
          const p = yield* resolve(bearer(WORLD.presentonKey))
          expect(p.actor).toEqual({ _tag: "Service", service: "presenton-service" })
          expect(p.payer.account).toBe(accounts.presentonOrg)
          expect(p.payer.kind).toBe("org")
          expect(p.payer.tier).toBe("managed")
          expect(p.authMethod).toBe("service_key")
          expect(p.onBehalfOf).toBeUndefined()
        })))

      it("authenticates every registered service without X-User-ID", () =>
        run(Effect.gen(function*() {
          for (const name of ["presenton-service", "bolt-diy-service", "brigade-service", "centerdeep-service"]) {
            const p = yield* resolve(bearer(`sk-${name}-key-2025`))
            expect(p.payer.account).toBe(`org_${name.replaceAll("-", "_")}`)
          }
        })))

      it("explains the X-User-ID header when the service's policy requires it and none is sent", () =>
        run(Effect.gen(function*() {
          const e = yield* failure(bearer(WORLD.strict.key))
          expect(e._tag).toBe("MissingUserContext")
          expect(describeError(e)).toBe(
            "Service key authentication requires X-User-ID header. Format: X-User-ID: <user-uuid>"
          )
        })))

      it("bills the named user when X-User-ID names an active user", () =>
        run(Effect.gen(function*() {
          for (const key of [WORLD.presentonKey, WORLD.strict.key]) {
            const p = yield* resolve({ ...bearer(key), userId: WORLD.alice.id })
            expect(p.payer.account).toBe(accounts.alice)
            expect(p.payer.kind).toBe("user")
            expect(p.payer.tier).toBe("professional")
            expect(p.onBehalfOf).toBe(WORLD.alice.id)
            expect(p.actor._tag).toBe("Service")
          }
        })))

      it("accepts an upper-case user UUID in X-User-ID", () =>
        run(Effect.gen(function*() {
          const p = yield* resolve({ ...bearer(WORLD.presentonKey), userId: WORLD.alice.id.toUpperCase() })
          expect(p.payer.account).toBe(accounts.alice)
        })))

      it("bills a user's organization when that organization bills its members", () =>
        run(Effect.gen(function*() {
          const p = yield* resolve({ ...bearer(WORLD.presentonKey), userId: WORLD.member.id })
          expect(p.payer.account).toBe(accounts.acme)
          expect(p.viaOrg).toBe(WORLD.acme.id)
          expect(p.payer.tier).toBe("enterprise")
        })))

      it("refuses X-User-ID when the service's policy forbids it", () =>
        run(Effect.gen(function*() {
          const e = yield* failure({ ...bearer(WORLD.closed.key), userId: WORLD.alice.id })
          expect(e._tag).toBe("UserContextForbidden")
          expect(describeError(e)).toContain("closed-service")
        })))

      it("still bills the org of a service whose policy forbids X-User-ID when none is sent", () =>
        run(Effect.gen(function*() {
          const p = yield* resolve(bearer(WORLD.closed.key))
          expect(p.payer.account).toBe(accounts.closedOrg)
        })))

      it("rejects an X-User-ID that is not a UUID, naming the header and the format, under any policy", () =>
        run(Effect.gen(function*() {
          for (const key of [WORLD.presentonKey, WORLD.strict.key, WORLD.closed.key]) {
            const e = yield* failure({ ...bearer(key), userId: "presenton-service" })
            expect(e._tag).toBe("InvalidUserId")
            expect(describeError(e)).toContain("X-User-ID")
            expect(describeError(e)).toContain("<user-uuid>")
          }
          const empty = yield* failure({ ...bearer(WORLD.presentonKey), userId: "" })
          expect(empty._tag).toBe("InvalidUserId")
        })))

      it("rejects an X-User-ID of a user that does not exist", () =>
        run(Effect.gen(function*() {
          const e = yield* failure({ ...bearer(WORLD.presentonKey), userId: WORLD.ghost })
          expect(e._tag).toBe("UnknownUser")
        })))

      it("rejects an X-User-ID of a suspended user", () =>
        run(Effect.gen(function*() {
          const e = yield* failure({ ...bearer(WORLD.presentonKey), userId: WORLD.suspended.id })
          expect(e._tag).toBe("AccountSuspended")
        })))

      it("names the service when it has no organization configured, instead of looking up a fake user", () =>
        run(Effect.gen(function*() {
          const e = yield* failure(bearer(WORLD.orphan.key))
          expect(e._tag).toBe("ServiceOrgNotConfigured")
          expect(describeError(e)).toContain("orphan-service")
          // With a user named, the same service works: the user pays.
          const p = yield* resolve({ ...bearer(WORLD.orphan.key), userId: WORLD.alice.id })
          expect(p.payer.account).toBe(accounts.alice)
        })))

      it("denies a call outside the service's scopes", () =>
        run(Effect.gen(function*() {
          const e = yield* failure(bearer(WORLD.scoped.key), "images:generate")
          expect(e._tag).toBe("ScopeDenied")
          const p = yield* resolve(bearer(WORLD.scoped.key), "credits:read")
          expect(p.payer.account).toBe(accountOfOrg(WORLD.scoped.org))
        })))
    })

    describe("a service JWT", () => {
      it("bills the service's organization when it names no user", () =>
        run(Effect.gen(function*() {
          const p = yield* resolve(bearer(yield* serviceJwt({})))
          expect(p.authMethod).toBe("service_jwt")
          expect(p.payer.account).toBe(accounts.presentonOrg)
        })))

      it("bills the user of its user_id claim as if X-User-ID were sent", () =>
        run(Effect.gen(function*() {
          const token = yield* serviceJwt({ user_id: WORLD.alice.id })
          const p = yield* resolve(bearer(token))
          expect(p.payer.account).toBe(accounts.alice)
          const same = yield* resolve({ ...bearer(token), userId: WORLD.alice.id })
          expect(same.payer.account).toBe(accounts.alice)
        })))

      it("rejects an X-User-ID that differs from the user_id claim", () =>
        run(Effect.gen(function*() {
          const token = yield* serviceJwt({ user_id: WORLD.alice.id })
          const e = yield* failure({ ...bearer(token), userId: WORLD.carol.id })
          expect(e._tag).toBe("ConflictingUserContext")
        })))

      it("rejects a token signed with another secret", () =>
        run(Effect.gen(function*() {
          const e = yield* failure(bearer(yield* serviceJwt({}, { secret: "not-the-secret" })))
          expect(e._tag).toBe("InvalidToken")
        })))

      it("rejects an expired token as token_expired, and honours 60 s of clock skew", () =>
        run(Effect.gen(function*() {
          const now = Math.floor(Date.now() / 1000)
          const expired = yield* failure(bearer(yield* serviceJwt({}, { iat: now - 600, exp: now - 120 })))
          expect(expired._tag).toBe("TokenExpired")
          const withinSkew = yield* resolve(bearer(yield* serviceJwt({}, { iat: now - 600, exp: now - 30 })))
          expect(withinSkew.payer.account).toBe(accounts.presentonOrg)
        })))

      it("rejects a token without exp, or living longer than one hour", () =>
        run(Effect.gen(function*() {
          const now = Math.floor(Date.now() / 1000)
          const noExp = yield* failure(bearer(yield* serviceJwt({}, { exp: null })))
          expect(noExp._tag).toBe("InvalidToken")
          const long = yield* failure(bearer(yield* serviceJwt({}, { iat: now, exp: now + 2 * 3600 })))
          expect(long._tag).toBe("InvalidToken")
        })))

      it("rejects any algorithm other than HS256, including none", () =>
        run(Effect.gen(function*() {
          const hs512 = yield* failure(bearer(yield* serviceJwt({}, { alg: "HS512" })))
          expect(hs512._tag).toBe("InvalidToken")
          const b64 = (o: object) => Buffer.from(JSON.stringify(o)).toString("base64url")
          const now = Math.floor(Date.now() / 1000)
          const none = `${b64({ alg: "none", typ: "JWT" })}.${b64({ service: "presenton-service", iat: now, exp: now + 60 })}.`
          const e = yield* failure(bearer(none))
          expect(e._tag).toBe("InvalidToken")
        })))

      it("rejects a token naming a service that does not exist", () =>
        run(Effect.gen(function*() {
          const e = yield* failure(bearer(yield* serviceJwt({ service: "nobody-service" })))
          expect(e._tag).toBe("InvalidToken")
        })))
    })

    describe("a user credential", () => {
      it("makes the user both actor and payer", () =>
        run(Effect.gen(function*() {
          const p = yield* resolve(bearer(WORLD.alice.key))
          expect(p.actor).toEqual({ _tag: "User", user: WORLD.alice.id })
          expect(p.payer.account).toBe(accounts.alice)
          expect(p.authMethod).toBe("user_key")
          const own = yield* resolve({ ...bearer(WORLD.alice.key), userId: WORLD.alice.id })
          expect(own.payer.account).toBe(accounts.alice)
        })))

      it("can never bill another user", () =>
        run(Effect.gen(function*() {
          const e = yield* failure({ ...bearer(WORLD.alice.key), userId: WORLD.bob.id })
          expect(e._tag).toBe("UserContextForbidden")
          const garbage = yield* failure({ ...bearer(WORLD.alice.key), userId: "someone" })
          expect(garbage._tag).toBe("UserContextForbidden")
        })))

      it("authenticates a browser session cookie as its user", () =>
        run(Effect.gen(function*() {
          const token = yield* Provisioning.use((p) => p.createSession(WORLD.carol.id, 60_000))
          const p = yield* resolve({ sessionToken: Redacted.value(token) })
          expect(p.authMethod).toBe("session")
          expect(p.payer.account).toBe(accounts.carol)
          const e = yield* failure({ sessionToken: Redacted.value(token), userId: WORLD.alice.id })
          expect(e._tag).toBe("UserContextForbidden")
        })))

      it("rejects an unknown or expired session", () =>
        run(Effect.gen(function*() {
          const unknown = yield* failure({ sessionToken: "sess_nope" })
          expect(unknown).toMatchObject({ _tag: "InvalidSession", state: "unknown" })
          const token = yield* Provisioning.use((p) => p.createSession(WORLD.carol.id, -1))
          const expired = yield* failure({ sessionToken: Redacted.value(token) })
          expect(expired).toMatchObject({ _tag: "InvalidSession", state: "expired" })
        })))

      it("rejects the key of a suspended user", () =>
        run(Effect.gen(function*() {
          const e = yield* failure(bearer(WORLD.suspended.key))
          expect(e._tag).toBe("AccountSuspended")
        })))

      it("rejects the session of a suspended user with the very error the user's key gets", () =>
        run(Effect.gen(function*() {
          const token = yield* Provisioning.use((p) => p.createSession(WORLD.suspended.id, 60_000))
          const bySession = yield* failure({ sessionToken: Redacted.value(token) })
          expect(bySession).toMatchObject({ _tag: "AccountSuspended", user: WORLD.suspended.id })
          const byKey = yield* failure(bearer(WORLD.suspended.key))
          expect(bySession).toEqual(byKey)
          expect(describeError(bySession)).toBe(describeError(byKey))
          // Naming the user itself changes nothing.
          const named = yield* failure({ sessionToken: Redacted.value(token), userId: WORLD.suspended.id })
          expect(named._tag).toBe("AccountSuspended")
        })))

      it("bills a session's own user when X-User-ID names that user, and a member's billing organization", () =>
        run(Effect.gen(function*() {
          const carol = yield* Provisioning.use((p) => p.createSession(WORLD.carol.id, 60_000))
          const own = yield* resolve({ sessionToken: Redacted.value(carol), userId: WORLD.carol.id.toUpperCase() })
          expect(own.actor).toEqual({ _tag: "User", user: WORLD.carol.id })
          expect(own.payer.account).toBe(accounts.carol)
          const member = yield* Provisioning.use((p) => p.createSession(WORLD.member.id, 60_000))
          const p = yield* resolve({ sessionToken: Redacted.value(member) })
          expect(p.authMethod).toBe("session")
          expect(p.actor).toEqual({ _tag: "User", user: WORLD.member.id })
          expect(p.payer.account).toBe(accounts.acme)
          expect(p.viaOrg).toBe(WORLD.acme.id)
        })))

      it("lets a user's billing organization pay for a user key", () =>
        run(Effect.gen(function*() {
          const p = yield* resolve(bearer(WORLD.member.key))
          expect(p.actor).toEqual({ _tag: "User", user: WORLD.member.id })
          expect(p.payer.account).toBe(accounts.acme)
        })))
    })

    describe("bad or missing credentials", () => {
      it("rejects an unknown key without echoing it", () =>
        run(Effect.gen(function*() {
          const secret = "sk-unknown-service-key-that-is-long"
          const e = yield* failure(bearer(secret))
          expect(e).toMatchObject({ _tag: "InvalidApiKey", state: "unknown" })
          expect(describeError(e)).not.toContain(secret)
          const userKey = yield* failure(bearer("uc_not_a_real_key"))
          expect(userKey).toMatchObject({ _tag: "InvalidApiKey", state: "unknown" })
          const opaque = yield* failure(bearer("gibberish"))
          expect(opaque).toMatchObject({ _tag: "InvalidApiKey", state: "unknown" })
        })))

      it("shows at most the first 8 characters of an unknown, revoked or expired key, service or user", () =>
        run(Effect.gen(function*() {
          const p = yield* Provisioning
          const service: KeyOwner = { _tag: "Service", service: WORLD.presenton }
          const user: KeyOwner = { _tag: "User", user: WORLD.alice.id }
          const revoked = (owner: KeyOwner) =>
            Effect.gen(function*() {
              const issued = yield* p.issueKey(owner)
              yield* p.revokeKey(issued.record.id)
              return Redacted.value(issued.secret)
            })
          const expired = (owner: KeyOwner) =>
            Effect.map(p.issueKey(owner, { expiresAt: Date.now() - 1 }), (issued) => Redacted.value(issued.secret))
          // A user's key that looks like a service key, and the key of a service switched off.
          const userOwnedSk = "sk-user-owned-literal-Qm4Tz8Rk2Wc6Yp0Vn3"
          yield* p.importKey(user, Redacted.make(userOwnedSk))
          const bolt = "bolt-diy-service" as ServiceName
          const deactivated = Redacted.value((yield* p.issueKey({ _tag: "Service", service: bolt })).secret)
          const registry = yield* ServiceRegistry
          const boltService = yield* registry.find(bolt)
          if (boltService._tag === "Some") yield* registry.save({ ...boltService.value, active: false })

          const cases: ReadonlyArray<readonly [string, string, "unknown" | "revoked" | "expired"]> = [
            ["an unknown service key", unknownSecret("sk-"), "unknown"],
            ["an unknown user key", unknownSecret("uc_"), "unknown"],
            ["an unknown opaque token", unknownSecret(""), "unknown"],
            ["an unknown short key", "sk-0123456789abcdef", "unknown"],
            ["a revoked service key", yield* revoked(service), "revoked"],
            ["a revoked user key", yield* revoked(user), "revoked"],
            ["an expired service key", yield* expired(service), "expired"],
            ["an expired user key", yield* expired(user), "expired"],
            ["a user's key in the form of a service key", userOwnedSk, "unknown"],
            ["the key of a deactivated service", deactivated, "revoked"]
          ]
          const problems: Array<string> = []
          for (const [what, secret, state] of cases) {
            const e = yield* failure(bearer(secret))
            if (e._tag !== "InvalidApiKey" || e.state !== state) {
              problems.push(`${what}: ${e._tag} ${JSON.stringify(e)}, expected InvalidApiKey (${state})`)
              continue
            }
            if (!isAllowedPrefix(e.prefix, secret)) problems.push(`${what}: shows '${e.prefix}' of '${secret}'`)
            for (const [where, text] of [["message", describeError(e)], ["error", JSON.stringify(e)], ["string", String(e)]]) {
              const leaked = leakedPart(text!, secret)
              if (leaked !== undefined) problems.push(`${what}: its ${where} shows '${leaked}' (${text})`)
            }
          }
          expect(problems).toEqual([])
        })))

      it("stores no more of a key than its first 8 characters, issued or imported", () =>
        run(Effect.gen(function*() {
          const p = yield* Provisioning
          const store = yield* KeyStore
          const serviceKey = yield* p.issueKey({ _tag: "Service", service: WORLD.presenton })
          const userKey = yield* p.issueKey({ _tag: "User", user: WORLD.alice.id }, { scopes: ["credits:read"] })
          const literal = "uc_imported-legacy-literal-Hs5Jd9Kq1Lw7"
          const imported = yield* p.importKey({ _tag: "User", user: WORLD.carol.id }, Redacted.make(literal))
          const stored = (record: ApiKeyRecord) =>
            Effect.map(store.listByOwner(record.owner), (all) => all.find((r) => r.id === record.id))
          const cases: ReadonlyArray<readonly [string, ApiKeyRecord, string]> = [
            ["an issued service key", serviceKey.record, Redacted.value(serviceKey.secret)],
            ["an issued user key", userKey.record, Redacted.value(userKey.secret)],
            ["an imported legacy key", imported, literal]
          ]
          for (const [what, record, secret] of cases) {
            const kept = yield* stored(record)
            expect(kept, what).toBeDefined()
            for (const prefix of [record.prefix, kept!.prefix]) {
              expect(isAllowedPrefix(prefix, secret), `${what}: prefix '${prefix}'`).toBe(true)
              expect(leakedPart(prefix, secret), what).toBeUndefined()
            }
          }
          // The fixture's legacy service key, as seeded.
          const presenton = yield* store.listByOwner({ _tag: "Service", service: WORLD.presenton })
          expect(presenton.length).toBeGreaterThan(0)
          for (const record of presenton.filter((r) => r.legacy)) {
            expect(isAllowedPrefix(record.prefix, WORLD.presentonKey), `legacy prefix '${record.prefix}'`).toBe(true)
          }
        })))

      it("rejects a revoked key and an expired key", () =>
        run(Effect.gen(function*() {
          const p = yield* Provisioning
          const issued = yield* p.issueKey({ _tag: "Service", service: WORLD.presenton })
          const ok = yield* resolve(bearer(Redacted.value(issued.secret)))
          expect(ok.keyId).toBe(issued.record.id)
          yield* p.revokeKey(issued.record.id)
          expect(yield* failure(bearer(Redacted.value(issued.secret)))).toMatchObject({ state: "revoked" })
          const old = yield* p.issueKey({ _tag: "User", user: WORLD.alice.id }, { expiresAt: Date.now() - 1 })
          expect(yield* failure(bearer(Redacted.value(old.secret)))).toMatchObject({ state: "expired" })
        })))

      it("keeps both keys working during a rotation's overlap window, then only the new one", () =>
        run(Effect.gen(function*() {
          const p = yield* Provisioning
          const first = yield* p.issueKey({ _tag: "Service", service: WORLD.presenton })
          const second = yield* p.rotateServiceKey(WORLD.presenton, 60_000)
          const during = yield* resolve(bearer(Redacted.value(first.secret)))
          expect(during.deprecation).toBeDefined()
          yield* resolve(bearer(Redacted.value(second.secret)))
          const ended = yield* p.rotateServiceKey(WORLD.presenton, -1)
          expect(yield* failure(bearer(Redacted.value(first.secret)))).toMatchObject({ state: "expired" })
          yield* resolve(bearer(Redacted.value(ended.secret)))
        })))

      it("rejects the key of a deactivated service", () =>
        run(Effect.gen(function*() {
          const registry = yield* ServiceRegistry
          const service = yield* registry.find(WORLD.presenton)
          if (service._tag === "Some") yield* registry.save({ ...service.value, active: false })
          expect(yield* failure(bearer(WORLD.presentonKey))).toMatchObject({ _tag: "InvalidApiKey" })
        })))

      it("shows the expected form for a malformed Authorization header", () =>
        run(Effect.gen(function*() {
          for (const header of ["Basic dXNlcjpwYXNz", "Bearer", "", "Token abc", "Bearer a b"]) {
            const e = yield* failure({ authorization: header })
            expect(e._tag).toBe("MalformedAuthorization")
            expect(describeError(e)).toContain("Authorization: Bearer <token>")
          }
        })))

      it("lists the accepted credentials when none is sent", () =>
        run(Effect.gen(function*() {
          const e = yield* failure({})
          expect(e._tag).toBe("MissingCredentials")
          expect(describeError(e)).toContain("sk-")
          expect(describeError(e)).toContain("uc_")
          expect(describeError(e)).toContain("session_token")
          // X-User-ID alone is no credential.
          expect((yield* failure({ userId: WORLD.alice.id as UserId }))._tag).toBe("MissingCredentials")
        })))

      it("lets the Authorization header decide over a session cookie, without falling through", () =>
        run(Effect.gen(function*() {
          const token = yield* Provisioning.use((p) => p.createSession(WORLD.carol.id, 60_000))
          const e = yield* failure({ authorization: "Bearer sk-wrong-key-123456", sessionToken: Redacted.value(token) })
          expect(e._tag).toBe("InvalidApiKey")
        })))
    })
  })
