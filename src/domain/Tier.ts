import { Schema } from "effect"

export const Tier = Schema.String.check(Schema.isPattern(/^[a-z][a-z0-9_]{0,31}$/)).pipe(Schema.brand("Tier"))
export type Tier = typeof Tier.Type

/** Price multipliers are basis points: 10000 = list price, 12000 = +20 %. */
export interface TierPolicy {
  readonly multipliersBps: Readonly<Record<string, number>>
  readonly defaultMultiplierBps: number
  /** Tiers whose requests are never charged (no ledger entry at all). */
  readonly creditExempt: ReadonlyArray<string>
  /** The global switch: false turns billing off for everyone. */
  readonly billingEnabled: boolean
}

export const defaultTierPolicy: TierPolicy = {
  multipliersBps: { free: 15000, managed: 12000, vip_founder: 10000 },
  defaultMultiplierBps: 12000,
  creditExempt: [],
  billingEnabled: true
}

export const KNOWN_TIERS = ["free", "trial", "starter", "professional", "enterprise", "managed", "vip_founder"] as const

export const multiplierOf = (policy: TierPolicy, tier: string): number =>
  policy.multipliersBps[tier] ?? policy.defaultMultiplierBps

export const isCreditExempt = (policy: TierPolicy, tier: string): boolean =>
  !policy.billingEnabled || policy.creditExempt.includes(tier)

export const SERVICE_ORG_DEFAULT_TIER = "managed" as Tier
