import { describe, expect } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import { ByokStore } from "../../src/application/ports/ByokStore.ts"
import type { ByokKey } from "../../src/domain/Entities.ts"
import type { AccountId } from "../../src/domain/Ids.ts"
import type { ProviderName } from "../../src/domain/Models.ts"
import { type PortAdapter, portTest } from "./PortAdapter.ts"

const alice = "7a6bfd31-0120-4a30-9e21-0fc3b8006579" as AccountId
const bob = "2f1c6a53-5d8e-4b7a-9a51-3c9e8f0b1d24" as AccountId
const acme = "org_acme" as AccountId

/** Epoch ms in 2100: beyond 32 bits, and still ahead of any clock an adapter might read (TestClock or real). */
const NOW = 4_102_444_800_000

const keyOf = (account: AccountId, id: string, provider: ProviderName, secret: string, enabled = true): ByokKey => ({
  id,
  account,
  provider,
  secret: Redacted.make(secret),
  last4: secret.slice(-4),
  enabled,
  createdAt: NOW
})

/** What a key is, with its secret opened: Redacted values never compare equal to each other. */
const opened = (k: ByokKey) => ({ ...k, secret: Redacted.value(k.secret) })
const secretOf = (found: Option.Option<Redacted.Redacted<string>>) => Option.map(found, Redacted.value)

/** The ByokStore port's contract: accounts' own provider keys, each account seeing only its own. */
export const byokStoreSuite = (adapter: PortAdapter<ByokStore>) =>
  describe(`ByokStore [${adapter.name}]`, () => {
    const test = portTest(ByokStore, adapter)

    test("adding a key under an account and id already stored keeps the first, also when added at once", (byok) =>
      Effect.gen(function*() {
        const first = keyOf(alice, "byok_same", "openai", "sk-first-secret-0001")
        yield* byok.add(first)
        yield* byok.add(keyOf(alice, "byok_same", "openrouter", "sk-or-second-secret-0002"))
        yield* Effect.all(Array.from({ length: 6 }, (_, i) => byok.add(keyOf(bob, "byok_race", "openai", `sk-race-${i}-secret`))), {
          concurrency: "unbounded"
        })
        expect((yield* byok.list(alice)).map(opened)).toStrictEqual([opened(first)])
        expect(yield* byok.list(bob)).toHaveLength(1)
      }))

    test("has no key for an account that added none", (byok) =>
      Effect.gen(function*() {
        expect(yield* byok.findEnabled(alice, "openai")).toEqual(Option.none())
        expect(yield* byok.list(alice)).toEqual([])
      }))

    test("gives back the very secret it was given, and lists the key with every field", (byok) =>
      Effect.gen(function*() {
        // Non-ASCII, quotes and separators: the secret must come back byte for byte.
        const secret = "sk-proj-Ünïcødé-\"quoted\"\u0000-🔑-0123456789abcdef"
        const key = { ...keyOf(bob, "byok_one", "openai", secret), createdAt: NOW + 123 }
        yield* byok.add(key)
        expect(secretOf(yield* byok.findEnabled(bob, "openai"))).toEqual(Option.some(secret))
        const listed = yield* byok.list(bob)
        expect(listed.map(opened)).toEqual([opened(key)])
        expect(Redacted.isRedacted(listed[0]!.secret)).toBe(true)
      }))

    test("finds an enabled key only for its own account and provider", (byok) =>
      Effect.gen(function*() {
        yield* byok.add(keyOf(bob, "k1", "openrouter", "sk-or-v1-bob-0001"))
        expect(secretOf(yield* byok.findEnabled(bob, "openrouter"))).toEqual(Option.some("sk-or-v1-bob-0001"))
        expect(yield* byok.findEnabled(bob, "openai")).toEqual(Option.none())
        expect(yield* byok.findEnabled(alice, "openrouter")).toEqual(Option.none())
      }))

    test("keeps accounts apart even when their keys share an id", (byok) =>
      Effect.gen(function*() {
        yield* byok.add(keyOf(alice, "shared-id", "openai", "sk-alice-secret-aaaa"))
        yield* byok.add(keyOf(bob, "shared-id", "openai", "sk-bob-secret-bbbb"))
        yield* byok.add(keyOf(acme, "acme-only", "openai", "sk-acme-secret-cccc"))
        expect(secretOf(yield* byok.findEnabled(alice, "openai"))).toEqual(Option.some("sk-alice-secret-aaaa"))
        expect(secretOf(yield* byok.findEnabled(bob, "openai"))).toEqual(Option.some("sk-bob-secret-bbbb"))
        expect((yield* byok.list(alice)).map(opened)).toEqual([opened(keyOf(alice, "shared-id", "openai", "sk-alice-secret-aaaa"))])
        expect((yield* byok.list(bob)).map((k) => [k.id, Redacted.value(k.secret)])).toEqual([["shared-id", "sk-bob-secret-bbbb"]])

        // One account acting on an id it does not own changes nothing of the owner's.
        expect(yield* byok.setEnabled(alice, "acme-only", false)).toBe(false)
        expect(yield* byok.remove(bob, "acme-only")).toBe(false)
        expect(secretOf(yield* byok.findEnabled(acme, "openai"))).toEqual(Option.some("sk-acme-secret-cccc"))
        expect(yield* byok.remove(alice, "shared-id")).toBe(true)
        expect(secretOf(yield* byok.findEnabled(bob, "openai"))).toEqual(Option.some("sk-bob-secret-bbbb"))
        expect(yield* byok.findEnabled(alice, "openai")).toEqual(Option.none())
      }))

    test("skips a disabled key, and uses it again once re-enabled", (byok) =>
      Effect.gen(function*() {
        yield* byok.add(keyOf(bob, "k1", "openai", "sk-bob-disabled-0001", false))
        expect(yield* byok.findEnabled(bob, "openai")).toEqual(Option.none())
        expect((yield* byok.list(bob)).map((k) => k.enabled)).toEqual([false])
        expect(yield* byok.setEnabled(bob, "k1", true)).toBe(true)
        expect(secretOf(yield* byok.findEnabled(bob, "openai"))).toEqual(Option.some("sk-bob-disabled-0001"))
        expect(yield* byok.setEnabled(bob, "k1", false)).toBe(true)
        expect(yield* byok.findEnabled(bob, "openai")).toEqual(Option.none())
        expect((yield* byok.list(bob)).map((k) => k.enabled)).toEqual([false])
      }))

    test("uses the earliest added enabled key of a provider, falling back to the next when it is disabled", (byok) =>
      Effect.gen(function*() {
        yield* byok.add(keyOf(bob, "first", "openai", "sk-bob-first-0001"))
        yield* byok.add(keyOf(bob, "second", "openai", "sk-bob-second-0002"))
        expect(secretOf(yield* byok.findEnabled(bob, "openai"))).toEqual(Option.some("sk-bob-first-0001"))
        yield* byok.setEnabled(bob, "first", false)
        expect(secretOf(yield* byok.findEnabled(bob, "openai"))).toEqual(Option.some("sk-bob-second-0002"))
        expect((yield* byok.list(bob)).map((k) => [k.id, k.enabled])).toEqual([["first", false], ["second", true]])
      }))

    test("re-encrypting keys already under the current encryption key moves none, twice over, and every secret still opens", (byok) =>
      Effect.gen(function*() {
        yield* byok.add(keyOf(bob, "k1", "openai", "sk-bob-openai-reseal-0001"))
        yield* byok.add(keyOf(alice, "k1", "openrouter", "sk-or-alice-reseal-0002"))
        for (let run = 0; run < 2; run++) {
          const report = yield* byok.reseal
          expect({ ...report, currentKeyId: undefined }).toEqual({ currentKeyId: undefined, resealed: 0, alreadyCurrent: 2, unreadable: [] })
        }
        expect(secretOf(yield* byok.findEnabled(bob, "openai"))).toEqual(Option.some("sk-bob-openai-reseal-0001"))
        expect(secretOf(yield* byok.findEnabled(alice, "openrouter"))).toEqual(Option.some("sk-or-alice-reseal-0002"))
      }))

    test("removes a key once: true the first time, false after, and it is gone from list and look-up", (byok) =>
      Effect.gen(function*() {
        yield* byok.add(keyOf(bob, "k1", "openai", "sk-bob-openai-0001"))
        yield* byok.add(keyOf(bob, "k2", "openrouter", "sk-or-bob-0002"))
        expect(yield* byok.remove(bob, "k1")).toBe(true)
        expect(yield* byok.remove(bob, "k1")).toBe(false)
        expect(yield* byok.findEnabled(bob, "openai")).toEqual(Option.none())
        expect((yield* byok.list(bob)).map((k) => k.id)).toEqual(["k2"])
        expect(yield* byok.setEnabled(bob, "k1", true)).toBe(false)
        expect(yield* byok.findEnabled(bob, "openai")).toEqual(Option.none())
      }))
  })
