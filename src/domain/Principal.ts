import type { AccountId, KeyId, OrgId, ServiceName, UserId } from "./Ids.ts"
import type { Scope, ServiceRateLimits } from "./Entities.ts"
import type { Tier } from "./Tier.ts"

export type Actor =
  | { readonly _tag: "Service"; readonly service: ServiceName }
  | { readonly _tag: "User"; readonly user: UserId }

export type AuthMethod = "service_key" | "service_jwt" | "user_key" | "session"

/** The account that pays, with what pricing needs to know about it. */
export interface Payer {
  readonly account: AccountId
  readonly kind: "user" | "org"
  readonly tier: Tier
  readonly monthlyCap?: number | undefined
}

/** Who acts, who pays, and how they proved it. */
export interface Principal {
  readonly actor: Actor
  readonly payer: Payer
  readonly authMethod: AuthMethod
  /** The user a service acts for (X-User-ID or the JWT's `user_id`). */
  readonly onBehalfOf?: UserId | undefined
  /** The billing organization, when a user's organization pays for them. */
  readonly viaOrg?: OrgId | undefined
  readonly keyId?: KeyId | undefined
  readonly scopes?: ReadonlyArray<Scope> | undefined
  /** Set when the credential used is deprecated. */
  readonly deprecation?: { readonly sunset: number } | undefined
  /** The acting service's rate limits, read with its credential. */
  readonly rateLimits?: ServiceRateLimits | undefined
}

export const actorService = (p: Principal): ServiceName | undefined =>
  p.actor._tag === "Service" ? p.actor.service : undefined

/** An operator, proven by an admin key: may use the admin API, and nothing else. */
export interface AdminPrincipal {
  readonly admin: string
  readonly keyId: KeyId
}
