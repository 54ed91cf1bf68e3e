import { Context, Effect, Layer } from "effect"
import type { RateLimiterError } from "effect/persistence/RateLimiter"

/**
 * Counted slots for requests in flight under one key, shared by every instance that uses the same
 * store. `take` either takes a slot (and answers how to give it back) or answers `undefined` when
 * `limit` slots are already taken. Each slot lapses on its own after `ttlMs`, so a slot held by an
 * instance that died mid-request is not lost for ever; `ttlMs` must outlast any request. A store
 * that cannot answer fails with effect's `RateLimiterError` (reason `RateLimitStoreError`), as
 * the RateLimiter's own stores do.
 *
 * effect's RateLimiter counts requests per window only, hence this second port beside it.
 */
export class ConcurrencySlots extends Context.Service<ConcurrencySlots, {
  readonly take: (options: {
    readonly key: string
    readonly limit: number
    readonly ttlMs: number
  }) => Effect.Effect<Effect.Effect<void> | undefined, RateLimiterError>
}>()("image-gateway/ConcurrencySlots") {
  /**
   * Slots in this process's memory: limits are then per instance. A process that dies loses its
   * slots with it, so nothing lapses here; `ttlMs` matters only for a shared store.
   */
  static readonly layerMemory: Layer.Layer<ConcurrencySlots> = Layer.sync(ConcurrencySlots, () => {
    const taken = new Map<string, number>()
    return ConcurrencySlots.of({
      take: ({ key, limit }) =>
        Effect.sync(() => {
          const count = taken.get(key) ?? 0
          if (count >= limit) return undefined
          taken.set(key, count + 1)
          let given = false
          // Given back at most once, whatever the caller does.
          return Effect.sync(() => {
            if (given) return
            given = true
            const left = (taken.get(key) ?? 1) - 1
            if (left <= 0) taken.delete(key)
            else taken.set(key, left)
          })
        })
    })
  })
}
