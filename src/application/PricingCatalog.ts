import { Context, type Effect } from "effect"
import type { InvalidRequest } from "../domain/Errors.ts"
import type { PriceRow } from "../domain/Pricing.ts"
import type { VersionedPricing } from "./ports/PricingStore.ts"

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
}

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
}>()("image-gateway/PricingCatalog") {}
