import { Context, Layer } from "effect"
import type { ServiceRateLimits } from "../domain/Entities.ts"
import { DEFAULT_MODEL_ID, DEFAULT_MODELS, type ModelSpec } from "../domain/Models.ts"
import { DEFAULT_PRICES, type PriceRow } from "../domain/Pricing.ts"
import { defaultTierPolicy, type TierPolicy } from "../domain/Tier.ts"

export interface GatewayPolicyShape {
  readonly models: ReadonlyArray<ModelSpec>
  /**
   * The default price table and tier policy: stored as the pricing data on the first start on a
   * store (`PricingCatalog`), which requests are then priced from.
   */
  readonly prices: ReadonlyArray<PriceRow>
  readonly tiers: TierPolicy
  /** How often each instance asks the pricing store whether another instance changed the pricing. */
  readonly pricingRefreshMs: number
  readonly defaultModel: string
  readonly providerTimeoutMs: number
  /** How long a hold lives before the sweeper releases it; longer than any provider call. */
  readonly holdTtlMs: number
  readonly idempotencyTtlMs: number
  readonly imageUrlTtlMs: number
  /**
   * The rate limits of a service that has none of its own (none: such a service is unlimited).
   * A service with any limit of its own uses its own limits only.
   */
  readonly defaultRateLimits?: ServiceRateLimits | undefined
}

export const defaultGatewayPolicy: GatewayPolicyShape = {
  models: DEFAULT_MODELS,
  prices: DEFAULT_PRICES,
  tiers: defaultTierPolicy,
  pricingRefreshMs: 1000,
  defaultModel: DEFAULT_MODEL_ID,
  providerTimeoutMs: 120_000,
  holdTtlMs: 10 * 60_000,
  idempotencyTtlMs: 24 * 60 * 60_000,
  imageUrlTtlMs: 60 * 60_000
}

/** Models, default prices and tiers, and time limits: data that configuration may override. */
export class GatewayPolicy extends Context.Service<GatewayPolicy, GatewayPolicyShape>()("image-gateway/GatewayPolicy") {
  static readonly layer = (overrides: Partial<GatewayPolicyShape> = {}) =>
    Layer.succeed(GatewayPolicy, GatewayPolicy.of({ ...defaultGatewayPolicy, ...overrides }))
}
