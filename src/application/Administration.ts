import { Context, type Effect, type Redacted } from "effect"
import type { KeyOwner, KeyStatus, Organization, Scope, UserIdPolicy, UserStatus } from "../domain/Entities.ts"
import type {
  AlreadyExists,
  IdempotencyConflict,
  InvalidAmount,
  InvalidRequest,
  NotFound,
  RefundExceedsTransfer,
  TransferNotFound
} from "../domain/Errors.ts"
import type { AccountId, KeyId, OrgId, ServiceName, TransferId, UserId } from "../domain/Ids.ts"
import type { Balance, Transfer } from "../domain/Ledger.ts"
import type { Tier } from "../domain/Tier.ts"
import type { AuditFilter, StoredAuditEntry } from "./ports/AuditLog.ts"
import type { VersionedPricing } from "./ports/PricingStore.ts"
import type { UsageReport } from "./ports/UsageLog.ts"
import type { PricingChange } from "./PricingCatalog.ts"

/**
 * Who asks for an administrative operation, whatever the transport: the admin API passes the
 * admin key's id and the request id, the CLI the operating-system user and a fresh id.
 */
export interface AdminCall {
  /** `key:<admin key id>` (admin API) or `cli:<os user>` (admin CLI); written to the audit log. */
  readonly actor: string
  readonly requestId: string
  /**
   * Makes an operation that creates something or moves money safe to retry: the same key with
   * the same input answers the first result again (a key's secret is not shown again: `secret`
   * is absent and `replayed` true); with different input it is an `IdempotencyConflict`.
   */
  readonly idempotencyKey?: string | undefined
}

/** Set on a result answered from an earlier call with the same idempotency key. */
export interface Replayable {
  readonly replayed?: boolean | undefined
}

/** An API key as operators see it: never its secret, nor its hash. */
export interface KeyView {
  readonly id: KeyId
  readonly prefix: string
  readonly owner: KeyOwner
  readonly status: KeyStatus
  readonly createdAt: number
  readonly expiresAt?: number | undefined
  readonly scopes?: ReadonlyArray<Scope> | undefined
  readonly deprecatedSunset?: number | undefined
  readonly legacy: boolean
  readonly lastUsedAt?: number | undefined
}

/** A key just made: its secret is shown here once and never stored. */
export interface IssuedKeyView extends Replayable {
  readonly key: KeyView
  /** Absent when `replayed`. */
  readonly secret?: Redacted.Redacted<string> | undefined
}

/** A payer account with what operators watch: balance, pending holds, this month's spend. */
export interface AccountView {
  readonly account: AccountId
  readonly kind: "user" | "org"
  readonly tier: Tier
  readonly monthlyCap?: number | undefined
  readonly balance: Balance
  /** Settled (net of refunds) plus pending, since the start of the month (UTC). */
  readonly spentThisMonth: number
}

export interface ServiceView {
  readonly name: ServiceName
  readonly org?: OrgId | undefined
  readonly userIdPolicy: UserIdPolicy
  /** `undefined`: every scope. */
  readonly scopes?: ReadonlyArray<Scope> | undefined
  /** Whether the service signs JWTs; the secret itself is never shown. */
  readonly jwt: boolean
  readonly active: boolean
  /** The organization's account (when it has one). */
  readonly account?: AccountView | undefined
  /** The latest use of any of its keys. */
  readonly lastUsedAt?: number | undefined
}

export interface ServiceDetail extends ServiceView {
  readonly keys: ReadonlyArray<KeyView>
}

export interface UserView {
  readonly id: UserId
  readonly status: UserStatus
  readonly tier: Tier
  readonly billingOrg?: OrgId | undefined
  readonly monthlyCap?: number | undefined
  /** The user's own account (what it pays when its organization does not bill it). */
  readonly account: AccountView
}

export interface OrganizationView extends Omit<Organization, "tier"> {
  readonly tier: Tier
  readonly account: AccountView
}

export interface TransferView extends Replayable {
  readonly transfer: Transfer
  /** The account's balance after the transfer (the credited account for a grant, the refunded payer for a refund). */
  readonly balance: Balance
}

/** A page of a newest-first list; `nextCursor` continues it (absent on the last page). */
export interface Page<A> {
  readonly data: ReadonlyArray<A>
  readonly nextCursor?: number | undefined
}

export interface NewServiceInput {
  readonly name: ServiceName
  /** The organization that pays when no user is named; created when it does not exist. */
  readonly org?: {
    readonly id: OrgId
    readonly name?: string | undefined
    readonly tier?: Tier | undefined
  } | undefined
  readonly userIdPolicy?: UserIdPolicy | undefined
  readonly scopes?: ReadonlyArray<Scope> | undefined
  readonly jwtSecret?: Redacted.Redacted<string> | undefined
  /** Millicredits granted to the organization when the service is created. */
  readonly initialCredits?: number | undefined
}

export interface CreatedService extends Replayable {
  readonly service: ServiceDetail
  /** The service's first key, its secret shown once. */
  readonly key: IssuedKeyView
}

export interface ServicePatch {
  readonly userIdPolicy?: UserIdPolicy | undefined
  /** `null`: every scope. */
  readonly scopes?: ReadonlyArray<Scope> | null | undefined
  /** `null` removes it (the service then cannot sign JWTs). */
  readonly jwtSecret?: Redacted.Redacted<string> | null | undefined
  readonly org?: OrgId | undefined
  readonly active?: boolean | undefined
}

export interface KeyOptions {
  readonly scopes?: ReadonlyArray<Scope> | undefined
  readonly expiresAt?: number | undefined
}

export interface NewUserInput {
  /** A fresh UUID when absent. */
  readonly id?: UserId | undefined
  readonly tier?: Tier | undefined
  readonly billingOrg?: OrgId | undefined
  readonly monthlyCap?: number | undefined
  readonly initialCredits?: number | undefined
}

export interface UserPatch {
  readonly status?: UserStatus | undefined
  readonly tier?: Tier | undefined
  /** `null` removes the cap. */
  readonly monthlyCap?: number | null | undefined
  /** Membership: the organization that may bill the user; `null` removes it. */
  readonly billingOrg?: OrgId | null | undefined
}

export interface NewOrganizationInput {
  readonly id: OrgId
  readonly name: string
  readonly tier?: Tier | undefined
  readonly billsMembers?: boolean | undefined
  readonly monthlyCap?: number | undefined
  readonly initialCredits?: number | undefined
}

export interface OrganizationPatch {
  readonly name?: string | undefined
  readonly tier?: Tier | undefined
  readonly billsMembers?: boolean | undefined
  readonly monthlyCap?: number | null | undefined
}

export type AdminFailure =
  | NotFound
  | AlreadyExists
  | InvalidRequest
  | InvalidAmount
  | IdempotencyConflict
  | TransferNotFound
  | RefundExceedsTransfer

/**
 * What operators do, for every transport (the admin API, the admin CLI): services,
 * organizations, users, keys, credits, pricing, the audit log and usage reports. Every change is
 * written to the audit log (who, what, before and after), failures included; amounts are
 * millicredits.
 */
export class Administration extends Context.Service<Administration, {
  // services
  readonly createService: (call: AdminCall, input: NewServiceInput) => Effect.Effect<CreatedService, AdminFailure>
  readonly listServices: Effect.Effect<ReadonlyArray<ServiceView>>
  readonly showService: (name: ServiceName) => Effect.Effect<ServiceDetail, NotFound>
  readonly updateService: (call: AdminCall, name: ServiceName, patch: ServicePatch) => Effect.Effect<ServiceDetail, AdminFailure>
  /** Deactivated: its keys and JWTs stop working at once (the keys keep their own status). */
  readonly deactivateService: (call: AdminCall, name: ServiceName) => Effect.Effect<ServiceDetail, AdminFailure>

  // keys
  readonly issueKey: (call: AdminCall, owner: KeyOwner, options: KeyOptions) => Effect.Effect<IssuedKeyView, AdminFailure>
  /** A new key for the service; its other active keys keep working for `overlapMs`, deprecated. */
  readonly rotateServiceKeys: (call: AdminCall, service: ServiceName, overlapMs: number) => Effect.Effect<
    IssuedKeyView & { readonly retiring: ReadonlyArray<KeyView> },
    AdminFailure
  >
  readonly revokeKey: (call: AdminCall, id: KeyId) => Effect.Effect<KeyView, AdminFailure>
  /** Stores a legacy literal key hashed, like any other (a migration from hard-coded keys). */
  readonly importKey: (
    call: AdminCall,
    owner: KeyOwner,
    literal: Redacted.Redacted<string>,
    options: KeyOptions
  ) => Effect.Effect<KeyView, AdminFailure>
  /** Responses made with the key then carry Deprecation and Sunset headers. */
  readonly deprecateKey: (call: AdminCall, id: KeyId, sunset: number) => Effect.Effect<KeyView, AdminFailure>
  readonly listKeys: (filter: {
    readonly owner?: KeyOwner | undefined
    readonly ownerKind?: KeyOwner["_tag"] | undefined
  }) => Effect.Effect<ReadonlyArray<KeyView>>

  // users and organizations
  readonly createUser: (call: AdminCall, input: NewUserInput) => Effect.Effect<UserView & Replayable, AdminFailure>
  readonly showUser: (id: UserId) => Effect.Effect<UserView, NotFound>
  readonly updateUser: (call: AdminCall, id: UserId, patch: UserPatch) => Effect.Effect<UserView, AdminFailure>
  readonly listUsers: (page: { readonly after?: string | undefined; readonly limit: number }) => Effect.Effect<ReadonlyArray<UserView>>
  readonly createOrganization: (call: AdminCall, input: NewOrganizationInput) => Effect.Effect<
    OrganizationView & Replayable,
    AdminFailure
  >
  readonly showOrganization: (id: OrgId) => Effect.Effect<OrganizationView, NotFound>
  readonly updateOrganization: (call: AdminCall, id: OrgId, patch: OrganizationPatch) => Effect.Effect<
    OrganizationView,
    AdminFailure
  >
  readonly listOrganizations: (page: { readonly after?: string | undefined; readonly limit: number }) => Effect.Effect<
    ReadonlyArray<OrganizationView>
  >

  // credits
  /** `account`: a user UUID or an `org_…` id of an existing user or organization. */
  readonly grant: (call: AdminCall, account: string, millicredits: number, reason: string) => Effect.Effect<
    TransferView,
    AdminFailure
  >
  /** Reverses (part of) a settled transfer back to its payer; all of what is left when `millicredits` is absent. */
  readonly refund: (
    call: AdminCall,
    transfer: TransferId,
    input: { readonly millicredits?: number | undefined; readonly reason: string }
  ) => Effect.Effect<TransferView, AdminFailure>
  readonly account: (account: string) => Effect.Effect<AccountView, NotFound | InvalidRequest>
  readonly history: (account: string, page: { readonly limit: number; readonly beforeSeq?: number | undefined }) => Effect.Effect<
    Page<Transfer>,
    NotFound | InvalidRequest
  >

  // pricing
  readonly pricing: Effect.Effect<VersionedPricing>
  readonly updatePricing: (call: AdminCall, change: PricingChange) => Effect.Effect<VersionedPricing, AdminFailure>

  // audit and usage
  readonly audit: (filter: AuditFilter) => Effect.Effect<Page<StoredAuditEntry>>
  readonly usageReport: (range: { readonly since: number; readonly until: number; readonly top: number }) => Effect.Effect<
    UsageReport,
    InvalidRequest
  >
}>()("image-gateway/Administration") {}
