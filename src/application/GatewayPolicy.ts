import { Context, Layer } from "effect"
import { DEFAULT_MODEL_ID, DEFAULT_MODELS, type ModelSpec } from "../domain/Models.ts"
import { DEFAULT_PRICES, type PriceRow } from "../domain/Pricing.ts"
import { defaultTierPolicy, type TierPolicy } from "../domain/Tier.ts"

export interface GatewayPolicyShape {
  readonly models: ReadonlyArray<ModelSpec>
  readonly prices: ReadonlyArray<PriceRow>
  readonly tiers: TierPolicy
  readonly defaultModel: string
  readonly providerTimeoutMs: number
  /** How long a hold lives before the sweeper releases it; longer than any provider call. */
  readonly holdTtlMs: number
  readonly idempotencyTtlMs: number
  readonly imageUrlTtlMs: number
}

export const defaultGatewayPolicy: GatewayPolicyShape = {
  models: DEFAULT_MODELS,
  prices: DEFAULT_PRICES,
  tiers: defaultTierPolicy,
  defaultModel: DEFAULT_MODEL_ID,
  providerTimeoutMs: 120_000,
  holdTtlMs: 10 * 60_000,
  idempotencyTtlMs: 24 * 60 * 60_000,
  imageUrlTtlMs: 60 * 60_000
}

/** Prices, tiers, models and time limits: data that configuration may override. */
export class GatewayPolicy extends Context.Service<GatewayPolicy, GatewayPolicyShape>()("image-gateway/GatewayPolicy") {
  static readonly layer = (overrides: Partial<GatewayPolicyShape> = {}) =>
    Layer.succeed(GatewayPolicy, GatewayPolicy.of({ ...defaultGatewayPolicy, ...overrides }))
}
