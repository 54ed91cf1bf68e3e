import { describe, expect } from "@effect/vitest"
import { Effect, Option } from "effect"
import { type PricingData, PricingStore } from "../../src/application/ports/PricingStore.ts"
import { DEFAULT_PRICES } from "../../src/domain/Pricing.ts"
import { defaultTierPolicy } from "../../src/domain/Tier.ts"
import { type PortAdapter, portTest } from "./PortAdapter.ts"

/** Epoch ms in 2100: beyond 32 bits. */
const T0 = 4_102_444_800_000

const defaults: PricingData = { prices: DEFAULT_PRICES, tiers: defaultTierPolicy }

/** Every field changed from the defaults: a price, a multiplier, an exemption and the switch. */
const changed: PricingData = {
  prices: [...DEFAULT_PRICES.filter((r) => r.model !== "local"), { model: "local", quality: "*", size: "*", millicredits: 2_500 }],
  tiers: {
    multipliersBps: { free: 20_000, managed: 11_000, vip_founder: 10_000, enterprise: 9_000 },
    defaultMultiplierBps: 12_500,
    creditExempt: ["vip_founder"],
    billingEnabled: false
  }
}

const variant = (i: number): PricingData => ({
  prices: [{ model: "local", quality: "*", size: "*", millicredits: 1_000 + i }],
  tiers: { ...defaultTierPolicy, defaultMultiplierBps: 10_000 + i }
})

/** The PricingStore port's contract: one versioned pricing value, changed only on the version it was read at. */
export const pricingStoreSuite = (adapter: PortAdapter<PricingStore>) =>
  describe(`PricingStore [${adapter.name}]`, () => {
    const test = portTest(PricingStore, adapter)

    test("holds nothing before it is seeded: no pricing, version 0", (store) =>
      Effect.gen(function*() {
        expect(yield* store.load).toEqual(Option.none())
        expect(yield* store.version).toBe(0)
      }))

    test("seeds the given data as version 1 and reads it back exactly", (store) =>
      Effect.gen(function*() {
        const seeded = yield* store.seed(defaults, T0)
        expect(seeded).toStrictEqual({ version: 1, data: defaults, updatedAt: T0 })
        expect(yield* store.load).toStrictEqual(Option.some(seeded))
        expect(yield* store.version).toBe(1)
      }))

    test("keeps what is stored when seeded again, and answers that", (store) =>
      Effect.gen(function*() {
        yield* store.seed(defaults, T0)
        const saved = Option.getOrThrow(yield* store.save({ data: changed, expected: 1, at: T0 + 10 }))
        expect(yield* store.seed(defaults, T0 + 20)).toStrictEqual(saved)
        expect(yield* store.load).toStrictEqual(Option.some({ version: 2, data: changed, updatedAt: T0 + 10 }))
      }))

    test("saves on the version it was read at as the next version, every field of the data kept", (store) =>
      Effect.gen(function*() {
        yield* store.seed(defaults, T0)
        const saved = yield* store.save({ data: changed, expected: 1, at: T0 + 5 })
        expect(saved).toStrictEqual(Option.some({ version: 2, data: changed, updatedAt: T0 + 5 }))
        expect(yield* store.load).toStrictEqual(saved)
        expect(yield* store.version).toBe(2)
        const again = yield* store.save({ data: defaults, expected: 2, at: T0 + 6 })
        expect(again).toStrictEqual(Option.some({ version: 3, data: defaults, updatedAt: T0 + 6 }))
        expect(yield* store.version).toBe(3)
      }))

    test("refuses a save on a version that is no longer stored, and changes nothing", (store) =>
      Effect.gen(function*() {
        yield* store.seed(defaults, T0)
        yield* store.save({ data: changed, expected: 1, at: T0 + 1 })
        for (const stale of [0, 1, 3]) {
          expect(yield* store.save({ data: variant(stale), expected: stale, at: T0 + 2 })).toEqual(Option.none())
        }
        expect(yield* store.load).toStrictEqual(Option.some({ version: 2, data: changed, updatedAt: T0 + 1 }))
      }))

    test("saves on version 0 when nothing is stored (as version 1), and a later seed keeps it", (store) =>
      Effect.gen(function*() {
        expect(yield* store.save({ data: changed, expected: 1, at: T0 })).toEqual(Option.none())
        expect(yield* store.version).toBe(0)
        const saved = yield* store.save({ data: changed, expected: 0, at: T0 })
        expect(saved).toStrictEqual(Option.some({ version: 1, data: changed, updatedAt: T0 }))
        expect(yield* store.seed(defaults, T0 + 1)).toStrictEqual(Option.getOrThrow(saved))
      }))

    test("lets exactly one of several concurrent saves on the same version win; the others get none", (store) =>
      Effect.gen(function*() {
        yield* store.seed(defaults, T0)
        const results = yield* Effect.all(
          Array.from({ length: 8 }, (_, i) => store.save({ data: variant(i), expected: 1, at: T0 + i })),
          { concurrency: "unbounded" }
        )
        const winners = results.flatMap((r, i) => Option.isSome(r) ? [{ i, saved: r.value }] : [])
        expect(winners).toHaveLength(1)
        const [{ i, saved }] = winners as [(typeof winners)[0]]
        expect(saved).toStrictEqual({ version: 2, data: variant(i), updatedAt: T0 + i })
        expect(yield* store.load).toStrictEqual(Option.some(saved))
      }))

    test("gives every one of several concurrent seeds the same stored version 1", (store) =>
      Effect.gen(function*() {
        const results = yield* Effect.all(
          Array.from({ length: 6 }, (_, i) => store.seed(variant(i), T0 + i)),
          { concurrency: "unbounded" }
        )
        const stored = Option.getOrThrow(yield* store.load)
        expect(stored.version).toBe(1)
        expect(results).toStrictEqual(results.map(() => stored))
        expect(Array.from({ length: 6 }, (_, i) => variant(i))).toContainEqual(stored.data)
      }))
  })
