import { Context, type Effect, type Option } from "effect"
import type { ProviderName } from "../../domain/Models.ts"
import type { PriceRow } from "../../domain/Pricing.ts"
import type { TierPolicy } from "../../domain/Tier.ts"

/**
 * What operators change at run time: the price table, tier multipliers, exemptions, the billing
 * switch and the provider that serves a model.
 */
export interface PricingData {
  readonly prices: ReadonlyArray<PriceRow>
  readonly tiers: TierPolicy
  /**
   * Model id → the provider that serves it, over PROVIDER_ROUTES and the catalogue's default;
   * absent in data stored before routes existed (no route then).
   */
  readonly routes?: Readonly<Record<string, ProviderName>> | undefined
}

export interface VersionedPricing {
  /** Grows by one with every saved change; instances compare it to know theirs is current. */
  readonly version: number
  readonly data: PricingData
  readonly updatedAt: number
}

/** Pricing as data, shared by every instance on the store. */
export class PricingStore extends Context.Service<PricingStore, {
  /** Stores `data` as version 1 unless pricing is stored already; answers what is stored. */
  readonly seed: (data: PricingData, at: number) => Effect.Effect<VersionedPricing>
  readonly load: Effect.Effect<Option.Option<VersionedPricing>>
  /** The stored version alone (a cheap poll); 0 when nothing is stored. */
  readonly version: Effect.Effect<number>
  /**
   * Saves `data` as version `expected + 1` if the stored version is still `expected`; none when
   * another change came first (the caller re-reads and retries).
   */
  readonly save: (input: { readonly data: PricingData; readonly expected: number; readonly at: number }) => Effect.Effect<
    Option.Option<VersionedPricing>
  >
}>()("image-gateway/PricingStore") {}
