import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Logger, Option } from "effect"
import { TestClock } from "effect/testing"
import { GatewayPolicy, type GatewayPolicyShape } from "../../src/application/GatewayPolicy.ts"
import { PricingCatalog, type PricingChange } from "../../src/application/PricingCatalog.ts"
import { PricingStore, type VersionedPricing } from "../../src/application/ports/PricingStore.ts"
import { makeMemoryPricingStore } from "../../src/adapters/memory/MemoryPricingStore.ts"
import { DEFAULT_MODELS } from "../../src/domain/Models.ts"
import { basePrice, DEFAULT_PRICES } from "../../src/domain/Pricing.ts"
import { defaultTierPolicy } from "../../src/domain/Tier.ts"

/**
 * The memory adapter, shared by every catalog built on it, made to yield before each save (as a
 * database round trip does) so that concurrent saves really race, and to die on every call while
 * `broken` (as a store that cannot be reached does). It counts the saves attempted.
 */
const makeStore = () => {
  const memory = makeMemoryPricingStore()
  const state = { broken: false, saves: 0 }
  const up = <A>(effect: Effect.Effect<A>) => Effect.suspend(() => (state.broken ? Effect.die(new Error("store unreachable")) : effect))
  const service = PricingStore.of({
    seed: (data, at) => up(memory.seed(data, at)),
    load: up(memory.load),
    version: up(memory.version),
    save: (input) => up(Effect.andThen(Effect.yieldNow, Effect.suspend(() => (state.saves++, memory.save(input)))))
  })
  return { service, state, stored: () => Effect.runSync(Effect.map(memory.load, Option.getOrUndefined)) }
}

type Store = ReturnType<typeof makeStore>

/** A catalog of its own (its own refresh fiber, for as long as the test's scope) on `store`. */
const startCatalog = (store: Store, policy: Partial<GatewayPolicyShape> = {}, logger?: Logger.Logger<unknown, unknown>) =>
  Effect.map(
    Layer.build(
      Layer.fresh(PricingCatalog.layer).pipe(
        Layer.provide(Layer.mergeAll(
          Layer.succeed(PricingStore, store.service),
          GatewayPolicy.layer(policy),
          logger === undefined ? Layer.empty : Logger.layer([logger])
        ))
      )
    ),
    Context.get(PricingCatalog)
  )

const dalle3 = DEFAULT_MODELS.find((m) => m.id === "dall-e-3")!
const unicornPrice = (pricing: VersionedPricing) => basePrice(pricing.data.prices, dalle3, "standard", "1024x1024")

const failureOf = <A, E>(exit: Exit.Exit<A, E>): E => {
  if (Exit.isSuccess(exit)) throw new Error(`expected a failure, got ${JSON.stringify(exit.value)}`)
  const error = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (error === undefined || error._tag !== "Fail") throw new Error("expected a typed failure")
  return error.error
}

describe("PricingCatalog", () => {
  it.effect("seeds the store with the policy's prices and tiers on the first start, and keeps what is stored on the next", () =>
    Effect.gen(function*() {
      const store = makeStore()
      const first = yield* startCatalog(store)
      const seeded = yield* first.current
      assert.strictEqual(seeded.version, 1)
      assert.deepStrictEqual(seeded.data, { prices: DEFAULT_PRICES, tiers: defaultTierPolicy })
      yield* first.update({ defaultMultiplierBps: 13000 })

      // Another instance with other defaults: the stored pricing wins.
      const second = yield* startCatalog(store, { tiers: { ...defaultTierPolicy, defaultMultiplierBps: 9000 } })
      const current = yield* second.current
      assert.strictEqual(current.version, 2)
      assert.strictEqual(current.data.tiers.defaultMultiplierBps, 13000)
    }))

  it.effect("applies an update on its own instance at once and returns the new version", () =>
    Effect.gen(function*() {
      const store = makeStore()
      const catalog = yield* startCatalog(store)
      const updated = yield* catalog.update({
        setPrices: [{ model: "dall-e-3", quality: "standard", size: "1024x1024", millicredits: 55_000 }],
        multipliersBps: { managed: 11000, free: null },
        creditExempt: ["enterprise"],
        billingEnabled: false
      })
      assert.strictEqual(updated.version, 2)
      const current = yield* catalog.current
      assert.deepStrictEqual(current, updated)
      assert.strictEqual(unicornPrice(current), 55_000)
      assert.deepStrictEqual(current.data.tiers, {
        multipliersBps: { managed: 11000, vip_founder: 10000 },
        defaultMultiplierBps: 12000,
        creditExempt: ["enterprise"],
        billingEnabled: false
      })
      // The replaced row keeps its place; nothing else in the table moved.
      assert.strictEqual(current.data.prices.length, DEFAULT_PRICES.length)
      assert.deepStrictEqual(current.data.prices.slice(1), DEFAULT_PRICES.slice(1))
      assert.deepStrictEqual(store.stored(), current)
    }))

  it.effect("adds a new price row at the end of the table and removes rows", () =>
    Effect.gen(function*() {
      const catalog = yield* startCatalog(makeStore())
      const updated = yield* catalog.update({
        setPrices: [{ model: "dall-e-3", quality: "*", size: "*", millicredits: 1 }],
        removePrices: [{ model: "local", quality: "*", size: "*" }]
      })
      assert.deepStrictEqual(updated.data.prices.at(-1), { model: "dall-e-3", quality: "*", size: "*", millicredits: 1 })
      assert.isFalse(updated.data.prices.some((r) => r.model === "local"))
      // The exact row still comes first for the size it names.
      assert.strictEqual(unicornPrice(updated), 40_000)
    }))

  it.effect("accepts every row of the default table as an update", () =>
    Effect.gen(function*() {
      const catalog = yield* startCatalog(makeStore())
      const updated = yield* catalog.update({ setPrices: DEFAULT_PRICES })
      assert.deepStrictEqual(updated.data.prices, DEFAULT_PRICES)
    }))

  it.effect("sets and removes provider routes; data stored without routes stays valid and shows none", () =>
    Effect.gen(function*() {
      const store = makeStore()
      const catalog = yield* startCatalog(store)
      assert.isUndefined((yield* catalog.current).data.routes)

      const routed = yield* catalog.update({ routes: { "dall-e-3": "local", "google/gemini-2.5-flash-image": "openai" } })
      assert.deepStrictEqual(routed.data.routes, { "dall-e-3": "local", "google/gemini-2.5-flash-image": "openai" })
      assert.deepStrictEqual(store.stored()?.data.routes, routed.data.routes)

      // Another change keeps the routes; null removes one route and leaves the others.
      const billed = yield* catalog.update({ billingEnabled: false })
      assert.deepStrictEqual(billed.data.routes, routed.data.routes)
      const cleared = yield* catalog.update({ routes: { "dall-e-3": null } })
      assert.deepStrictEqual(cleared.data.routes, { "google/gemini-2.5-flash-image": "openai" })
      assert.deepStrictEqual((yield* catalog.current).data.routes, { "google/gemini-2.5-flash-image": "openai" })
      assert.strictEqual(cleared.data.tiers.billingEnabled, false)
    }))

  const refused: ReadonlyArray<readonly [string, PricingChange, string | null, RegExp]> = [
    ["an empty change", {}, null, /empty/],
    ["an unknown model", { setPrices: [{ model: "dall-e-4", quality: "standard", size: "1024x1024", millicredits: 1 }] }, "setPrices[0].model", /dall-e-3/],
    ["a quality the model is not priced under", { setPrices: [{ model: "gpt-image-1", quality: "auto", size: "square", millicredits: 1 }] }, "setPrices[0].quality", /'low', 'medium', 'high'/],
    ["a size the model is not priced under", { setPrices: [{ model: "gpt-image-1", quality: "low", size: "1536x1024", millicredits: 1 }] }, "setPrices[0].size", /'square', 'rect'/],
    ["negative millicredits", { setPrices: [{ model: "local", quality: "*", size: "*", millicredits: -1 }] }, "setPrices[0].millicredits", /0 or more/],
    ["fractional millicredits", { setPrices: [{ model: "local", quality: "*", size: "*", millicredits: 1.5 }] }, "setPrices[0].millicredits", /whole number/],
    ["millicredits past the safe integers", { setPrices: [{ model: "local", quality: "*", size: "*", millicredits: 2 ** 53 }] }, "setPrices[0].millicredits", /whole number/],
    [
      "the same row twice",
      { setPrices: [{ model: "local", quality: "*", size: "*", millicredits: 1 }], removePrices: [{ model: "local", quality: "*", size: "*" }] },
      "removePrices[0]",
      /setPrices\[0\]/
    ],
    ["removing a row under a quality the model is not priced under", { removePrices: [{ model: "dall-e-2", quality: "hd", size: "*" }] }, "removePrices[0].quality", /'standard'/],
    ["removing a row that is not in the table", { removePrices: [{ model: "dall-e-2", quality: "*", size: "*" }] }, "removePrices[0]", /no price for dall-e-2/],
    ["a zero multiplier", { multipliersBps: { free: 0 } }, "multipliersBps.free", /from 1 to 1,000,000/],
    ["a multiplier past 1,000,000 bps", { multipliersBps: { free: 1_000_001 } }, "multipliersBps.free", /from 1 to 1,000,000/],
    ["a fractional multiplier", { defaultMultiplierBps: 12000.5 }, "defaultMultiplierBps", /integer number of basis points/],
    ["a tier name out of the pattern", { multipliersBps: { Free: 12000 } }, "multipliersBps", /'Free' is not a tier name/],
    ["an exempt tier name out of the pattern", { creditExempt: ["free", "vip founder"] }, "creditExempt[1]", /tier name/],
    ["a route for an unknown model", { routes: { "dall-e-3": "local", "dall-e-4": "openai" } }, "routes.dall-e-4", /not one of the gateway's models: .*'dall-e-3'/],
    ["a route to an unknown provider", { routes: { "dall-e-3": "anthropic" as never } }, "routes.dall-e-3", /'openai', 'openrouter', 'local', or null/],
    ["routes that are not a map", { routes: ["dall-e-3"] as never }, "routes", /map model ids to providers/]
  ]

  for (const [what, change, param, message] of refused) {
    it.effect(`refuses ${what} with InvalidRequest naming ${param ?? "no field"}, and stores nothing`, () =>
      Effect.gen(function*() {
        const store = makeStore()
        const catalog = yield* startCatalog(store)
        const error = failureOf(yield* Effect.exit(catalog.update(change)))
        assert.strictEqual(error._tag, "InvalidRequest")
        assert.strictEqual(error.param, param)
        assert.match(error.detail, message)
        assert.strictEqual(store.stored()?.version, 1)
        assert.strictEqual((yield* catalog.current).version, 1)
      }))
  }

  it.effect("a second catalog on the same store sees a change at its next refresh, not before", () =>
    Effect.gen(function*() {
      const store = makeStore()
      const one = yield* startCatalog(store)
      const two = yield* startCatalog(store)
      yield* one.update({ setPrices: [{ model: "dall-e-3", quality: "standard", size: "1024x1024", millicredits: 70_000 }] })

      assert.strictEqual(unicornPrice(yield* two.current), 40_000)
      yield* TestClock.adjust(999)
      assert.strictEqual(unicornPrice(yield* two.current), 40_000)
      yield* TestClock.adjust(1)
      const seen = yield* two.current
      assert.strictEqual(seen.version, 2)
      assert.strictEqual(unicornPrice(seen), 70_000)
    }))

  it.effect("refresh re-reads a moved store at once", () =>
    Effect.gen(function*() {
      const store = makeStore()
      const one = yield* startCatalog(store)
      const two = yield* startCatalog(store)
      yield* one.update({ billingEnabled: false })
      yield* two.refresh
      assert.isFalse((yield* two.current).data.tiers.billingEnabled)
    }))

  it.effect("refreshes at the policy's pricingRefreshMs", () =>
    Effect.gen(function*() {
      const store = makeStore()
      const one = yield* startCatalog(store)
      const two = yield* startCatalog(store, { pricingRefreshMs: 50 })
      yield* one.update({ billingEnabled: false })
      yield* TestClock.adjust(49)
      assert.isTrue((yield* two.current).data.tiers.billingEnabled)
      yield* TestClock.adjust(1)
      assert.isFalse((yield* two.current).data.tiers.billingEnabled)
    }))

  it.effect("two catalogs updating at the same time both land: the loser re-reads and applies its change on the winner's", () =>
    Effect.gen(function*() {
      const store = makeStore()
      const one = yield* startCatalog(store)
      const two = yield* startCatalog(store)
      const [a, b] = yield* Effect.all([
        one.update({ multipliersBps: { free: 16000 } }),
        two.update({ setPrices: [{ model: "local", quality: "*", size: "*", millicredits: 2_000 }] })
      ], { concurrency: "unbounded" })
      // Both saved from version 1; one lost and saved again.
      assert.deepStrictEqual([a.version, b.version].sort(), [2, 3])
      assert.strictEqual(store.state.saves, 3)
      const final = store.stored()!
      assert.strictEqual(final.version, 3)
      assert.strictEqual(final.data.tiers.multipliersBps["free"], 16000)
      assert.deepStrictEqual(final.data.prices.find((r) => r.model === "local")?.millicredits, 2_000)
      // The loser holds the final data at once; the winner, after its refresh.
      const loser = a.version === 3 ? one : two
      assert.deepStrictEqual(yield* loser.current, final)
      yield* TestClock.adjust(1000)
      assert.deepStrictEqual(yield* one.current, final)
      assert.deepStrictEqual(yield* two.current, final)
    }))

  it.effect("many concurrent updates from two catalogs: none is lost", () =>
    Effect.gen(function*() {
      const store = makeStore()
      const catalogs = [yield* startCatalog(store), yield* startCatalog(store)]
      const tiers = Array.from({ length: 8 }, (_, i) => `tier_${i}`)
      yield* Effect.all(
        tiers.map((tier, i) => catalogs[i % 2]!.update({ multipliersBps: { [tier]: 10_000 + i } })),
        { concurrency: "unbounded" }
      )
      const final = store.stored()!
      assert.strictEqual(final.version, 1 + tiers.length)
      for (const [i, tier] of tiers.entries()) assert.strictEqual(final.data.tiers.multipliersBps[tier], 10_000 + i)
    }))

  it.effect("one catalog saves its own concurrent updates one after another, each on the last", () =>
    Effect.gen(function*() {
      const store = makeStore()
      const catalog = yield* startCatalog(store)
      const tiers = Array.from({ length: 12 }, (_, i) => `tier_${i}`)
      yield* Effect.all(tiers.map((tier) => catalog.update({ multipliersBps: { [tier]: 11_000 } })), { concurrency: "unbounded" })
      assert.strictEqual(store.state.saves, tiers.length)
      assert.strictEqual((yield* catalog.current).version, 1 + tiers.length)
      for (const tier of tiers) assert.strictEqual(store.stored()!.data.tiers.multipliersBps[tier], 11_000)
    }))

  it.effect("a pricing read before a change keeps its prices: only later reads see the change", () =>
    Effect.gen(function*() {
      const catalog = yield* startCatalog(makeStore())
      const before = yield* catalog.current
      yield* catalog.update({ setPrices: [{ model: "dall-e-3", quality: "standard", size: "1024x1024", millicredits: 99_000 }] })
      assert.strictEqual(unicornPrice(before), 40_000)
      assert.strictEqual(unicornPrice(yield* catalog.current), 99_000)
    }))

  it.effect("keeps the last pricing read while the store fails, logging once per run of failures", () =>
    Effect.gen(function*() {
      const logs: Array<string> = []
      const logger = Logger.make((options) => void logs.push(`${options.logLevel}: ${String(options.message)}`))
      const store = makeStore()
      const one = yield* startCatalog(store)
      const two = yield* startCatalog(store, {}, logger)
      yield* one.update({ billingEnabled: false })
      yield* TestClock.adjust(1000)
      assert.isFalse((yield* two.current).data.tiers.billingEnabled)

      store.state.broken = true
      yield* TestClock.adjust(5000)
      assert.strictEqual(logs.filter((l) => l.startsWith("Warn")).length, 1)
      assert.match(logs[0]!, /pricing refresh failed/)
      assert.strictEqual((yield* two.current).version, 2)

      store.state.broken = false
      yield* one.update({ billingEnabled: true })
      yield* TestClock.adjust(1000)
      assert.isTrue((yield* two.current).data.tiers.billingEnabled)
      assert.strictEqual(logs.filter((l) => l.startsWith("Info")).length, 1)

      // A new run of failures is logged again.
      store.state.broken = true
      yield* TestClock.adjust(3000)
      assert.strictEqual(logs.filter((l) => l.startsWith("Warn")).length, 2)
    }))
})
