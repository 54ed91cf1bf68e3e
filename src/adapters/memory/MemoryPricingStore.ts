import { Effect, Layer, Option } from "effect"
import { PricingStore, type VersionedPricing } from "../../application/ports/PricingStore.ts"

/**
 * Pricing in process memory: one versioned value. Each operation decides and writes in one
 * synchronous block, so of two saves expecting the same version exactly one wins, as on
 * PostgreSQL.
 */
export const makeMemoryPricingStore = () => {
  let current: VersionedPricing | undefined
  return PricingStore.of({
    seed: (data, at) =>
      Effect.sync(() => {
        current ??= { version: 1, data, updatedAt: at }
        return current
      }),
    load: Effect.sync(() => Option.fromUndefinedOr(current)),
    version: Effect.sync(() => current?.version ?? 0),
    save: ({ at, data, expected }) =>
      Effect.sync(() => {
        // Nothing stored is version 0: saving on it stores version 1.
        if ((current?.version ?? 0) !== expected) return Option.none()
        current = { version: expected + 1, data, updatedAt: at }
        return Option.some(current)
      })
  })
}

export const MemoryPricingStore = Layer.sync(PricingStore, makeMemoryPricingStore)
