import type { Redacted } from "effect"
import type { KeyId, OrgId, ServiceName, UserId } from "./Ids.ts"
import type { ProviderName } from "./Models.ts"
import type { Tier } from "./Tier.ts"

export type UserStatus = "active" | "suspended"

export interface User {
  readonly id: UserId
  readonly status: UserStatus
  readonly tier: Tier
  /** When set and that organization bills its members, the organization pays. */
  readonly billingOrg?: OrgId | undefined
  readonly monthlyCap?: number | undefined
}

export interface Organization {
  readonly id: OrgId
  readonly name: string
  readonly tier: Tier
  /** Members (users whose `billingOrg` is this organization) are billed here. */
  readonly billsMembers: boolean
  readonly monthlyCap?: number | undefined
}

/**
 * How much a service may ask of the gateway: requests per minute (all its credentials together,
 * and each credential alone) and requests in flight at once. An absent limit is no limit.
 */
export interface ServiceRateLimits {
  readonly requestsPerMinute?: number | undefined
  readonly perKeyRequestsPerMinute?: number | undefined
  readonly concurrent?: number | undefined
}

/** Whether a service may, must or must not name a user with X-User-ID. */
export type UserIdPolicy = "optional" | "required" | "forbidden"

export interface Service {
  readonly name: ServiceName
  readonly org?: OrgId | undefined
  readonly userIdPolicy: UserIdPolicy
  /** Scopes this service may use; `undefined` means every scope. */
  readonly scopes?: ReadonlyArray<Scope> | undefined
  /** The HS256 secret the service signs its JWTs with. */
  readonly jwtSecret?: Redacted.Redacted<string> | undefined
  readonly active: boolean
  /** Absent: no limits. */
  readonly rateLimits?: ServiceRateLimits | undefined
}

export const SCOPES = ["images:generate", "credits:read", "models:read", "byok:manage"] as const
export type Scope = (typeof SCOPES)[number]

export type KeyStatus = "active" | "revoked" | "expired"

/** Who a key belongs to: a service, a user, or an operator (admin keys work only on the admin API). */
export type KeyOwner =
  | { readonly _tag: "Service"; readonly service: ServiceName }
  | { readonly _tag: "User"; readonly user: UserId }
  | { readonly _tag: "Admin"; readonly admin: string }

export const sameOwner = (a: KeyOwner, b: KeyOwner): boolean =>
  a._tag === "Service"
    ? b._tag === "Service" && a.service === b.service
    : a._tag === "User"
    ? b._tag === "User" && a.user === b.user
    : b._tag === "Admin" && a.admin === b.admin

export interface ApiKeyRecord {
  readonly id: KeyId
  /** A short public prefix of the secret, for people and look-ups; never the secret. */
  readonly prefix: string
  /** Hex SHA-256 of the whole secret. */
  readonly hash: string
  readonly owner: KeyOwner
  readonly status: KeyStatus
  readonly createdAt: number
  readonly expiresAt?: number | undefined
  /** Narrows the owner's scopes for this key; `undefined` keeps them. */
  readonly scopes?: ReadonlyArray<Scope> | undefined
  /** Marked for retirement: responses then carry Deprecation/Sunset headers. */
  readonly deprecated?: { readonly sunset: number } | undefined
  readonly legacy: boolean
  /** When the key last authenticated a request (recorded in batches, so up to a few seconds late). */
  readonly lastUsedAt?: number | undefined
}

export interface Session {
  /** Hex SHA-256 of the cookie value. */
  readonly tokenHash: string
  readonly user: UserId
  readonly expiresAt: number
}

export interface ByokKey {
  readonly id: string
  readonly account: string
  readonly provider: ProviderName
  readonly secret: Redacted.Redacted<string>
  readonly last4: string
  readonly enabled: boolean
  readonly createdAt: number
}
