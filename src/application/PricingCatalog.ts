import { Clock, Context, Effect, Layer, Option, Ref, Result, Schedule, Semaphore } from "effect"
import type { InvalidRequest } from "../domain/Errors.ts"
import type { ProviderName } from "../domain/Models.ts"
import type { PriceRow } from "../domain/Pricing.ts"
import { GatewayPolicy } from "./GatewayPolicy.ts"
import { PricingStore, type VersionedPricing } from "./ports/PricingStore.ts"
import { applyChange, validateChange } from "./PricingChanges.ts"

/** A change to the pricing data; what it leaves out stays as it is. */
export interface PricingChange {
  /** Rows added, or replacing the row with the same model, quality and size. */
  readonly setPrices?: ReadonlyArray<PriceRow> | undefined
  readonly removePrices?: ReadonlyArray<Pick<PriceRow, "model" | "quality" | "size">> | undefined
  /** Basis points per tier (10000 = list price); `null` removes a tier's own multiplier. */
  readonly multipliersBps?: Readonly<Record<string, number | null>> | undefined
  readonly defaultMultiplierBps?: number | undefined
  /** Replaces the list of credit-exempt tiers. */
  readonly creditExempt?: ReadonlyArray<string> | undefined
  /** The global billing switch. */
  readonly billingEnabled?: boolean | undefined
  /** Model id → the provider that serves it; `null` removes a model's route. */
  readonly routes?: Readonly<Record<string, ProviderName | null>> | undefined
}

/**
 * Saves lost to another instance's change before `update` gives up: each loser re-reads, so one
 * of any race wins, and an instance saves one change at a time.
 */
const SAVE_ATTEMPTS = 10

/** A poll of the store's version that takes longer counts as a failed poll. */
const POLL_DEADLINE_MS = 5_000

/**
 * The prices every request is priced with: the stored pricing data (seeded from the defaults),
 * held in process and refreshed when another instance changes it. A request takes `current`
 * once, when it is priced; a change never reprices a request already priced.
 */
export class PricingCatalog extends Context.Service<PricingCatalog, {
  readonly current: Effect.Effect<VersionedPricing>
  /** Validates, saves (retrying on a concurrent change) and applies at once on this instance. */
  readonly update: (change: PricingChange) => Effect.Effect<VersionedPricing, InvalidRequest>
  /** Re-reads the store now if its version moved. */
  readonly refresh: Effect.Effect<void>
}>()("image-gateway/PricingCatalog") {
  /**
   * Seeds the store with the policy's prices and tiers (kept if pricing is stored already) and
   * holds what is stored. For as long as the layer lives, a background fiber compares the
   * store's version with the one held every `pricingRefreshMs` and reloads when it moved; a
   * failing store is logged once per run of failures and the last pricing read stays in force.
   */
  static readonly layer: Layer.Layer<PricingCatalog, never, PricingStore | GatewayPolicy> = Layer.effect(
    PricingCatalog,
    Effect.gen(function*() {
      const store = yield* PricingStore
      const policy = yield* GatewayPolicy
      const held = yield* Ref.make(
        yield* store.seed({ prices: policy.prices, tiers: policy.tiers }, yield* Clock.currentTimeMillis)
      )

      /** Versions only grow: a reload that read before a newer save landed here never undoes it. */
      const hold = (read: VersionedPricing) => Ref.update(held, (now) => (read.version > now.version ? read : now))

      const refresh = Effect.flatMap(store.version, (stored) =>
        Effect.flatMap(Ref.get(held), (now) =>
          stored > now.version
            ? Effect.flatMap(store.load, Option.match({ onNone: () => Effect.void, onSome: hold }))
            : Effect.void))

      const failing = yield* Ref.make(false)
      const poll = refresh.pipe(
        Effect.timeout(POLL_DEADLINE_MS),
        Effect.matchCauseEffect({
          onFailure: (cause) =>
            Effect.flatMap(Ref.getAndSet(failing, true), (already) =>
              already ? Effect.void : Effect.logWarning("pricing refresh failed; the last pricing read stays in force", cause)),
          onSuccess: () =>
            Effect.flatMap(Ref.getAndSet(failing, false), (was) =>
              was ? Effect.logInfo("pricing refresh works again") : Effect.void)
        })
      )
      yield* Effect.forkScoped(Effect.repeat(Effect.delay(poll, policy.pricingRefreshMs), Schedule.forever))

      /** Applies `change` to `base` and saves it; on a lost race, onto what won, a bounded number of times. */
      const saveOnto = (
        base: VersionedPricing,
        change: PricingChange,
        attempt: number
      ): Effect.Effect<VersionedPricing, InvalidRequest> =>
        Effect.gen(function*() {
          const data = applyChange(base.data, change)
          if (Result.isFailure(data)) return yield* data.failure
          const saved = yield* store.save({ data: data.success, expected: base.version, at: yield* Clock.currentTimeMillis })
          if (Option.isSome(saved)) {
            yield* hold(saved.value)
            return saved.value
          }
          if (attempt >= SAVE_ATTEMPTS) {
            return yield* Effect.die(new Error(`the pricing changed ${SAVE_ATTEMPTS} times while this change was being saved`))
          }
          const latest = yield* store.load
          if (Option.isNone(latest)) return yield* Effect.die(new Error("the pricing store lost its pricing data"))
          yield* hold(latest.value)
          return yield* saveOnto(latest.value, change, attempt + 1)
        })

      // One change at a time from this instance: its own updates never race each other, only
      // other instances' ones do.
      const saving = yield* Semaphore.make(1)
      const update = Effect.fn("PricingCatalog.update")(function*(change: PricingChange) {
        const valid = validateChange(change, policy.models)
        if (Result.isFailure(valid)) return yield* valid.failure
        return yield* saving.withPermit(Effect.flatMap(Ref.get(held), (base) => saveOnto(base, change, 1)))
      })

      return PricingCatalog.of({ current: Ref.get(held), update, refresh })
    })
  )
}
