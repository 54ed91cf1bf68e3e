import { Context, Effect, Exit, Layer, Scope } from "effect"
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest"
import { GatewayPolicy } from "../../src/application/GatewayPolicy.ts"
import { PricingCatalog } from "../../src/application/PricingCatalog.ts"
import { PgPricingStore } from "../../src/adapters/postgres/PgPricingStore.ts"
import { DEFAULT_PRICES } from "../../src/domain/Pricing.ts"
import { defaultTierPolicy } from "../../src/domain/Tier.ts"
import { openTestDatabase, type TestDatabase } from "../../specs/support/postgres.ts"

let db: TestDatabase
const scope = Scope.makeUnsafe()
beforeAll(async () => {
  db = await openTestDatabase({ maxConnections: 8 })
})
afterAll(async () => {
  await Effect.runPromise(Scope.close(scope, Exit.void))
  await db?.close()
})
beforeEach(async () => {
  await Effect.runPromise(db.truncate)
})

/** A catalog of its own (as another gateway instance would have) on the test database. */
const startCatalog = () =>
  Effect.runPromise(
    Layer.buildWithScope(
      Layer.fresh(PricingCatalog.layer).pipe(
        Layer.provide(Layer.mergeAll(PgPricingStore, GatewayPolicy.layer())),
        Layer.provide(Layer.succeedContext(db.client))
      ),
      scope
    ).pipe(Effect.map(Context.get(PricingCatalog)))
  )

const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

it("seeds the defaults once: a second catalog on the database reads what the first stored", async () => {
  const one = await startCatalog()
  expect(await run(one.current)).toMatchObject({ version: 1, data: { prices: DEFAULT_PRICES, tiers: defaultTierPolicy } })
  await run(one.update({ multipliersBps: { free: 17000 } }))
  const two = await startCatalog()
  const current = await run(two.current)
  expect(current.version).toBe(2)
  expect(current.data.tiers.multipliersBps).toEqual({ free: 17000, managed: 12000, vip_founder: 10000 })
})

it("a second catalog sees a change at refresh", async () => {
  const [one, two] = [await startCatalog(), await startCatalog()]
  const saved = await run(one.update({ setPrices: [{ model: "local", quality: "*", size: "*", millicredits: 2_500 }] }))
  await run(two.refresh)
  expect(await run(two.current)).toEqual(saved)
})

it("loses no update when two catalogs save many changes at once", async () => {
  const catalogs = [await startCatalog(), await startCatalog()]
  const tiers = Array.from({ length: 12 }, (_, i) => `tier_${i}`)
  await run(Effect.all(
    tiers.map((tier, i) => catalogs[i % 2]!.update({ multipliersBps: { [tier]: 10_000 + i } })),
    { concurrency: "unbounded" }
  ))
  await run(catalogs[0]!.refresh)
  const final = await run(catalogs[0]!.current)
  expect(final.version).toBe(1 + tiers.length)
  for (const [i, tier] of tiers.entries()) expect(final.data.tiers.multipliersBps[tier]).toBe(10_000 + i)
})
