import { Effect, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { type AdminCall, Administration } from "../src/application/Administration.ts"
import { CredentialAudit } from "../src/application/CredentialAudit.ts"
import { CreditLedger } from "../src/application/CreditLedger.ts"
import { PrincipalResolver } from "../src/application/PrincipalResolver.ts"
import { AuditLog } from "../src/application/ports/AuditLog.ts"
import { credentialOfToken } from "../src/domain/Credential.ts"
import type { KeyId, OrgId, ServiceName, TransferId } from "../src/domain/Ids.ts"
import { credits } from "../src/domain/Money.ts"
import type { Tier } from "../src/domain/Tier.ts"
import type { AdapterSet } from "./support/AdapterSet.ts"
import { bearer, inWorld, WORLD } from "./support/Harness.ts"
import { generateAs, resolveAs } from "./support/Calls.ts"

const UNICORN = { prompt: "A unicorn with a magic wand", model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 }

let calls = 0
const call = (idempotencyKey?: string): AdminCall => ({ actor: "cli:spec", requestId: `admin-req-${++calls}`, idempotencyKey })

const admin = Effect.service(Administration)
const failureOf = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flip(effect).pipe(Effect.map((e) => (e as { readonly _tag: string })._tag))
const auditEntries = (filter: Partial<Parameters<AuditLog["Service"]["list"]>[0]> = {}) =>
  AuditLog.use((log) => log.list({ limit: 1000, ...filter }))

const acmeImages = {
  name: "acme-images" as ServiceName,
  org: { id: "org_acme_images" as OrgId, name: "Acme Images", tier: "managed" as Tier },
  initialCredits: credits(10_000)
}

/** What operators do (SPEC §9), on the core, whatever the transport. */
export const administrationSuite = (adapters: AdapterSet) =>
  describe(`Administration [${adapters.name}]`, () => {
    const run = inWorld(adapters)

    describe("services", () => {
      it("creates a service with its organization, 10,000 credits and a first key that bills the organization", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const created = yield* a.createService(call(), acmeImages)
          expect(created.service).toMatchObject({ name: "acme-images", org: "org_acme_images", userIdPolicy: "optional", active: true, jwt: false })
          expect(created.service.account?.balance.available).toBe(credits(10_000))
          const secret = Redacted.value(created.key.secret!)
          expect(secret).toMatch(/^sk-[A-Za-z0-9]{40}$/)
          expect(created.key.key.prefix).toBe(secret.slice(0, 8))
          const principal = yield* resolveAs(bearer(secret), "images:generate")
          expect(principal.payer.account).toBe("org_acme_images")
          expect(principal.actor).toEqual({ _tag: "Service", service: "acme-images" })

          const audit = yield* auditEntries({ action: "service.create" })
          expect(audit.map((e) => [e.actor, e.target, e.outcome])).toEqual([["cli:spec", "service:acme-images", "ok"]])
          expect(JSON.stringify(yield* auditEntries())).not.toContain(secret)
        })))

      it("refuses a second service of the same name, changes nothing, and audits the refusal", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          yield* a.createService(call(), acmeImages)
          expect(yield* failureOf(a.createService(call(), acmeImages))).toBe("AlreadyExists")
          expect((yield* a.account("org_acme_images")).balance.available).toBe(credits(10_000))
          const outcomes = (yield* auditEntries({ action: "service.create" })).map((e) => e.outcome)
          expect(outcomes).toEqual(["AlreadyExists", "ok"])
        })))

      it("replays a creation with the same idempotency key without a second grant or key, and refuses other input under it", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const first = yield* a.createService(call("create-acme"), acmeImages)
          const again = yield* a.createService(call("create-acme"), acmeImages)
          expect(again.replayed).toBe(true)
          expect(again.key.secret).toBeUndefined()
          expect(again.key.key.id).toBe(first.key.key.id)
          expect((yield* a.listKeys({ owner: { _tag: "Service", service: acmeImages.name } }))).toHaveLength(1)
          expect((yield* a.account("org_acme_images")).balance.posted).toBe(credits(10_000))
          expect(yield* failureOf(a.createService(call("create-acme"), { ...acmeImages, initialCredits: credits(5) }))).toBe(
            "IdempotencyConflict"
          )
        })))

      it("validates before it writes: unknown scope, short JWT secret, credits without an organization", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const bad = [
            a.createService(call(), { ...acmeImages, scopes: ["images:delete" as never] }),
            a.createService(call(), { ...acmeImages, jwtSecret: Redacted.make("short") }),
            a.createService(call(), { name: acmeImages.name, initialCredits: credits(1) }),
            a.createService(call(), { ...acmeImages, initialCredits: 0 })
          ]
          for (const attempt of bad) expect(["InvalidRequest", "InvalidAmount"]).toContain(yield* failureOf(attempt))
          expect(yield* failureOf(a.showService(acmeImages.name))).toBe("NotFound")
        })))

      it("shows a service with its organization's balance, pending holds, month's spend and last use", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          yield* generateAs(bearer(WORLD.presentonKey), UNICORN)
          const shown = yield* a.showService(WORLD.presenton)
          expect(shown.account).toMatchObject({ account: "org_presenton_service", tier: "managed", spentThisMonth: 48_000 })
          expect(shown.account?.balance).toMatchObject({ posted: 10_000_000 - 48_000, pending: 0 })
          expect(shown.keys.map((k) => k.legacy)).toEqual([true])
          expect(JSON.stringify(shown)).not.toContain("key-2025")
          expect((yield* a.listServices).map((s) => s.name)).toContain("presenton-service")
        })))

      it("updates a policy (required → a call without X-User-ID is refused) and deactivates (its key stops working)", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const updated = yield* a.updateService(call(), WORLD.presenton, { userIdPolicy: "required" })
          expect(updated.userIdPolicy).toBe("required")
          expect(yield* failureOf(resolveAs(bearer(WORLD.presentonKey), "images:generate"))).toBe("MissingUserContext")
          yield* a.deactivateService(call(), WORLD.presenton)
          expect(yield* failureOf(resolveAs(bearer(WORLD.presentonKey), "images:generate"))).toBe("InvalidApiKey")
          const audit = yield* auditEntries({ target: "service:presenton-service" })
          expect(audit.map((e) => e.action)).toEqual(["service.deactivate", "service.update"])
          expect(audit[1]!.after).toMatchObject({ before: { userIdPolicy: "optional" }, after: { userIdPolicy: "required" } })
        })))
    })

    describe("keys", () => {
      it("rotates with an overlap: the old key still works, deprecated, until revoked", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const rotated = yield* a.rotateServiceKeys(call(), WORLD.presenton, 3_600_000)
          const fresh = Redacted.value(rotated.secret!)
          expect(rotated.retiring).toHaveLength(1)
          const old = yield* resolveAs(bearer(WORLD.presentonKey), "images:generate")
          expect(old.deprecation?.sunset).toBe(rotated.retiring[0]!.deprecatedSunset)
          expect((yield* resolveAs(bearer(fresh), "images:generate")).deprecation).toBeUndefined()
          yield* a.revokeKey(call(), rotated.retiring[0]!.id)
          expect(yield* failureOf(resolveAs(bearer(WORLD.presentonKey), "images:generate"))).toBe("InvalidApiKey")
          const listed = yield* a.listKeys({ owner: { _tag: "Service", service: WORLD.presenton } })
          expect(listed.map((k) => k.status).sort()).toEqual(["active", "revoked"])
        })))

      it("issues a user key with narrower scopes and an expiry; refuses an expiry in the past and an unknown owner", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const issued = yield* a.issueKey(call(), { _tag: "User", user: WORLD.alice.id }, {
            scopes: ["credits:read"],
            expiresAt: Date.now() + 86_400_000
          })
          const secret = Redacted.value(issued.secret!)
          expect(secret).toMatch(/^uc_/)
          expect((yield* resolveAs(bearer(secret), "credits:read")).payer.account).toBe(WORLD.alice.id)
          expect(yield* failureOf(resolveAs(bearer(secret), "images:generate"))).toBe("ScopeDenied")
          expect(yield* failureOf(a.issueKey(call(), { _tag: "User", user: WORLD.alice.id }, { expiresAt: Date.now() - 1 }))).toBe(
            "InvalidRequest"
          )
          expect(yield* failureOf(a.issueKey(call(), { _tag: "User", user: WORLD.ghost }, {}))).toBe("NotFound")
        })))

      it("imports a legacy literal once, and refuses to move it to another owner", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const literal = Redacted.make("sk-legacy-import-key-2024")
          const first = yield* a.importKey(call(), { _tag: "Service", service: WORLD.presenton }, literal, {})
          const again = yield* a.importKey(call(), { _tag: "Service", service: WORLD.presenton }, literal, {})
          expect(again.id).toBe(first.id)
          expect(first.legacy).toBe(true)
          expect(yield* failureOf(a.importKey(call(), { _tag: "Service", service: "bolt-diy-service" as ServiceName }, literal, {}))).toBe(
            "AlreadyExists"
          )
          expect((yield* resolveAs(bearer("sk-legacy-import-key-2024"), "images:generate")).payer.account).toBe("org_presenton_service")
        })))

      it("deprecates a key with a sunset: callers see it; it keeps working", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const [key] = yield* a.listKeys({ owner: { _tag: "Service", service: WORLD.presenton } })
          const sunset = Date.UTC(2027, 0, 1)
          const view = yield* a.deprecateKey(call(), key!.id, sunset)
          expect(view.deprecatedSunset).toBe(sunset)
          expect((yield* resolveAs(bearer(WORLD.presentonKey), "images:generate")).deprecation).toEqual({ sunset })
          expect(yield* failureOf(a.deprecateKey(call(), "key_nope" as KeyId, sunset))).toBe("NotFound")
        })))

      it("admin keys work only on the admin side, and other credentials never there", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const resolver = yield* PrincipalResolver
          const issued = yield* a.issueKey(call(), { _tag: "Admin", admin: "ops" }, {})
          const secret = Redacted.value(issued.secret!)
          expect(secret).toMatch(/^adm_/)
          expect((yield* resolver.resolveAdmin(credentialOfToken(secret))).admin).toBe("ops")
          expect((yield* resolver.resolveAdmin(credentialOfToken(WORLD.adminKey))).admin).toBe("demo")
          const refused = yield* Effect.flip(resolver.resolve(credentialOfToken(secret), undefined, "images:generate"))
          expect(refused).toMatchObject({ _tag: "InvalidApiKey", state: "admin_only" })
          for (const token of [WORLD.presentonKey, WORLD.alice.key]) {
            expect(yield* failureOf(resolver.resolveAdmin(credentialOfToken(token)))).toBe("AdminRequired")
          }
          expect(yield* failureOf(resolver.resolveAdmin(credentialOfToken("adm_not_a_real_key_000000000000")))).toBe("InvalidApiKey")
          expect(yield* failureOf(resolver.resolveAdmin(undefined))).toBe("MissingCredentials")
        })))
    })

    describe("users and organizations", () => {
      it("creates a user with credits, suspends it (a service can no longer bill it), and reactivates it", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const dana = yield* a.createUser(call(), { tier: "starter" as Tier, initialCredits: credits(250) })
          expect(dana.account.balance.available).toBe(credits(250))
          expect((yield* resolveAs({ ...bearer(WORLD.presentonKey), userId: dana.id }, "images:generate")).payer.account).toBe(dana.id)
          yield* a.updateUser(call(), dana.id, { status: "suspended" })
          expect(yield* failureOf(resolveAs({ ...bearer(WORLD.presentonKey), userId: dana.id }, "images:generate"))).toBe(
            "AccountSuspended"
          )
          yield* a.updateUser(call(), dana.id, { status: "active" })
          expect((yield* a.showUser(dana.id)).status).toBe("active")
          expect(yield* failureOf(a.createUser(call(), { id: dana.id }))).toBe("AlreadyExists")
        })))

      it("a user creation retried under its idempotency key (no id given) replays the first user and its credits", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const first = yield* a.createUser(call("new-user"), { initialCredits: credits(3) })
          const again = yield* a.createUser(call("new-user"), { initialCredits: credits(3) })
          expect(again.replayed).toBe(true)
          expect(again.id).toBe(first.id)
          expect((yield* a.account(first.id)).balance.posted).toBe(credits(3))
          expect((yield* a.listUsers({ limit: 100 })).filter((u) => u.account.balance.posted === credits(3))).toHaveLength(1)
        })))

      it("membership: an organization that bills its members pays for them", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          yield* a.createOrganization(call(), { id: "org_studio" as OrgId, name: "Studio", billsMembers: true, initialCredits: credits(100) })
          yield* a.updateUser(call(), WORLD.alice.id, { billingOrg: "org_studio" as OrgId })
          expect((yield* resolveAs(bearer(WORLD.alice.key), "images:generate")).payer.account).toBe("org_studio")
          yield* a.updateOrganization(call(), "org_studio" as OrgId, { billsMembers: false })
          expect((yield* resolveAs(bearer(WORLD.alice.key), "images:generate")).payer.account).toBe(WORLD.alice.id)
          expect(yield* failureOf(a.updateUser(call(), WORLD.alice.id, { billingOrg: "org_nowhere" as OrgId }))).toBe("NotFound")
        })))

      it("sets a tier and a monthly cap that the next generation obeys", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          yield* a.updateUser(call(), WORLD.alice.id, { monthlyCap: credits(10) })
          expect(yield* failureOf(generateAs(bearer(WORLD.alice.key), UNICORN))).toBe("MonthlyCapExceeded")
          yield* a.updateUser(call(), WORLD.alice.id, { monthlyCap: null, tier: "vip_founder" as Tier })
          const made = yield* generateAs(bearer(WORLD.alice.key), UNICORN)
          expect(made.chargedMillicredits).toBe(40_000)
          expect(yield* failureOf(a.updateUser(call(), WORLD.alice.id, { tier: "Not A Tier" as Tier }))).toBe("InvalidRequest")
        })))

      it("lists users and organizations in pages by id", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const seen: Array<string> = []
          let after: string | undefined
          for (;;) {
            const page = yield* a.listUsers({ after, limit: 2 })
            seen.push(...page.map((u) => u.id))
            if (page.length < 2) break
            after = page.at(-1)!.id
          }
          expect(seen).toEqual([...seen].sort())
          expect(new Set(seen).size).toBe(seen.length)
          expect(seen).toContain(WORLD.alice.id)
          expect((yield* a.listOrganizations({ limit: 100 })).map((o) => o.id)).toContain("org_presenton_service")
        })))
    })

    describe("credits", () => {
      it("grants to a user UUID or an org_… id; refuses unknown, malformed and non-positive", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const granted = yield* a.grant(call(), WORLD.bob.id, credits(5), "top-up")
          expect(granted.balance.available).toBe(credits(5))
          expect(granted.transfer).toMatchObject({ kind: "grant", credit: WORLD.bob.id, amount: credits(5), reason: "top-up" })
          expect((yield* a.grant(call(), "org_presenton_service", 1, "one millicredit")).balance.posted).toBe(10_000_001)
          expect(yield* failureOf(a.grant(call(), WORLD.ghost, 1000, "x"))).toBe("NotFound")
          expect(yield* failureOf(a.grant(call(), "presenton-service", 1000, "x"))).toBe("InvalidRequest")
          expect(yield* failureOf(a.grant(call(), WORLD.bob.id, 0, "x"))).toBe("InvalidAmount")
          expect(yield* failureOf(a.grant(call(), WORLD.bob.id, 1.5, "x"))).toBe("InvalidAmount")
          expect(yield* failureOf(a.grant(call(), WORLD.bob.id, 1000, "   "))).toBe("InvalidRequest")
          expect((yield* a.account(WORLD.bob.id)).balance.available).toBe(credits(5))
        })))

      it("a grant retried with its idempotency key credits once; other content under the key is a conflict", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          yield* a.grant(call("grant-1"), WORLD.bob.id, credits(7), "purchase")
          const replay = yield* a.grant(call("grant-1"), WORLD.bob.id, credits(7), "purchase")
          expect(replay.replayed).toBe(true)
          expect((yield* a.account(WORLD.bob.id)).balance.posted).toBe(credits(7))
          expect(yield* failureOf(a.grant(call("grant-1"), WORLD.bob.id, credits(8), "purchase"))).toBe("IdempotencyConflict")
        })))

      it("refunds a settled charge to its payer, once; a grant is not refundable", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const made = yield* generateAs(bearer(WORLD.presentonKey), UNICORN)
          const history = yield* a.history("org_presenton_service", { limit: 10 })
          const charge = history.data.find((t) => t.kind === "settle")!
          expect(charge.amount).toBe(made.chargedMillicredits)
          const refunded = yield* a.refund(call(), charge.id, { reason: "bad image" })
          expect(refunded.transfer).toMatchObject({ kind: "refund", refundOf: charge.id, amount: 48_000, credit: "org_presenton_service" })
          expect(refunded.balance.posted).toBe(10_000_000)
          expect(yield* failureOf(a.refund(call(), charge.id, { reason: "again" }))).toBe("RefundExceedsTransfer")
          const grant = history.data.find((t) => t.kind === "grant")!
          expect(yield* failureOf(a.refund(call(), grant.id, { reason: "no" }))).toBe("InvalidRequest")
          expect(yield* failureOf(a.refund(call(), "settle:nope" as TransferId, { reason: "no" }))).toBe("NotFound")
        })))

      it("pages an account's journal by cursor, newest first, each entry once", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          for (let i = 1; i <= 7; i++) yield* a.grant(call(), WORLD.bob.id, i, `grant ${i}`)
          const amounts: Array<number> = []
          let before: number | undefined
          for (let pages = 0; pages < 10; pages++) {
            const page = yield* a.history(WORLD.bob.id, { limit: 3, beforeSeq: before })
            amounts.push(...page.data.map((t) => t.amount))
            if (page.nextCursor === undefined) break
            before = page.nextCursor
          }
          expect(amounts).toEqual([7, 6, 5, 4, 3, 2, 1])
          // A page that ends the journal says so, even when it is full.
          const all = yield* a.history(WORLD.bob.id, { limit: 7 })
          expect(all.data).toHaveLength(7)
          expect(all.nextCursor).toBeUndefined()
          const ledger = yield* CreditLedger
          expect((yield* ledger.balance(WORLD.bob.id as never)).posted).toBe(28)
        })))
    })

    describe("pricing as data", () => {
      it("a price change applies to the next request (not to one already priced) and is audited with before and after", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const before = yield* a.pricing
          const changed = yield* a.updatePricing(call(), {
            setPrices: [{ model: "dall-e-3", quality: "standard", size: "1024x1024", millicredits: credits(50) }]
          })
          expect(changed.version).toBe(before.version + 1)
          const made = yield* generateAs(bearer(WORLD.presentonKey), UNICORN)
          expect(made.chargedMillicredits).toBe(60_000)
          yield* a.updatePricing(call(), { multipliersBps: { managed: 10_000 } })
          expect((yield* generateAs(bearer(WORLD.presentonKey), UNICORN)).chargedMillicredits).toBe(50_000)
          yield* a.updatePricing(call(), { billingEnabled: false })
          expect((yield* generateAs(bearer(WORLD.presentonKey), UNICORN)).chargedMillicredits).toBe(0)
          const audit = yield* auditEntries({ action: "pricing.update" })
          expect(audit).toHaveLength(3)
          expect(audit.at(-1)!.before).toMatchObject({ version: before.version })
          expect(yield* failureOf(a.updatePricing(call(), { multipliersBps: { managed: -1 } }))).toBe("InvalidRequest")
        })))
    })

    describe("audit log and usage", () => {
      it("filters and pages the audit log, newest first", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          for (let i = 0; i < 5; i++) yield* a.grant(call(), WORLD.bob.id, 1000, `g${i}`)
          const first = yield* a.audit({ action: "credits.grant", limit: 2 })
          expect(first.data).toHaveLength(2)
          const second = yield* a.audit({ action: "credits.grant", limit: 2, beforeSeq: first.nextCursor })
          const third = yield* a.audit({ action: "credits.grant", limit: 2, beforeSeq: second.nextCursor })
          expect(third.data).toHaveLength(1)
          expect(third.nextCursor).toBeUndefined()
          const seqs = [...first.data, ...second.data, ...third.data].map((e) => e.seq)
          expect(seqs).toEqual([...seqs].sort((x, y) => y - x))
          expect(new Set(seqs).size).toBe(5)
          expect([...first.data, ...second.data, ...third.data].every((e) => e.target === `account:${WORLD.bob.id}`)).toBe(true)
        })))

      it("records a service credential's refused use (its policy, an unknown user) as well as its generations", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          yield* a.updateService(call(), WORLD.presenton, { userIdPolicy: "required" })
          expect(yield* failureOf(generateAs(bearer(WORLD.presentonKey), UNICORN))).toBe("MissingUserContext")
          expect(yield* failureOf(generateAs({ ...bearer(WORLD.presentonKey), userId: WORLD.ghost }, UNICORN))).toBe("UnknownUser")
          yield* generateAs({ ...bearer(WORLD.presentonKey), userId: WORLD.alice.id }, UNICORN)
          yield* CredentialAudit.use((audit) => audit.flush)
          const uses = yield* auditEntries({ kind: "credential", actor: "presenton-service" })
          expect(uses.map((e) => e.outcome)).toEqual(["ok", "UnknownUser", "MissingUserContext"])
          expect(uses.every((e) => e.action === "credential.use" && e.target.startsWith("key:key_"))).toBe(true)
          expect(uses[0]!.payer).toBe(WORLD.alice.id)
        })))

      it("reports usage per service, per payer and by credential kind", () =>
        run(Effect.gen(function*() {
          const a = yield* admin
          const since = Date.now() - 1000
          yield* generateAs(bearer(WORLD.presentonKey), UNICORN)
          yield* generateAs({ ...bearer(WORLD.presentonKey), userId: WORLD.alice.id }, UNICORN)
          yield* generateAs(bearer(WORLD.alice.key), UNICORN)
          const report = yield* a.usageReport({ since, until: Date.now() + 1000, top: 10 })
          expect(report.total).toMatchObject({ requests: 3, succeeded: 3, images: 3, costMillicredits: 144_000 })
          expect(report.byService.find((g) => g.key === "presenton-service")).toMatchObject({ requests: 2 })
          expect(report.byPayer.find((g) => g.key === WORLD.alice.id)).toMatchObject({ requests: 2, costMillicredits: 96_000 })
          expect(Object.fromEntries(report.byCredential.map((g) => [g.key, g.requests]))).toEqual({
            service_key: 1,
            service_key_on_behalf: 1,
            user_key: 1
          })
          expect(yield* failureOf(a.usageReport({ since: 10, until: 5, top: 10 }))).toBe("InvalidRequest")
        })))
    })
  })

