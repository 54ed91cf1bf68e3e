import { Clock, Effect, Fiber, Option, Redacted } from "effect"
import { Digest } from "effect/crypto"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import { CreditLedger } from "../src/application/CreditLedger.ts"
import { ImageGeneration, requestFingerprint } from "../src/application/ImageGeneration.ts"
import { IdempotencyStore } from "../src/application/ports/IdempotencyStore.ts"
import { readGenerationCall } from "../src/adapters/http/GenerationEndpoint.ts"
import { GatewayPolicy } from "../src/application/GatewayPolicy.ts"
import { PrincipalResolver } from "../src/application/PrincipalResolver.ts"
import { Provisioning } from "../src/application/Provisioning.ts"
import { ImageStore } from "../src/application/ports/ImageStore.ts"
import { LedgerStore } from "../src/application/ports/LedgerStore.ts"
import { UsageLog } from "../src/application/ports/UsageLog.ts"
import { pngDimensions } from "../src/adapters/local/PngRenderer.ts"
import { wireMessage as describeError } from "../src/adapters/http/ErrorMapping.ts"
import type { AccountId, HoldId } from "../src/domain/Ids.ts"
import type { AdapterSet } from "./support/AdapterSet.ts"
import { accounts, bearer, makeGateway, seedWorld, WORLD } from "./support/Harness.ts"
import { promptFor } from "./support/ScriptedProvider.ts"
import { type Credentials, generateAs, headersOf } from "./support/Calls.ts"

const UNICORN = { prompt: "A unicorn with a magic wand", model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 }

const generate = (credentials: Credentials, body: unknown, idempotencyKey?: string) => generateAs(credentials, body, idempotencyKey)

const posted = (account: AccountId) => CreditLedger.use((l) => Effect.map(l.balance(account), (b) => b.posted))
const journalOf = (account: AccountId) => CreditLedger.use((l) => l.history(account))
const allBalances = LedgerStore.use((s) => s.balances)

/** The generation flow (SPEC §6) and the incident report's scenarios (SPEC §11). */
export const imageGenerationSuite = (adapters: AdapterSet) =>
  describe(`ImageGeneration [${adapters.name}]`, () => {
    type R = ImageGeneration | PrincipalResolver | GatewayPolicy | CreditLedger | LedgerStore | UsageLog | ImageStore | Provisioning
    const world = (options: Parameters<typeof makeGateway>[1] = {}) => {
      const gateway = makeGateway(adapters, options)
      const run = <A, E>(effect: Effect.Effect<A, E, R>) =>
        Effect.runPromise(Effect.gen(function*() {
          yield* seedWorld
          return yield* effect
        }).pipe(Effect.provide(gateway.layer)))
      return { run, calls: gateway.calls }
    }
    const run = <A, E>(effect: Effect.Effect<A, E, R>) => world().run(effect)

    describe("the incident report's scenarios", () => {
      it("1: a service key without X-User-ID gets one image, billed to the service's organization, no user touched", () =>
        run(Effect.gen(function*() {
          const before = yield* allBalances
          const r = yield* generate(bearer(WORLD.presentonKey), UNICORN)
          expect(r.body.data).toHaveLength(1)
          expect(r.chargedMillicredits).toBe(48_000)
          expect(r.body._metadata).toMatchObject({
            cost_incurred: 48,
            credits_remaining: 9952,
            billed_to: "org_presenton_service",
            user_tier: "managed",
            using_byok: false,
            byok_provider: null,
            images_generated: 1,
            provider_used: "local"
          })
          expect(yield* posted(accounts.presentonOrg)).toBe(10_000_000 - 48_000)
          const after = yield* allBalances
          const changed = after.filter((b) => before.find((x) => x.account === b.account)?.posted !== b.posted)
          expect(changed.map((b) => b.account).sort()).toEqual(["org_presenton_service", "system:revenue"])
        })))

      it("2: a service key with X-User-ID bills that user and leaves the organization untouched", () =>
        run(Effect.gen(function*() {
          const r = yield* generate({ ...bearer(WORLD.presentonKey), userId: WORLD.alice.id }, UNICORN)
          expect(r.body._metadata).toMatchObject({ cost_incurred: 48, credits_remaining: 952, billed_to: WORLD.alice.id, user_tier: "professional" })
          expect(yield* posted(accounts.alice)).toBe(952_000)
          expect(yield* posted(accounts.presentonOrg)).toBe(10_000_000)
        })))

      it("3: a user API key bills the user; a BYOK user is charged nothing and no entry is made", () =>
        run(Effect.gen(function*() {
          const alice = yield* generate(bearer(WORLD.alice.key), UNICORN)
          expect(alice.body._metadata.billed_to).toBe(WORLD.alice.id)
          expect(yield* posted(accounts.alice)).toBe(952_000)
          const bob = yield* generate(bearer(WORLD.bob.key), UNICORN)
          expect(bob.chargedMillicredits).toBe(0)
          expect(bob.body._metadata).toMatchObject({ using_byok: true, byok_provider: "openai", cost_incurred: 0, transaction_id: null })
          expect(yield* journalOf(accounts.bob)).toEqual([])
        })))

      it("4: every registered service generates without X-User-ID", () =>
        run(Effect.gen(function*() {
          for (const name of ["presenton-service", "bolt-diy-service", "brigade-service", "centerdeep-service"]) {
            const r = yield* generate(bearer(`sk-${name}-key-2025`), UNICORN)
            expect(r.body._metadata.billed_to).toBe(`org_${name.replaceAll("-", "_")}`)
          }
        })))

      it("5: an unknown service key is refused with a clear message and nothing moves", () =>
        run(Effect.gen(function*() {
          const before = yield* allBalances
          const e = yield* Effect.flip(generate(bearer("sk-unknown-service-key-2025"), UNICORN))
          expect(e._tag).toBe("InvalidApiKey")
          expect(describeError(e)).toMatch(/not recognised/)
          expect(yield* allBalances).toEqual(before)
        })))

      it("6: applies the organization's tier markup to its price", () =>
        run(Effect.gen(function*() {
          const hd = yield* generate(bearer(WORLD.presentonKey), { ...UNICORN, quality: "hd", size: "1792x1024" })
          expect(hd.chargedMillicredits).toBe(144_000) // 120 × 1.2
          // Tier multipliers: vip_founder pays list price (×1.0), professional ×1.2, free ×1.5.
          const vip = yield* Effect.flip(generate(bearer(WORLD.vip.key), { prompt: "x", model: "local" }))
          expect(vip).toMatchObject({ _tag: "InsufficientCredits", required: 1000 })
          expect((yield* generate(bearer(WORLD.alice.key), { prompt: "x", model: "local" })).chargedMillicredits).toBe(1200)
          const bob = yield* Effect.flip(generate(bearer(WORLD.bob.key), { prompt: "x", model: "local" }))
          expect(bob).toMatchObject({ _tag: "InsufficientCredits", required: 1500 })
        })))

      it("7: logs the service's usage, and refuses a request it cannot afford with balance and cost", () =>
        run(Effect.gen(function*() {
          yield* generate(bearer(WORLD.presentonKey), UNICORN)
          const events = yield* UsageLog.use((u) => u.list({ service: "presenton-service" }))
          expect(events[0]).toMatchObject({
            actorKind: "service",
            actor: "presenton-service",
            payer: "org_presenton_service",
            model: "dall-e-3",
            costMillicredits: 48_000,
            mode: "billed",
            outcome: "success",
            authMethod: "service_key"
          })
          // Carol (starter, 500 credits) can afford three HD landscape images at 144 credits each.
          const hd = { ...UNICORN, quality: "hd", size: "1792x1024" }
          for (let i = 0; i < 3; i++) yield* generate(bearer(WORLD.carol.key), hd)
          const refused = yield* Effect.flip(generate(bearer(WORLD.carol.key), hd))
          expect(refused).toMatchObject({ _tag: "InsufficientCredits", account: WORLD.carol.id, required: 144_000, available: 68_000 })
          expect(describeError(refused)).toContain("68 credits available")
          expect(describeError(refused)).toContain("costs 144 credits")
        })))

      it("8: a service whose policy requires X-User-ID is refused without it, and nothing moves", () =>
        run(Effect.gen(function*() {
          const before = yield* allBalances
          const e = yield* Effect.flip(generate(bearer(WORLD.strict.key), UNICORN))
          expect(e._tag).toBe("MissingUserContext")
          expect(yield* allBalances).toEqual(before)
        })))
    })

    describe("billing modes", () => {
      it("charges nothing and makes no entry for a credit-exempt tier", () =>
        world({ policy: { tiers: { multipliersBps: {}, defaultMultiplierBps: 12000, creditExempt: ["vip_founder"], billingEnabled: true } } }).run(
          Effect.gen(function*() {
            const r = yield* generate(bearer(WORLD.vip.key), UNICORN)
            expect(r.chargedMillicredits).toBe(0)
            expect(r.body._metadata.transaction_id).toBeNull()
            expect(yield* journalOf(accounts.vip)).toEqual([])
          })
        ))

      it("charges nobody when billing is switched off globally", () =>
        world({ policy: { tiers: { multipliersBps: {}, defaultMultiplierBps: 12000, creditExempt: [], billingEnabled: false } } }).run(
          Effect.gen(function*() {
            const r = yield* generate(bearer(WORLD.presentonKey), UNICORN)
            expect(r.chargedMillicredits).toBe(0)
            expect(yield* posted(accounts.presentonOrg)).toBe(10_000_000)
          })
        ))

      it("passes the payer's own key to the provider that serves the model", () => {
        const w = world()
        return w.run(Effect.gen(function*() {
          yield* generate(bearer(WORLD.bob.key), UNICORN)
          yield* generate(bearer(WORLD.bob.key), { prompt: "x", model: "google/gemini-2.5-flash-image" })
          yield* generate(bearer(WORLD.alice.key), UNICORN)
          expect(w.calls.map((c) => c.apiKey)).toEqual([WORLD.bobOpenAiKey, WORLD.bobOpenRouterKey, undefined])
        }))
      })

      it("bills a user's organization when it bills its members", () =>
        run(Effect.gen(function*() {
          const r = yield* generate(bearer(WORLD.member.key), UNICORN)
          expect(r.body._metadata.billed_to).toBe("org_acme")
          expect(yield* posted(accounts.acme)).toBe(2_000_000 - 48_000)
          expect(yield* journalOf(accounts.member)).toEqual([])
        })))

      it("refuses a request over the payer's monthly cap", () =>
        run(Effect.gen(function*() {
          yield* generate(bearer(WORLD.capped.key), UNICORN)
          yield* generate(bearer(WORLD.capped.key), UNICORN)
          const e = yield* Effect.flip(generate(bearer(WORLD.capped.key), UNICORN))
          expect(e).toMatchObject({ _tag: "MonthlyCapExceeded", cap: 100_000, spent: 96_000, required: 48_000 })
        })))
    })

    describe("provider outcomes", () => {
      for (const outcome of ["unavailable", "rate_limited", "timeout", "malformed", "rejected"] as const) {
        it(`releases the hold and posts no debit when the provider fails (${outcome})`, () =>
          run(Effect.gen(function*() {
            const e = yield* Effect.flip(generate(bearer(WORLD.alice.key), { ...UNICORN, prompt: promptFor(outcome) }))
            expect(e._tag).toMatch(/^Provider/)
            expect(yield* CreditLedger.use((l) => l.balance(accounts.alice))).toMatchObject({ posted: 1_000_000, pending: 0 })
            const [event] = yield* UsageLog.use((u) => u.list({ payer: accounts.alice }))
            expect(event).toMatchObject({ outcome: e._tag, costMillicredits: 0, images: 0 })
          })))
      }

      it("settles only for the images actually returned", () =>
        run(Effect.gen(function*() {
          const r = yield* generate(bearer(WORLD.alice.key), { prompt: promptFor("partial", "x", 2), model: "dall-e-2", size: "256x256", n: 5 })
          expect(r.body.data).toHaveLength(2)
          expect(r.chargedMillicredits).toBe(38_400) // ceil(16 000 × 2 × 12000 / 10000); 96 000 was held for n = 5
          expect(yield* posted(accounts.alice)).toBe(1_000_000 - r.chargedMillicredits)
        })))

      it("gives up on a provider that does not answer in time, releasing the hold", () =>
        world({ policy: { providerTimeoutMs: 30 } }).run(Effect.gen(function*() {
          const e = yield* Effect.flip(generate(bearer(WORLD.alice.key), { ...UNICORN, prompt: "slow [hang]" }))
          expect(e).toMatchObject({ _tag: "ProviderTimeout", timeoutMs: 30 })
          expect(yield* CreditLedger.use((l) => l.balance(accounts.alice))).toMatchObject({ posted: 1_000_000, pending: 0 })
        })))

      it("releases the hold when the request is interrupted mid-call", () =>
        run(Effect.gen(function*() {
          const fiber = yield* Effect.forkChild(generate(bearer(WORLD.alice.key), { ...UNICORN, prompt: "slow [hang]" }))
          yield* Effect.sleep("20 millis")
          expect((yield* CreditLedger.use((l) => l.balance(accounts.alice))).pending).toBe(48_000)
          yield* Fiber.interrupt(fiber)
          expect(yield* CreditLedger.use((l) => l.balance(accounts.alice))).toMatchObject({ posted: 1_000_000, pending: 0 })
        })))
    })

    describe("responses", () => {
      it("returns real PNGs of the requested size, as URLs for DALL·E by default and base64 on request", () =>
        run(Effect.gen(function*() {
          const byUrl = yield* generate(bearer(WORLD.alice.key), UNICORN)
          const url = byUrl.body.data[0]!.url!
          expect(url).toMatch(/^http:\/\/gateway\.test\/v1\/images\/files\/[0-9a-f]{32}\.png$/)
          const id = url.split("/").pop()!.replace(".png", "")
          const stored = yield* ImageStore.use((s) => s.get(id, Date.now()))
          expect(pngDimensions(Option.getOrThrow(stored).bytes)).toEqual({ width: 1024, height: 1024 })
          expect(Option.isNone(yield* ImageStore.use((s) => s.get(id, Date.now() + 61 * 60_000)))).toBe(true)
          const b64 = yield* generate(bearer(WORLD.alice.key), { ...UNICORN, size: "1792x1024", response_format: "b64_json" })
          expect(pngDimensions(Buffer.from(b64.body.data[0]!.b64_json!, "base64"))).toEqual({ width: 1792, height: 1024 })
        })))

      it("answers gpt-image models in base64 only", () =>
        run(Effect.gen(function*() {
          const r = yield* generate(bearer(WORLD.alice.key), { prompt: "x", model: "gpt-image-1", quality: "low", size: "1024x1024" })
          expect(r.body.data[0]!.b64_json).toBeDefined()
          expect(r.chargedMillicredits).toBe(13_200) // 11 × 1.2
          const e = yield* Effect.flip(generate(bearer(WORLD.alice.key), { prompt: "x", model: "gpt-image-1", response_format: "url" }))
          expect(e).toMatchObject({ _tag: "InvalidRequest", param: "response_format" })
        })))
    })

    describe("idempotency", () => {
      it("replays a retried request with the same Idempotency-Key without a second charge", () =>
        run(Effect.gen(function*() {
          const first = yield* generate(bearer(WORLD.alice.key), UNICORN, "key-1")
          const again = yield* generate(bearer(WORLD.alice.key), UNICORN, "key-1")
          expect(again.replayed).toBe(true)
          expect(again.chargedMillicredits).toBe(0)
          expect(again.body).toEqual(first.body)
          expect(yield* posted(accounts.alice)).toBe(952_000)
        })))

      it("refuses the same Idempotency-Key with a different body", () =>
        run(Effect.gen(function*() {
          yield* generate(bearer(WORLD.alice.key), UNICORN, "key-1")
          const e = yield* Effect.flip(generate(bearer(WORLD.alice.key), { ...UNICORN, prompt: "another" }, "key-1"))
          expect(e).toMatchObject({ _tag: "IdempotencyConflict", reason: "different_content" })
          expect(yield* posted(accounts.alice)).toBe(952_000)
        })))

      it("replays without a charge for the whole 24 hours, and takes the key as new after them", () =>
        run(Effect.gen(function*() {
          const DAY = 24 * 60 * 60_000
          yield* TestClock.setTime(Date.UTC(2026, 2, 10, 9, 30))
          const first = yield* generate(bearer(WORLD.alice.key), UNICORN, "day-key")
          expect(first.chargedMillicredits).toBe(48_000)
          yield* TestClock.adjust(DAY - 1_000)
          const late = yield* generate(bearer(WORLD.alice.key), UNICORN, "day-key")
          expect(late.replayed).toBe(true)
          expect(late.chargedMillicredits).toBe(0)
          expect(late.body).toEqual(first.body)
          expect(yield* posted(accounts.alice)).toBe(952_000)
          // Within the day a different body is still a conflict, and costs nothing.
          const conflict = yield* Effect.flip(generate(bearer(WORLD.alice.key), { ...UNICORN, prompt: "another" }, "day-key"))
          expect(conflict).toMatchObject({ _tag: "IdempotencyConflict", reason: "different_content" })
          yield* TestClock.adjust(2_000)
          const fresh = yield* generate(bearer(WORLD.alice.key), UNICORN, "day-key")
          expect(fresh.replayed).toBe(false)
          expect(fresh.chargedMillicredits).toBe(48_000)
          expect(fresh.body._metadata.transaction_id).not.toBe(first.body._metadata.transaction_id)
          expect(yield* posted(accounts.alice)).toBe(904_000)
          // …and that new request is replayed in turn.
          const again = yield* generate(bearer(WORLD.alice.key), UNICORN, "day-key")
          expect(again).toMatchObject({ replayed: true, chargedMillicredits: 0 })
          expect(yield* posted(accounts.alice)).toBe(904_000)
        }).pipe(Effect.provide(TestClock.layer()))))

      it("takes over a claim a dead process left running once it is stale, charges the request once, and the dead attempt can complete nothing", () =>
        run(Effect.gen(function*() {
          yield* TestClock.setTime(Date.UTC(2026, 2, 10, 9, 30))
          const policy = yield* GatewayPolicy
          const claims = yield* IdempotencyStore
          // What a process that died mid-request leaves behind: the request's claim, running.
          const read = readGenerationCall(yield* PrincipalResolver, policy)
          const call = yield* read(headersOf(bearer(WORLD.alice.key), "lost-key"), UNICORN)
          const scope = call.principal.payer.account
          const fingerprint = yield* requestFingerprint(yield* Digest.Digest, call.principal, call.request)
          const now = yield* Clock.currentTimeMillis
          const dead = "0190d0a4-0000-7000-8000-000000000000"
          yield* claims.begin({ scope, key: "lost-key", fingerprint, now, expiresAt: now + policy.idempotencyTtlMs, attempt: dead })
          // …and the hold it made, named after its attempt, for 48 credits.
          const ledger = yield* CreditLedger
          yield* ledger.reserve({ id: `hold_${dead}` as HoldId, account: accounts.alice, amount: 48_000, ttlMs: policy.holdTtlMs })

          // Within the provider's deadline and the margin, the claim may still be alive: 409.
          yield* TestClock.adjust(policy.providerTimeoutMs)
          const early = yield* Effect.flip(generate(bearer(WORLD.alice.key), UNICORN, "lost-key"))
          expect(early).toMatchObject({ _tag: "IdempotencyConflict", reason: "in_progress" })
          expect(yield* posted(accounts.alice)).toBe(1_000_000)

          // Stale: the retry takes the claim over, and is charged once.
          yield* TestClock.adjust(10_001)
          const taken = yield* generate(bearer(WORLD.alice.key), UNICORN, "lost-key")
          expect(taken).toMatchObject({ replayed: false, chargedMillicredits: 48_000 })
          expect(yield* posted(accounts.alice)).toBe(952_000)
          // The dead attempt's hold went back at the takeover, not at its expiry.
          expect(Option.getOrThrow(yield* LedgerStore.use((s) => s.hold(`hold_${dead}` as HoldId))).status).toBe("released")
          expect((yield* ledger.balance(accounts.alice)).pending).toBe(0)
          // The dead attempt, were it to come back, owns nothing.
          expect(yield* claims.complete({ scope, key: "lost-key", attempt: dead, response: {} })).toBe(false)
          const again = yield* generate(bearer(WORLD.alice.key), UNICORN, "lost-key")
          expect(again).toMatchObject({ replayed: true, chargedMillicredits: 0 })
          expect(again.body).toEqual(taken.body)
          expect(yield* posted(accounts.alice)).toBe(952_000)
        }).pipe(Effect.provide(TestClock.layer())) as Effect.Effect<void, unknown, R>))

      it("scopes keys to the payer, and lets a failed request be retried with its key", () =>
        run(Effect.gen(function*() {
          yield* generate(bearer(WORLD.alice.key), UNICORN, "shared")
          const carol = yield* generate(bearer(WORLD.carol.key), UNICORN, "shared")
          expect(carol.replayed).toBe(false)
          yield* Effect.flip(generate(bearer(WORLD.alice.key), { ...UNICORN, prompt: promptFor("unavailable") }, "retry-me"))
          const e = yield* Effect.flip(generate(bearer(WORLD.alice.key), { ...UNICORN, prompt: promptFor("unavailable") }, "retry-me"))
          expect(e._tag).toBe("ProviderUnavailable")
        })))
    })

    describe("sessions", () => {
      const sessionOf = (user: typeof WORLD.carol.id, ttlMs = 60_000) =>
        Effect.map(Provisioning.use((p) => p.createSession(user, ttlMs)), (token) => ({ sessionToken: Redacted.value(token) }))

      it("bills a session's user, and a member's session to the organization that bills its members", () =>
        run(Effect.gen(function*() {
          const before = yield* allBalances
          const carol = yield* generate(yield* sessionOf(WORLD.carol.id), UNICORN)
          expect(carol.body._metadata).toMatchObject({ billed_to: WORLD.carol.id, cost_incurred: 48, user_tier: "starter" })
          expect(yield* posted(accounts.carol)).toBe(500_000 - 48_000)
          const member = yield* generate(yield* sessionOf(WORLD.member.id), UNICORN)
          expect(member.body._metadata.billed_to).toBe("org_acme")
          const after = yield* allBalances
          const changed = after.filter((b) => before.find((x) => x.account === b.account)?.posted !== b.posted)
          expect(changed.map((b) => b.account).sort()).toEqual([accounts.carol, "org_acme", "system:revenue"].sort())
          const [event] = yield* UsageLog.use((u) => u.list({ payer: accounts.carol }))
          expect(event).toMatchObject({ authMethod: "session", actorKind: "user", actor: WORLD.carol.id })
        })))

      it("refuses the session of a suspended user, an expired and an unknown session, and nothing moves", () => {
        const w = world()
        return w.run(Effect.gen(function*() {
          const before = yield* allBalances
          const suspended = yield* Effect.flip(generate(yield* sessionOf(WORLD.suspended.id), UNICORN))
          expect(suspended).toMatchObject({ _tag: "AccountSuspended", user: WORLD.suspended.id })
          const byKey = yield* Effect.flip(generate(bearer(WORLD.suspended.key), UNICORN))
          expect(suspended).toEqual(byKey)
          const expired = yield* Effect.flip(generate(yield* sessionOf(WORLD.carol.id, -1), UNICORN))
          expect(expired).toMatchObject({ _tag: "InvalidSession", state: "expired" })
          const unknown = yield* Effect.flip(generate({ sessionToken: "sess_not-a-session-0123456789" }, UNICORN))
          expect(unknown).toMatchObject({ _tag: "InvalidSession", state: "unknown" })
          expect(yield* allBalances).toEqual(before)
          expect(w.calls).toHaveLength(0)
        }))
      })
    })

    describe("bad input changes nothing", () => {
      const cases: ReadonlyArray<[string, unknown, string | null]> = [
        ["a missing prompt", { model: "dall-e-3" }, "prompt"],
        ["a prompt of the wrong type", { prompt: 42 }, "prompt"],
        ["an empty prompt", { prompt: "   " }, "prompt"],
        ["a prompt over the model's limit", { prompt: "x".repeat(1001), model: "dall-e-2" }, "prompt"],
        ["n of the wrong type", { prompt: "x", n: "two" }, "n"],
        ["n out of range", { prompt: "x", n: 11, model: "dall-e-2" }, "n"],
        ["n > 1 for dall-e-3", { prompt: "x", n: 2 }, "n"],
        ["a fractional n", { prompt: "x", n: 1.5, model: "dall-e-2" }, "n"],
        ["an unsupported size", { prompt: "x", size: "999x999" }, "size"],
        ["an unsupported quality", { prompt: "x", quality: "ultra" }, "quality"],
        ["an unsupported style", { prompt: "x", style: "cubist" }, "style"],
        ["an unknown response_format", { prompt: "x", response_format: "jpeg" }, "response_format"],
        ["output_format for DALL·E", { prompt: "x", output_format: "png" }, "output_format"],
        ["a body that is not an object", ["prompt"], null]
      ]
      for (const [what, body, param] of cases) {
        it(`rejects ${what}, naming the parameter`, () =>
          run(Effect.gen(function*() {
            const before = yield* allBalances
            const e = yield* Effect.flip(generate(bearer(WORLD.alice.key), body))
            expect(e).toMatchObject({ _tag: "InvalidRequest", param })
            expect(describeError(e).length).toBeGreaterThan(10)
            expect(yield* allBalances).toEqual(before)
          })))
      }

      it("rejects an unknown model, listing the models there are", () =>
        run(Effect.gen(function*() {
          const e = yield* Effect.flip(generate(bearer(WORLD.alice.key), { prompt: "x", model: "dall-e-9" }))
          expect(e._tag).toBe("UnknownModel")
          expect(describeError(e)).toContain("dall-e-3")
        })))

      it("ignores unknown fields", () =>
        run(Effect.gen(function*() {
          const r = yield* generate(bearer(WORLD.alice.key), { ...UNICORN, stream: false, whatever: { a: 1 } })
          expect(r.body.data).toHaveLength(1)
        })))
    })
  })
