import { Cause, Clock, Context, Effect, Exit, Layer, Option, Redacted, Schema } from "effect"
import { Digest, SecureRandom } from "effect/crypto"
import {
  type ApiKeyRecord,
  type KeyOwner,
  type KeyStatus,
  type Organization,
  type Scope,
  SCOPES,
  type Service,
  type User,
  type UserIdPolicy,
  type UserStatus,
  type ServiceRateLimits
} from "../domain/Entities.ts"
import {
  AlreadyExists,
  type IdempotencyConflict,
  InvalidAmount,
  InvalidRequest,
  NotFound,
  type RefundExceedsTransfer,
  type TransferNotFound
} from "../domain/Errors.ts"
import {
  type AccountId,
  accountOfOrg,
  accountOfUser,
  type KeyId,
  type OrgId,
  parseOrgId,
  parseUserId,
  type ServiceName,
  type TransferId,
  type UserId
} from "../domain/Ids.ts"
import type { Balance, Transfer } from "../domain/Ledger.ts"
import { SERVICE_ORG_DEFAULT_TIER, Tier } from "../domain/Tier.ts"
import { CreditLedger } from "./CreditLedger.ts"
import { LowBalanceThreshold } from "./AlertsBalance.ts"
import { type AlertRecord, AlertStore } from "./ports/AlertStore.ts"
import { AuditLog, type AuditFilter, type StoredAuditEntry } from "./ports/AuditLog.ts"
import { IdempotencyStore } from "./ports/IdempotencyStore.ts"
import { KeyStore } from "./ports/KeyStore.ts"
import type { VersionedPricing } from "./ports/PricingStore.ts"
import { OrganizationRepository, ServiceRegistry, UserRepository } from "./ports/Repositories.ts"
import { type UsageReport, UsageLog } from "./ports/UsageLog.ts"
import { AuthFailureLog } from "./ports/AuthFailureLog.ts"
import { UsageAnalytics } from "./ports/UsageAnalytics.ts"
import { type Analytics, type AnalyticsQuery, usageAnalytics } from "./UsageAnalyticsQuery.ts"
import { type PricingChange, PricingCatalog } from "./PricingCatalog.ts"
import { Provisioning } from "./Provisioning.ts"
import { hashWith } from "./Secrets.ts"

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
  /** Its low-balance alert (on the account detail only). */
  readonly lowBalanceAlert?: LowBalanceAlertView | undefined
}

/** An account's low-balance alert: the threshold in force, and whether the alert has fired since the balance was last at or above it. */
export interface LowBalanceAlertView {
  readonly threshold: number
  readonly isDefault: boolean
  readonly fired: boolean
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
  /** Its rate limits; absent ones are unlimited. */
  readonly rateLimits: ServiceRateLimits
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
/** An account's low-balance threshold: its own, or the default. */
export interface AlertThresholdView {
  readonly account: AccountId
  readonly threshold: number
  readonly isDefault: boolean
}

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
  /** Its rate limits from the start (`null` or absent: no limit). */
  readonly rateLimits?: RateLimitsPatch | undefined
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
  /** Each limit sent replaces the service's own; `null` removes it (no limit). */
  readonly rateLimits?: RateLimitsPatch | undefined
}

export type RateLimitsPatch = { readonly [K in keyof ServiceRateLimits]?: number | null | undefined }

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

  // alerts
  /** Alerts with their delivery, newest first. */
  readonly alerts: (page: { readonly limit: number; readonly beforeSeq?: number | undefined }) => Effect.Effect<Page<AlertRecord>>
  /** Sets the account's low-balance threshold (millicredits, ≥ 0), or with `null` goes back to the default. */
  readonly setAlertThreshold: (call: AdminCall, account: string, millicredits: number | null) => Effect.Effect<
    AlertThresholdView,
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
  /** Usage per bucket and group over a range, with the generation route's error rates. */
  readonly usageAnalytics: (query: AnalyticsQuery) => Effect.Effect<Analytics, InvalidRequest>
}>()("image-gateway/Administration") {
  static readonly layer: Layer.Layer<
    Administration,
    never,
    | Provisioning
    | CreditLedger
    | PricingCatalog
    | KeyStore
    | UserRepository
    | OrganizationRepository
    | ServiceRegistry
    | AuditLog
    | AlertStore
    | UsageLog
    | UsageAnalytics
    | AuthFailureLog
    | IdempotencyStore
    | Digest.Digest
    | SecureRandom.SecureRandom
  > = Layer.effect(Administration, Effect.suspend(() => make))
}

// --- the implementation ----------------------------------------------------------------------------

/** Admin replays are kept as long as generation replays: 24 hours. */
const IDEMPOTENCY_TTL_MS = 24 * 60 * 60_000
const MAX_OVERLAP_MS = 30 * 24 * 60 * 60_000
const MAX_REPORT_RANGE_MS = 366 * 24 * 60 * 60_000
const MIN_JWT_SECRET = 16
const MIN_LEGACY_KEY = 8
const MAX_LEGACY_KEY = 512
const MAX_REASON = 500
const ADMIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$/

const invalid = (param: string, code: string, detail: string) => new InvalidRequest({ param, code, detail })

const isTier = Schema.is(Tier)

const checkTier = (tier: string | undefined, param = "tier") =>
  tier === undefined || isTier(tier)
    ? Effect.succeed(tier as Tier | undefined)
    : Effect.fail(invalid(param, "invalid_tier", `Invalid tier '${tier.slice(0, 64)}': lowercase letters, digits and '_', starting with a letter (e.g. managed, professional).`))

/** The most a rate limit may be: far above what one gateway serves, below any counter's overflow. */
export const MAX_RATE_LIMIT = 1_000_000

const RATE_LIMIT_PARAMS = {
  requestsPerMinute: "rate_limits.requests_per_minute",
  perKeyRequestsPerMinute: "rate_limits.per_key_requests_per_minute",
  concurrent: "rate_limits.concurrent"
} as const

/** `patch` applied to `current`: each limit a whole number from 1 to MAX_RATE_LIMIT, or null for none. */
const applyRateLimits = (current: ServiceRateLimits | undefined, patch: RateLimitsPatch | undefined) =>
  Effect.gen(function*() {
    if (patch === undefined) return current
    const next: { -readonly [K in keyof ServiceRateLimits]: number | undefined } = { ...current }
    for (const name of Object.keys(RATE_LIMIT_PARAMS) as Array<keyof ServiceRateLimits>) {
      const value = patch[name]
      if (value === undefined) continue
      if (value !== null && !(Number.isSafeInteger(value) && value >= 1 && value <= MAX_RATE_LIMIT)) {
        return yield* invalid(
          RATE_LIMIT_PARAMS[name],
          "invalid_rate_limit",
          `A rate limit is a whole number from 1 to ${MAX_RATE_LIMIT}, or null for no limit; got ${String(value).slice(0, 32)}.`
        )
      }
      next[name] = value ?? undefined
    }
    const set = Object.fromEntries(Object.entries(next).filter(([, v]) => v !== undefined)) as ServiceRateLimits
    return Object.keys(set).length === 0 ? undefined : set
  })

const checkScopes = (scopes: ReadonlyArray<string> | null | undefined, param = "scopes") => {
  if (scopes === undefined || scopes === null) return Effect.succeed(scopes as ReadonlyArray<Scope> | null | undefined)
  const unknown = scopes.find((s) => !(SCOPES as ReadonlyArray<string>).includes(s))
  return unknown === undefined
    ? Effect.succeed(scopes as ReadonlyArray<Scope>)
    : Effect.fail(invalid(param, "invalid_scope", `Unknown scope '${unknown.slice(0, 64)}'. Scopes: ${SCOPES.join(", ")}.`))
}

const checkAmount = (amount: number) =>
  Number.isSafeInteger(amount) && amount > 0 ? Effect.succeed(amount) : Effect.fail(new InvalidAmount({ amount }))

const checkCap = (cap: number | null | undefined, param: string) =>
  cap === undefined || cap === null || (Number.isSafeInteger(cap) && cap > 0)
    ? Effect.succeed(cap)
    : Effect.fail(invalid(param, "invalid_monthly_cap", "A monthly cap is a positive number of credits (up to 3 decimals), or null for none."))

const checkReason = (reason: string) => {
  const trimmed = reason.trim()
  return trimmed.length > 0 && trimmed.length <= MAX_REASON
    ? Effect.succeed(trimmed)
    : Effect.fail(invalid("reason", "invalid_reason", `A reason is required: 1 to ${MAX_REASON} characters saying why (e.g. "invoice 2026-117").`))
}

const failureTag = (cause: Cause.Cause<unknown>): string => {
  const failure = cause.reasons.find(Cause.isFailReason)
  if (failure !== undefined) {
    const tag = (failure.error as { readonly _tag?: unknown } | undefined)?._tag
    return typeof tag === "string" ? tag : "error"
  }
  return Cause.hasInterruptsOnly(cause) ? "interrupted" : "defect"
}

const ownerTarget = (owner: KeyOwner) =>
  owner._tag === "Service" ? `service:${owner.service}` : owner._tag === "User" ? `user:${owner.user}` : `admin:${owner.admin}`

/** A result as stored for replays: plain JSON, never a secret. */
const withoutSecret = <A extends { readonly secret?: unknown }>(a: A) => ({ ...a, secret: undefined })

const make = Effect.gen(function*() {
  const provisioning = yield* Provisioning
  const ledger = yield* CreditLedger
  const catalog = yield* PricingCatalog
  const keys = yield* KeyStore
  const users = yield* UserRepository
  const orgs = yield* OrganizationRepository
  const services = yield* ServiceRegistry
  const auditLog = yield* AuditLog
  const alertStore = yield* AlertStore
  const lowBalanceDefault = yield* LowBalanceThreshold
  const usage = yield* UsageLog
  const analytics = usageAnalytics(yield* UsageAnalytics, yield* AuthFailureLog)
  const idempotency = yield* IdempotencyStore
  const hash = hashWith(yield* Digest.Digest)
  const random = yield* SecureRandom.SecureRandom

  // --- views -------------------------------------------------------------------------------------

  const keyView = (k: ApiKeyRecord, now: number): KeyView => ({
    id: k.id,
    prefix: k.prefix,
    owner: k.owner,
    // A key past its expiry is expired, whatever its stored status.
    status: k.status === "active" && k.expiresAt !== undefined && k.expiresAt <= now ? "expired" : k.status,
    createdAt: k.createdAt,
    expiresAt: k.expiresAt,
    scopes: k.scopes,
    deprecatedSunset: k.deprecated?.sunset,
    legacy: k.legacy,
    lastUsedAt: k.lastUsedAt
  })

  const keyViews = (records: ReadonlyArray<ApiKeyRecord>) =>
    Effect.map(Clock.currentTimeMillis, (now) => records.map((k) => keyView(k, now)))

  const accountView = (account: AccountId, kind: "user" | "org", tier: Tier, monthlyCap: number | undefined) =>
    Effect.map(
      Effect.all([ledger.balance(account), ledger.spentThisMonth(account)]),
      ([balance, spentThisMonth]): AccountView => ({ account, kind, tier, monthlyCap, balance, spentThisMonth })
    )

  const userView = (u: User) =>
    Effect.map(accountView(accountOfUser(u.id), "user", u.tier, u.monthlyCap), (account): UserView => ({
      id: u.id,
      status: u.status,
      tier: u.tier,
      billingOrg: u.billingOrg,
      monthlyCap: u.monthlyCap,
      account
    }))

  const orgView = (o: Organization) =>
    Effect.map(accountView(accountOfOrg(o.id), "org", o.tier, o.monthlyCap), (account): OrganizationView => ({ ...o, account }))

  const serviceDetail = (s: Service) =>
    Effect.gen(function*() {
      const org = s.org === undefined ? Option.none<Organization>() : yield* orgs.find(s.org)
      const account = Option.isSome(org) ? yield* Effect.map(orgView(org.value), (o) => o.account) : undefined
      const own = yield* keyViews(yield* keys.listByOwner({ _tag: "Service", service: s.name }))
      const used = own.flatMap((k) => (k.lastUsedAt === undefined ? [] : [k.lastUsedAt]))
      return {
        name: s.name,
        org: s.org,
        userIdPolicy: s.userIdPolicy,
        scopes: s.scopes,
        jwt: s.jwtSecret !== undefined,
        active: s.active,
        rateLimits: s.rateLimits ?? {},
        account,
        lastUsedAt: used.length === 0 ? undefined : Math.max(...used),
        keys: own
      } satisfies ServiceDetail
    })

  // --- look-ups ----------------------------------------------------------------------------------

  const found = <A>(resource: NotFound["resource"], id: string) => (option: Option.Option<A>) =>
    Option.isSome(option) ? Effect.succeed(option.value) : Effect.fail(new NotFound({ resource, id }))

  const service = (name: ServiceName) => Effect.flatMap(services.find(name), found<Service>("service", name))
  const user = (id: UserId) => Effect.flatMap(users.find(id), found<User>("user", id))
  const org = (id: OrgId) => Effect.flatMap(orgs.find(id), found<Organization>("organization", id))
  const key = (id: KeyId) => Effect.flatMap(keys.find(id), found<ApiKeyRecord>("key", id))

  /** A customer account named by a user UUID or an `org_…` id, which must exist. */
  const customer = (raw: string) =>
    Effect.gen(function*() {
      const text = raw.trim()
      const userId = parseUserId(text.toLowerCase())
      if (userId !== undefined) {
        const u = yield* Effect.mapError(user(userId), () => new NotFound({ resource: "account", id: text }))
        return { account: accountOfUser(u.id), kind: "user" as const, tier: u.tier, monthlyCap: u.monthlyCap }
      }
      const orgId = parseOrgId(text)
      if (orgId !== undefined) {
        const o = yield* Effect.mapError(org(orgId), () => new NotFound({ resource: "account", id: text }))
        return { account: accountOfOrg(o.id), kind: "org" as const, tier: o.tier, monthlyCap: o.monthlyCap }
      }
      return yield* invalid(
        "account_id",
        "invalid_account_id",
        `An account id is a user UUID (e.g. 7a6bfd31-0120-4a30-9e21-0fc3b8006579) or an organization id (org_<slug>); received '${text.slice(0, 64)}'.`
      )
    })

  const ownerExists = (owner: KeyOwner) => {
    switch (owner._tag) {
      case "Service":
        return Effect.asVoid(service(owner.service))
      case "User":
        return Effect.asVoid(user(owner.user))
      case "Admin":
        return ADMIN_NAME.test(owner.admin)
          ? Effect.void
          : Effect.fail(invalid("name", "invalid_admin_name", "An admin key's name is 1 to 64 letters, digits, '_', '.', '@' or '-' (e.g. ops, jane@example.com)."))
    }
  }

  // --- audit and idempotency ---------------------------------------------------------------------

  /**
   * Runs an operation and writes what happened to the audit log, whether it succeeded or not.
   * `before` is read first; `after` is what the operation made of it.
   */
  const audited = <A, E, R>(
    call: AdminCall,
    action: string,
    target: string,
    run: Effect.Effect<A, E, R>,
    describe: { readonly before?: unknown; readonly after?: (a: A) => unknown } = {}
  ): Effect.Effect<A, E, R> =>
    Effect.flatMap(Effect.exit(run), (exit) =>
      Effect.flatMap(Clock.currentTimeMillis, (at) => {
        const success = Exit.isSuccess(exit)
        return Effect.andThen(
          auditLog.append([{
            at,
            kind: "admin",
            actor: call.actor,
            action,
            target,
            requestId: call.requestId,
            outcome: success ? "ok" : failureTag(exit.cause),
            before: describe.before,
            after: success && describe.after !== undefined ? describe.after(exit.value) : undefined
          }]),
          success ? Effect.succeed(exit.value) : Effect.failCause(exit.cause)
        )
      }))

  /**
   * With an idempotency key, the first call's result is kept (without its secret) and answered
   * again to the same call; the same key with other input is a conflict. `input` must hold no
   * secret in the clear (hash it first).
   */
  const idempotent = <A, E>(
    call: AdminCall,
    operation: string,
    input: unknown,
    run: Effect.Effect<A, E>,
    stored: (a: A) => unknown = (a) => a
  ): Effect.Effect<A & Replayable, E | IdempotencyConflict> => {
    const idemKey = call.idempotencyKey
    if (idemKey === undefined) return run as Effect.Effect<A & Replayable, E>
    return Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const fingerprint = yield* hash(JSON.stringify([operation, input]))
      const begun = yield* idempotency.begin({ scope: "admin", key: idemKey, fingerprint, now, expiresAt: now + IDEMPOTENCY_TTL_MS })
      if (begun._tag === "Replay") return { ...(begun.response as A), replayed: true } as A & Replayable
      const exit = yield* Effect.exit(run)
      if (Exit.isSuccess(exit)) {
        yield* idempotency.complete({ scope: "admin", key: idemKey, response: JSON.parse(JSON.stringify(stored(exit.value))) })
        return exit.value as A & Replayable
      }
      yield* idempotency.abandon({ scope: "admin", key: idemKey })
      return yield* Effect.failCause(exit.cause)
    })
  }

  /** A ledger id for an operation: derived from the idempotency key (the ledger then dedupes too), or fresh. */
  const operationId = (call: AdminCall, kind: string) =>
    call.idempotencyKey === undefined
      ? Effect.map(random.uuidV4(), (id) => `${kind}:${id}` as TransferId)
      : Effect.map(hash(call.idempotencyKey), (h) => `${kind}:${h.slice(0, 40)}` as TransferId)

  const secretFingerprint = (secret: Redacted.Redacted<string> | null | undefined) =>
    secret === undefined || secret === null ? Effect.succeed(secret) : Effect.map(hash(Redacted.value(secret)), (h) => `sha256:${h}`)

  // --- credits -----------------------------------------------------------------------------------

  const grantTo = (call: AdminCall, account: AccountId, amount: number, reason: string) =>
    Effect.gen(function*() {
      const id = yield* operationId(call, "grant")
      const transfer = yield* ledger.grant({ id, account, amount, reason })
      return { transfer, balance: yield* ledger.balance(account) } satisfies TransferView
    })

  // --- services ----------------------------------------------------------------------------------

  const createService = (call: AdminCall, input: NewServiceInput) =>
    Effect.gen(function*() {
      yield* checkScopes(input.scopes)
      yield* checkTier(input.org?.tier, "organization.tier")
      if (input.jwtSecret !== undefined && Redacted.value(input.jwtSecret).length < MIN_JWT_SECRET) {
        return yield* invalid("jwt_secret", "invalid_jwt_secret", `A JWT secret has at least ${MIN_JWT_SECRET} characters (32 random bytes are best).`)
      }
      if (input.initialCredits !== undefined) {
        if (input.org === undefined) {
          return yield* invalid("initial_credits", "organization_required", "Initial credits go to the service's organization: name one.")
        }
        yield* checkAmount(input.initialCredits)
      }
      const rateLimits = yield* applyRateLimits(undefined, input.rateLimits)
      const fingerprintInput = { ...input, jwtSecret: yield* secretFingerprint(input.jwtSecret) }
      const work = Effect.gen(function*() {
        if (Option.isSome(yield* services.find(input.name))) return yield* new AlreadyExists({ resource: "service", id: input.name })
        const created = yield* provisioning.createService({
          name: input.name,
          org: input.org === undefined ? undefined : {
            id: input.org.id,
            name: input.org.name ?? input.name,
            tier: input.org.tier ?? SERVICE_ORG_DEFAULT_TIER
          },
          userIdPolicy: input.userIdPolicy,
          scopes: input.scopes,
          jwtSecret: input.jwtSecret
        })
        const limited: Service = rateLimits === undefined ? created : { ...created, rateLimits }
        if (rateLimits !== undefined) yield* services.save(limited)
        if (input.org !== undefined && input.initialCredits !== undefined) {
          yield* grantTo(call, accountOfOrg(input.org.id), input.initialCredits, `initial allocation for ${input.name}`)
        }
        const issued = yield* provisioning.issueKey({ _tag: "Service", service: created.name })
        const now = yield* Clock.currentTimeMillis
        return {
          service: yield* serviceDetail(limited),
          key: { key: keyView(issued.record, now), secret: issued.secret }
        } satisfies CreatedService
      })
      return yield* idempotent(call, "service.create", fingerprintInput, work, (r) => ({ ...r, key: withoutSecret(r.key) }))
    })

  const updateService = (call: AdminCall, name: ServiceName, patch: ServicePatch) =>
    Effect.gen(function*() {
      const current = yield* service(name)
      yield* checkScopes(patch.scopes)
      if (patch.jwtSecret !== undefined && patch.jwtSecret !== null && Redacted.value(patch.jwtSecret).length < MIN_JWT_SECRET) {
        return yield* invalid("jwt_secret", "invalid_jwt_secret", `A JWT secret has at least ${MIN_JWT_SECRET} characters (32 random bytes are best).`)
      }
      if (patch.org !== undefined) yield* org(patch.org)
      const rateLimits = yield* applyRateLimits(current.rateLimits, patch.rateLimits)
      const before = yield* serviceDetail(current)
      const next: Service = {
        ...current,
        userIdPolicy: patch.userIdPolicy ?? current.userIdPolicy,
        scopes: patch.scopes === undefined ? current.scopes : patch.scopes ?? undefined,
        jwtSecret: patch.jwtSecret === undefined ? current.jwtSecret : patch.jwtSecret ?? undefined,
        org: patch.org ?? current.org,
        active: patch.active ?? current.active,
        rateLimits
      }
      yield* services.save(next)
      return { before, after: yield* serviceDetail(next) }
    })

  const changeService = (call: AdminCall, action: string, name: ServiceName, patch: ServicePatch) =>
    audited(
      call,
      action,
      `service:${name}`,
      updateService(call, name, patch),
      { after: (r) => ({ before: withoutKeys(r.before), after: withoutKeys(r.after) }) }
    ).pipe(Effect.map((r) => r.after))

  // --- keys --------------------------------------------------------------------------------------

  const issueKey = (call: AdminCall, owner: KeyOwner, options: KeyOptions) =>
    Effect.gen(function*() {
      yield* ownerExists(owner)
      yield* checkScopes(options.scopes)
      const now = yield* Clock.currentTimeMillis
      if (options.expiresAt !== undefined && (!Number.isSafeInteger(options.expiresAt) || options.expiresAt <= now)) {
        return yield* invalid("expires_at", "invalid_expiry", "A key's expiry must be in the future.")
      }
      const work = Effect.map(provisioning.issueKey(owner, options), (issued): IssuedKeyView => ({
        key: keyView(issued.record, now),
        secret: issued.secret
      }))
      return yield* idempotent(call, "key.issue", { owner, options }, work, withoutSecret)
    })

  const rotateServiceKeys = (call: AdminCall, name: ServiceName, overlapMs: number) =>
    Effect.gen(function*() {
      yield* service(name)
      if (!Number.isSafeInteger(overlapMs) || overlapMs < 0 || overlapMs > MAX_OVERLAP_MS) {
        return yield* invalid("overlap_seconds", "invalid_overlap", "The overlap window is 0 to 30 days: how long the current keys keep working beside the new one.")
      }
      const work = Effect.gen(function*() {
        const issued = yield* provisioning.rotateServiceKey(name, overlapMs)
        const now = yield* Clock.currentTimeMillis
        const all = yield* keys.listByOwner({ _tag: "Service", service: name })
        const retiring = all
          .filter((k) => k.id !== issued.record.id && k.status === "active" && k.deprecated !== undefined && (k.expiresAt ?? Infinity) > now)
          .map((k) => keyView(k, now))
        return { key: keyView(issued.record, now), secret: issued.secret, retiring }
      })
      return yield* idempotent(call, "key.rotate", { name, overlapMs }, work, withoutSecret)
    })

  const importKey = (call: AdminCall, owner: KeyOwner, literal: Redacted.Redacted<string>, options: KeyOptions) =>
    Effect.gen(function*() {
      yield* ownerExists(owner)
      yield* checkScopes(options.scopes)
      const text = Redacted.value(literal)
      if (text.length < MIN_LEGACY_KEY || text.length > MAX_LEGACY_KEY || /\s/.test(text)) {
        return yield* invalid("key", "invalid_key", `A key to import is ${MIN_LEGACY_KEY} to ${MAX_LEGACY_KEY} characters with no spaces.`)
      }
      const stored = yield* provisioning.importKey(owner, literal, options)
      const now = yield* Clock.currentTimeMillis
      // The literal is known already, for another owner: importing it again must not move it.
      if (ownerTarget(stored.owner) !== ownerTarget(owner)) return yield* new AlreadyExists({ resource: "key", id: stored.id })
      return keyView(stored, now)
    })

  const setKey = (call: AdminCall, action: string, id: KeyId, change: (id: KeyId) => Effect.Effect<Option.Option<ApiKeyRecord>>) =>
    Effect.gen(function*() {
      const before = yield* key(id)
      const now = yield* Clock.currentTimeMillis
      const after = yield* Effect.flatMap(change(id), found<ApiKeyRecord>("key", id))
      return { before: keyView(before, now), after: keyView(after, now) }
    }).pipe(
      (work) => audited(call, action, `key:${id}`, work, { after: (r) => r }),
      Effect.map((r) => r.after)
    )

  // --- users and organizations --------------------------------------------------------------------

  const createUser = (call: AdminCall, input: NewUserInput) =>
    Effect.gen(function*() {
      yield* checkTier(input.tier)
      yield* checkCap(input.monthlyCap, "monthly_cap")
      if (input.initialCredits !== undefined) yield* checkAmount(input.initialCredits)
      if (input.billingOrg !== undefined) yield* org(input.billingOrg)
      const work = Effect.gen(function*() {
        // A fresh id inside the work: a retry under the same idempotency key replays the first.
        const id = input.id ?? (yield* random.uuidV4()) as UserId
        if (Option.isSome(yield* users.find(id))) return yield* new AlreadyExists({ resource: "user", id })
        const created: User = {
          id,
          status: "active",
          tier: input.tier ?? ("free" as Tier),
          billingOrg: input.billingOrg,
          monthlyCap: input.monthlyCap
        }
        yield* users.save(created)
        if (input.initialCredits !== undefined) {
          yield* grantTo(call, accountOfUser(id), input.initialCredits, "initial allocation")
        }
        return yield* userView(created)
      })
      return yield* idempotent(call, "user.create", input, work)
    })

  const updateUser = (id: UserId, patch: UserPatch) =>
    Effect.gen(function*() {
      const current = yield* user(id)
      yield* checkTier(patch.tier)
      yield* checkCap(patch.monthlyCap, "monthly_cap")
      if (patch.billingOrg !== undefined && patch.billingOrg !== null) yield* org(patch.billingOrg)
      const next: User = {
        ...current,
        status: patch.status ?? current.status,
        tier: patch.tier ?? current.tier,
        monthlyCap: patch.monthlyCap === undefined ? current.monthlyCap : patch.monthlyCap ?? undefined,
        billingOrg: patch.billingOrg === undefined ? current.billingOrg : patch.billingOrg ?? undefined
      }
      yield* users.save(next)
      return { before: yield* userView(current), after: yield* userView(next) }
    })

  const createOrganization = (call: AdminCall, input: NewOrganizationInput) =>
    Effect.gen(function*() {
      yield* checkTier(input.tier)
      yield* checkCap(input.monthlyCap, "monthly_cap")
      if (input.initialCredits !== undefined) yield* checkAmount(input.initialCredits)
      const name = input.name.trim()
      if (name.length === 0 || name.length > 200) {
        return yield* invalid("name", "invalid_name", "An organization's name is 1 to 200 characters.")
      }
      const work = Effect.gen(function*() {
        if (Option.isSome(yield* orgs.find(input.id))) return yield* new AlreadyExists({ resource: "organization", id: input.id })
        const created: Organization = {
          id: input.id,
          name,
          tier: input.tier ?? SERVICE_ORG_DEFAULT_TIER,
          billsMembers: input.billsMembers ?? false,
          monthlyCap: input.monthlyCap
        }
        yield* orgs.save(created)
        if (input.initialCredits !== undefined) {
          yield* grantTo(call, accountOfOrg(created.id), input.initialCredits, "initial allocation")
        }
        return yield* orgView(created)
      })
      return yield* idempotent(call, "organization.create", input, work)
    })

  const updateOrganization = (id: OrgId, patch: OrganizationPatch) =>
    Effect.gen(function*() {
      const current = yield* org(id)
      yield* checkTier(patch.tier)
      yield* checkCap(patch.monthlyCap, "monthly_cap")
      const name = patch.name?.trim()
      if (name !== undefined && (name.length === 0 || name.length > 200)) {
        return yield* invalid("name", "invalid_name", "An organization's name is 1 to 200 characters.")
      }
      const next: Organization = {
        ...current,
        name: name ?? current.name,
        tier: patch.tier ?? current.tier,
        billsMembers: patch.billsMembers ?? current.billsMembers,
        monthlyCap: patch.monthlyCap === undefined ? current.monthlyCap : patch.monthlyCap ?? undefined
      }
      yield* orgs.save(next)
      return { before: yield* orgView(current), after: yield* orgView(next) }
    })

  // --- refunds -----------------------------------------------------------------------------------

  const refund = (call: AdminCall, id: TransferId, input: { readonly millicredits?: number | undefined; readonly reason: string }) =>
    Effect.gen(function*() {
      const reason = yield* checkReason(input.reason)
      if (input.millicredits !== undefined) yield* checkAmount(input.millicredits)
      const original = yield* Effect.flatMap(ledger.transfer(id), found<Transfer>("transfer", id))
      if (original.kind !== "settle") {
        return yield* invalid(
          "transfer_id",
          "not_refundable",
          `Only a settled charge (kind 'settle') can be refunded; '${id.slice(0, 64)}' is a ${original.kind}.`
        )
      }
      const work = Effect.gen(function*() {
        const refundId = yield* operationId(call, "refund")
        const attempt = (amount: number) => ledger.refund({ id: refundId, transfer: id, amount, reason })
        const transfer = yield* (input.millicredits !== undefined
          ? attempt(input.millicredits)
          // All that is left: the whole charge, or, after earlier partial refunds, what remains.
          : attempt(original.amount).pipe(Effect.catchTag("RefundExceedsTransfer", (e) =>
            e.refundable > 0 ? attempt(e.refundable) : Effect.fail(e)
          )))
        return { transfer, balance: yield* ledger.balance(original.debit) } satisfies TransferView
      })
      return yield* idempotent(call, "credits.refund", { id, millicredits: input.millicredits, reason }, work)
    })

  return Administration.of({
    createService: (call, input) =>
      audited(call, "service.create", `service:${input.name}`, createService(call, input), {
        after: (r) => ({ service: withoutKeys(r.service), key: r.key.key })
      }),
    listServices: Effect.flatMap(services.list, (all) =>
      Effect.forEach(all, (s) => Effect.map(serviceDetail(s), withoutKeys))),
    showService: (name) => Effect.flatMap(service(name), serviceDetail),
    updateService: (call, name, patch) => changeService(call, "service.update", name, patch),
    deactivateService: (call, name) => changeService(call, "service.deactivate", name, { active: false }),

    issueKey: (call, owner, options) =>
      audited(call, "key.issue", ownerTarget(owner), issueKey(call, owner, options), { after: (r) => r.key }),
    rotateServiceKeys: (call, name, overlapMs) =>
      audited(call, "key.rotate", `service:${name}`, rotateServiceKeys(call, name, overlapMs), {
        after: (r) => ({ key: r.key, retiring: r.retiring.map((k) => k.id) })
      }),
    revokeKey: (call, id) => setKey(call, "key.revoke", id, (k) => keys.setStatus(k, "revoked")),
    importKey: (call, owner, literal, options) =>
      audited(call, "key.import", ownerTarget(owner), importKey(call, owner, literal, options), { after: (k) => k }),
    deprecateKey: (call, id, sunset) =>
      Number.isSafeInteger(sunset) && sunset > 0
        ? setKey(call, "key.deprecate", id, (k) => keys.setDeprecated(k, sunset))
        : audited(call, "key.deprecate", `key:${id}`, Effect.fail(invalid("sunset", "invalid_sunset", "A sunset is a date (ISO 8601) or unix time."))),
    listKeys: (filter) =>
      Effect.flatMap(filter.owner !== undefined ? keys.listByOwner(filter.owner) : keys.list({ ownerKind: filter.ownerKind }), keyViews),

    createUser: (call, input) =>
      audited(call, "user.create", `user:${input.id ?? "new"}`, createUser(call, input), { after: (u) => u }),
    showUser: (id) => Effect.flatMap(user(id), userView),
    updateUser: (call, id, patch) =>
      audited(call, patch.status === "suspended" ? "user.suspend" : "user.update", `user:${id}`, updateUser(id, patch), {
        after: (r) => r
      }).pipe(Effect.map((r) => r.after)),
    listUsers: (page) => Effect.flatMap(users.list(page), (all) => Effect.forEach(all, userView)),
    createOrganization: (call, input) =>
      audited(call, "organization.create", `organization:${input.id}`, createOrganization(call, input), { after: (o) => o }),
    showOrganization: (id) => Effect.flatMap(org(id), orgView),
    updateOrganization: (call, id, patch) =>
      audited(call, "organization.update", `organization:${id}`, updateOrganization(id, patch), { after: (r) => r }).pipe(
        Effect.map((r) => r.after)
      ),
    listOrganizations: (page) => Effect.flatMap(orgs.list(page), (all) => Effect.forEach(all, orgView)),

    grant: (call, raw, amount, reason) =>
      audited(
        call,
        "credits.grant",
        `account:${raw.trim().slice(0, 128)}`,
        Effect.gen(function*() {
          const target = yield* customer(raw)
          yield* checkAmount(amount)
          const why = yield* checkReason(reason)
          return yield* idempotent(call, "credits.grant", { account: target.account, amount, why }, grantTo(call, target.account, amount, why))
        }),
        { after: (r) => r }
      ),
    refund: (call, id, input) => audited(call, "credits.refund", `transfer:${id}`, refund(call, id, input), { after: (r) => r }),
    account: (raw) =>
      Effect.flatMap(customer(raw), (c) =>
        Effect.zipWith(
          accountView(c.account, c.kind, c.tier, c.monthlyCap),
          alertStore.state(c.account),
          (view, alert): AccountView => ({
            ...view,
            lowBalanceAlert: { threshold: alert.threshold ?? lowBalanceDefault, isDefault: alert.threshold === undefined, fired: alert.fired }
          })
        )),
    history: (raw, page) =>
      Effect.gen(function*() {
        const c = yield* customer(raw)
        const limit = Math.max(1, Math.min(500, Math.floor(page.limit)))
        // One more than asked: whether another page exists.
        const found = yield* ledger.history(c.account, limit + 1, page.beforeSeq)
        const data = found.slice(0, limit)
        return { data, nextCursor: found.length > limit ? data.at(-1)?.seq : undefined } satisfies Page<Transfer>
      }),

    alerts: (page) =>
      // One more than asked: whether another page exists.
      Effect.map(alertStore.list({ limit: page.limit + 1, beforeSeq: page.beforeSeq }), (found) => {
        const data = found.slice(0, page.limit)
        return { data, nextCursor: found.length > page.limit ? data.at(-1)?.seq : undefined }
      }),
    setAlertThreshold: (call, raw, millicredits) =>
      audited(
        call,
        "alerts.threshold",
        `account:${raw.trim().slice(0, 128)}`,
        Effect.gen(function*() {
          const target = yield* customer(raw)
          if (millicredits !== null && !(Number.isSafeInteger(millicredits) && millicredits >= 0)) {
            return yield* invalid("credits", "invalid_amount", "A threshold is a number of credits, 0 or more, with at most 3 decimals.")
          }
          const before = (yield* alertStore.state(target.account)).threshold
          yield* alertStore.setThreshold(target.account, millicredits)
          return {
            before: before ?? null,
            view: {
              account: target.account,
              threshold: millicredits ?? lowBalanceDefault,
              isDefault: millicredits === null
            } satisfies AlertThresholdView
          }
        }),
        { after: (r) => ({ before: r.before, after: r.view.isDefault ? null : r.view.threshold }) }
      ).pipe(Effect.map((r) => r.view)),

    pricing: catalog.current,
    updatePricing: (call, change) =>
      Effect.gen(function*() {
        const before = yield* catalog.current
        return yield* audited(call, "pricing.update", "pricing", catalog.update(change), {
          before: { version: before.version, data: before.data },
          after: (p) => ({ version: p.version, data: p.data, change })
        })
      }),

    audit: (filter) =>
      // One more than asked: whether another page exists.
      Effect.map(auditLog.list({ ...filter, limit: filter.limit + 1 }), (found) => {
        const data = found.slice(0, filter.limit)
        return { data, nextCursor: found.length > filter.limit ? data.at(-1)?.seq : undefined }
      }),
    usageReport: (range) =>
      range.since >= range.until || range.until - range.since > MAX_REPORT_RANGE_MS
        ? Effect.fail(invalid("since", "invalid_range", "A report covers a range of up to 366 days: 'since' before 'until'."))
        : !Number.isSafeInteger(range.top) || range.top < 1 || range.top > 1000
        ? Effect.fail(invalid("top", "invalid_top", "'top' is 1 to 1000 groups per list."))
        : usage.report(range),
    usageAnalytics: analytics
  })
})

/** A service as the audit log keeps it: its keys are audited on their own. */
const withoutKeys = (s: ServiceDetail): ServiceView => {
  const { keys: _keys, ...view } = s
  return view
}
