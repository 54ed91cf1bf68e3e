import { Redacted, Result, Schema } from "effect"
import type {
  AccountView,
  CreatedService,
  IssuedKeyView,
  KeyView,
  OrganizationView,
  Page,
  ServiceDetail,
  ServiceView,
  TransferView,
  UserView
} from "../../application/Administration.ts"
import type { StoredAuditEntry } from "../../application/ports/AuditLog.ts"
import type { VersionedPricing } from "../../application/ports/PricingStore.ts"
import type { UsageGroup, UsageReport } from "../../application/ports/UsageLog.ts"
import type { KeyOwner } from "../../domain/Entities.ts"
import type { Balance, Transfer } from "../../domain/Ledger.ts"
import { PROVIDERS } from "../../domain/Models.ts"
import { MILLI_PER_CREDIT, toCredits } from "../../domain/Money.ts"

/**
 * The administrative results as JSON, for every transport that prints them: the admin API's
 * bodies and the admin CLI's `--json`. Resource-style, snake_case; every amount twice, as credits
 * (up to 3 decimals, for people) and as exact integer millicredits (for programs); times as unix
 * seconds. Each shape is a Schema, so that the API document publishes exactly what the renderers
 * below return (the compiler holds them to it). Never a secret, nor a hash — except `secret` on a
 * key just made, shown that once.
 */

// --- amounts and times --------------------------------------------------------------------------

/**
 * The largest amount accepted, in credits: below 10^12 every amount with 3 decimals has at most
 * 15 significant digits, so a JSON number carries it exactly (a double holds 15 digits).
 */
export const MAX_CREDITS = 1_000_000_000_000

/** A JSON number or text of the decimal forms `12`, `0.5`, `1000.125`, `1e3` (no sign, no spaces inside). */
const DECIMAL = /^(\d+)(?:\.(\d*))?(?:[eE]([+-]?\d{1,4}))?$/

/**
 * Credits (a JSON number or a decimal text, up to 3 decimals) as an exact integer of millicredits.
 * The digits are read as text, never multiplied as floats: a number is first printed back to its
 * shortest decimal form, which is the one that was sent for any amount of 15 significant digits
 * or fewer. Positive unless `allowZero`; at most `MAX_CREDITS`. The failure is a sentence saying
 * what is accepted.
 */
export const parseCredits = (
  value: number | string,
  options: { readonly allowZero?: boolean | undefined } = {}
): Result.Result<number, string> => {
  const form = options.allowZero === true
    ? "a number of credits of 0 or more with at most 3 decimals (e.g. 40 or 0.5)"
    : "a positive number of credits with at most 3 decimals (e.g. 1000 or 0.5)"
  const refuse = (why: string) => Result.fail(`${why}: expected ${form}.`)
  if (typeof value === "number" && !Number.isFinite(value)) return refuse("not a finite number")
  const text = typeof value === "number" ? String(value) : value.trim()
  if (text.startsWith("-")) return refuse("negative")
  const match = DECIMAL.exec(text)
  if (match === null) return refuse(`'${text.slice(0, 40)}' is not a decimal number`)
  const digits = `${match[1]}${match[2] ?? ""}`.replace(/^0+(?=\d)/, "")
  // millicredits = digits × 10^(3 − decimals + exponent)
  const shift = 3 - (match[2] ?? "").length + Number(match[3] ?? 0)
  let milli: bigint
  if (shift >= 0) {
    milli = BigInt(digits) * 10n ** BigInt(Math.min(shift, 40))
  } else {
    const cut = digits.length + shift
    const dropped = cut <= 0 ? digits : digits.slice(cut)
    if (/[1-9]/.test(dropped)) return refuse("more than 3 decimals")
    milli = cut <= 0 ? 0n : BigInt(digits.slice(0, cut))
  }
  if (milli > BigInt(MAX_CREDITS) * BigInt(MILLI_PER_CREDIT)) return refuse("too large")
  if (milli === 0n && options.allowZero !== true) return refuse("zero")
  return Result.succeed(Number(milli))
}

/** Millicredits as credits, for display only (never computed with). */
export const credits = (millicredits: number): number => toCredits(millicredits)

/**
 * A point in time given as unix seconds (a number or its digits) or as an ISO 8601 date or time
 * (`2026-03-01`, `2026-03-01T12:00:00Z`), as epoch milliseconds.
 */
export const parseTime = (value: number | string): Result.Result<number, string> => {
  const form = "expected unix seconds (e.g. 1767225600) or an ISO 8601 date or time (e.g. 2026-03-01 or 2026-03-01T12:00:00Z)"
  if (typeof value === "number") {
    return Number.isSafeInteger(value) && value >= 0 && value < 1e11 ? Result.succeed(value * 1000) : Result.fail(`not a time: ${form}.`)
  }
  const text = value.trim()
  if (/^\d{1,11}$/.test(text)) return Result.succeed(Number(text) * 1000)
  if (/^\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$/.test(text)) {
    const at = Date.parse(text)
    if (!Number.isNaN(at)) return Result.succeed(at)
  }
  return Result.fail(`'${text.slice(0, 40)}' is not a time: ${form}.`)
}

/** Epoch milliseconds as unix seconds. */
export const seconds = (ms: number): number => Math.floor(ms / 1000)

const secondsOrNull = (ms: number | undefined): number | null => (ms === undefined ? null : seconds(ms))

// --- schemas ------------------------------------------------------------------------------------

const Credits = (what: string) => Schema.Number.annotate({ description: `${what}, in credits (up to 3 decimals).` })
const Milli = (what: string) => Schema.Int.annotate({ description: `${what}, in millicredits (exact).` })
const Seconds = (what: string) => Schema.Int.annotate({ description: `${what}, unix seconds.` })
const NullableSeconds = (what: string) => Schema.NullOr(Schema.Int).annotate({ description: `${what}, unix seconds; null for none.` })

export const KeyOwnerJson = Schema.Struct({
  kind: Schema.Literals(["service", "user", "admin"]),
  id: Schema.String.annotate({ description: "The service name, the user id, or the admin key's name." })
}).annotate({ identifier: "AdminKeyOwner" })

const keyFields = {
  id: Schema.String,
  object: Schema.Literal("api_key"),
  prefix: Schema.String.annotate({ description: "The first characters of the key, to recognize it; never the key." }),
  owner: KeyOwnerJson,
  status: Schema.Literals(["active", "revoked", "expired"]),
  created: Seconds("When the key was made"),
  expires_at: NullableSeconds("When the key stops working"),
  scopes: Schema.NullOr(Schema.Array(Schema.String)).annotate({ description: "Narrows the owner's scopes; null keeps them." }),
  deprecated: Schema.Boolean.annotate({ description: "Responses made with it carry Deprecation, Sunset and Link headers." }),
  sunset: NullableSeconds("When a deprecated key is retired"),
  legacy: Schema.Boolean.annotate({ description: "Imported from a literal rather than made by the gateway." }),
  last_used_at: NullableSeconds("Its latest use (recorded within seconds)")
}

export const KeyJson = Schema.Struct(keyFields).annotate({ identifier: "AdminApiKey" })

export const IssuedKeyJson = Schema.Struct({
  ...keyFields,
  secret: Schema.optionalKey(Schema.String).annotate({
    description: "The key itself, shown this once (it is stored hashed). Absent on an idempotent replay."
  })
}).annotate({ identifier: "AdminIssuedKey" })

export const KeyListJson = Schema.Struct({ object: Schema.Literal("list"), data: Schema.Array(KeyJson) }).annotate({
  identifier: "AdminApiKeyList"
})

export const RotatedKeysJson = Schema.Struct({
  key: IssuedKeyJson,
  retiring: Schema.Array(KeyJson).annotate({ description: "The service's earlier keys, working (deprecated) until their expiry." })
}).annotate({ identifier: "AdminRotatedKeys" })

export const BalanceJson = Schema.Struct({
  id: Schema.String.annotate({ description: "The account: a user UUID or an org_… id." }),
  balance: Credits("Posted: everything granted minus everything charged"),
  balance_millicredits: Milli("Posted"),
  pending: Credits("Held for generations in flight"),
  pending_millicredits: Milli("Held"),
  available: Credits("Balance minus pending: what can be spent now"),
  available_millicredits: Milli("Available")
}).annotate({ identifier: "AdminBalance" })

export const AccountJson = Schema.Struct({
  ...BalanceJson.fields,
  object: Schema.Literal("account"),
  type: Schema.Literals(["user", "org"]),
  tier: Schema.String,
  spent_this_month: Credits("Charged since the start of the month (UTC), holds included, refunds deducted"),
  spent_this_month_millicredits: Milli("Charged this month"),
  monthly_cap: Schema.NullOr(Schema.Number).annotate({ description: "Credits per calendar month (UTC); null for none." }),
  monthly_cap_millicredits: Schema.NullOr(Schema.Int),
  low_balance_alert: Schema.optionalKey(
    Schema.Struct({
      threshold: Credits("Alerted when the available balance goes below this"),
      threshold_millicredits: Milli("The threshold"),
      default: Schema.Boolean.annotate({ description: "Whether this is the gateway's default (ALERT_LOW_BALANCE_CREDITS)." }),
      state: Schema.Literals(["armed", "fired"]).annotate({
        description: "fired: alerted since the balance was last at or above the threshold (no new alert until it is); armed: the next crossing alerts."
      })
    }).annotate({ description: "The account's low-balance alert (docs/alerts.md); on GET /accounts/{account_id} only." })
  )
}).annotate({ identifier: "AdminAccount" })

const RateLimit = (what: string) => Schema.NullOr(Schema.Int).annotate({ description: `${what}; null: no limit.` })

export const RateLimitsJson = Schema.Struct({
  requests_per_minute: RateLimit("Requests per minute, all its credentials together"),
  per_key_requests_per_minute: RateLimit("Requests per minute for each of its credentials (a key, or its JWTs together)"),
  concurrent: RateLimit("Generation requests in flight at once")
}).annotate({
  identifier: "AdminRateLimits",
  description: "Shared by every instance when the gateway runs with REDIS_URL; per instance otherwise (docs/rate-limits.md)."
})

export const ServiceJson = Schema.Struct({
  name: Schema.String,
  object: Schema.Literal("service"),
  organization: Schema.NullOr(Schema.String).annotate({ description: "The organization billed when no user is named." }),
  user_id_policy: Schema.Literals(["optional", "required", "forbidden"]),
  scopes: Schema.NullOr(Schema.Array(Schema.String)).annotate({ description: "null: every scope." }),
  jwt_enabled: Schema.Boolean.annotate({ description: "Whether the service signs JWTs (the secret is never shown)." }),
  active: Schema.Boolean,
  rate_limits: RateLimitsJson,
  account: Schema.NullOr(AccountJson).annotate({ description: "The organization's account." }),
  last_used_at: NullableSeconds("The latest use of any of its keys"),
  keys: Schema.optionalKey(Schema.Array(KeyJson)).annotate({ description: "Its keys (on a single service)." })
}).annotate({ identifier: "AdminService" })

export const ServiceListJson = Schema.Struct({ object: Schema.Literal("list"), data: Schema.Array(ServiceJson) }).annotate({
  identifier: "AdminServiceList"
})

export const CreatedServiceJson = Schema.Struct({ service: ServiceJson, key: IssuedKeyJson }).annotate({
  identifier: "AdminCreatedService"
})

export const UserJson = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("user"),
  status: Schema.Literals(["active", "suspended"]),
  tier: Schema.String,
  billing_org: Schema.NullOr(Schema.String).annotate({ description: "The organization that bills the user, if it bills its members." }),
  monthly_cap: Schema.NullOr(Schema.Number),
  monthly_cap_millicredits: Schema.NullOr(Schema.Int),
  account: AccountJson
}).annotate({ identifier: "AdminUser" })

const cursor = <S extends Schema.Top>(schema: S) =>
  Schema.NullOr(schema).annotate({ description: "Pass as the paging parameter for the next page; null on the last page." })

export const UserListJson = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(UserJson),
  next_cursor: cursor(Schema.String)
}).annotate({ identifier: "AdminUserList" })

export const OrganizationJson = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("organization"),
  name: Schema.String,
  tier: Schema.String,
  bills_members: Schema.Boolean,
  monthly_cap: Schema.NullOr(Schema.Number),
  monthly_cap_millicredits: Schema.NullOr(Schema.Int),
  account: AccountJson
}).annotate({ identifier: "AdminOrganization" })

export const OrganizationListJson = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(OrganizationJson),
  next_cursor: cursor(Schema.String)
}).annotate({ identifier: "AdminOrganizationList" })

const transferFields = {
  id: Schema.String,
  object: Schema.Literal("transfer"),
  kind: Schema.Literals(["grant", "settle", "refund"]),
  from: Schema.String.annotate({ description: "The debited account (system:issuance for a grant, the payer for a charge)." }),
  to: Schema.String.annotate({ description: "The credited account." }),
  credits: Credits("The amount moved"),
  millicredits: Milli("The amount moved"),
  created: Seconds("When it was posted"),
  reason: Schema.String,
  hold: Schema.NullOr(Schema.String),
  refund_of: Schema.NullOr(Schema.String),
  seq: Schema.NullOr(Schema.Int).annotate({ description: "Its place in the journal (the paging cursor)." })
}

export const TransferJson = Schema.Struct(transferFields).annotate({ identifier: "AdminTransfer" })

export const TransferResultJson = Schema.Struct({
  ...transferFields,
  account: BalanceJson.annotate({ description: "The credited account (a grant) or the refunded payer, after the transfer." })
}).annotate({ identifier: "AdminTransferResult" })

export const TransferListJson = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(TransferJson),
  next_cursor: cursor(Schema.Int)
}).annotate({ identifier: "AdminTransferList" })

export const PriceJson = Schema.Struct({
  model: Schema.String,
  quality: Schema.String.annotate({ description: "A quality, or * for any." }),
  size: Schema.String.annotate({ description: "A size or size class, or * for any." }),
  credits: Credits("Base price per image, before the tier multiplier"),
  millicredits: Milli("Base price per image")
}).annotate({ identifier: "AdminPrice" })

export const PricingJson = Schema.Struct({
  object: Schema.Literal("pricing"),
  version: Schema.Int.annotate({ description: "Grows by one with every change." }),
  updated_at: Seconds("The latest change"),
  prices: Schema.Array(PriceJson),
  multipliers: Schema.Record(Schema.String, Schema.Int).annotate({ description: "Basis points per tier (10000 = list price)." }),
  default_multiplier: Schema.Int.annotate({ description: "Basis points for a tier with none of its own." }),
  credit_exempt: Schema.Array(Schema.String).annotate({ description: "Tiers never charged." }),
  billing_enabled: Schema.Boolean.annotate({ description: "The global switch: false charges no one." }),
  routes: Schema.Record(Schema.String, Schema.Literals(PROVIDERS)).annotate({
    description: "Model id → the provider that serves it, over PROVIDER_ROUTES and the catalogue's default (BYOK calls go to their key's provider)."
  })
}).annotate({ identifier: "AdminPricing" })

export const AuditEntryJson = Schema.Struct({
  seq: Schema.Int.annotate({ description: "Orders the log; the paging cursor." }),
  object: Schema.Literal("audit_entry"),
  at: Seconds("When it happened"),
  kind: Schema.Literals(["admin", "credential"]),
  actor: Schema.String.annotate({ description: "key:<admin key id>, cli:<os user>, or the service that used a credential." }),
  action: Schema.String.annotate({ description: "E.g. service.create, key.revoke, credits.grant, credential.use." }),
  target: Schema.String.annotate({ description: "<resource>:<id>, e.g. account:org_acme." }),
  outcome: Schema.String.annotate({ description: "ok, or the error the action ended with." }),
  request_id: Schema.NullOr(Schema.String),
  key_id: Schema.NullOr(Schema.String),
  payer: Schema.NullOr(Schema.String),
  before: Schema.Unknown.annotate({ description: "The state before, as the core recorded it (never a secret); null for none." }),
  after: Schema.Unknown.annotate({ description: "The state after, as the core recorded it (never a secret); null for none." })
}).annotate({ identifier: "AdminAuditEntry" })

export const AuditListJson = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(AuditEntryJson),
  next_cursor: cursor(Schema.Int)
}).annotate({ identifier: "AdminAuditList" })

export const UsageGroupJson = Schema.Struct({
  key: Schema.String.annotate({ description: "The service, payer, model, credential kind or billing mode; - for none." }),
  requests: Schema.Int,
  succeeded: Schema.Int,
  failed: Schema.Int,
  images: Schema.Int,
  credits: Credits("Charged"),
  millicredits: Milli("Charged"),
  credits_per_image: Schema.NullOr(Schema.Number).annotate({ description: "Average charge per image; null with no images." })
}).annotate({ identifier: "AdminUsageGroup" })

export const UsageReportJson = Schema.Struct({
  object: Schema.Literal("usage_report"),
  since: Seconds("Start (inclusive)"),
  until: Seconds("End (exclusive)"),
  total: UsageGroupJson,
  by_service: Schema.Array(UsageGroupJson),
  by_payer: Schema.Array(UsageGroupJson),
  by_model: Schema.Array(UsageGroupJson),
  by_credential: Schema.Array(UsageGroupJson).annotate({
    description: "service_key, service_key_on_behalf, service_jwt, service_jwt_on_behalf, user_key, session."
  }),
  by_mode: Schema.Array(UsageGroupJson).annotate({ description: "billed, byok, exempt." })
}).annotate({ identifier: "AdminUsageReport" })

// --- renderers ----------------------------------------------------------------------------------

export const owner = (o: KeyOwner): typeof KeyOwnerJson.Type =>
  o._tag === "Service"
    ? { kind: "service", id: o.service }
    : o._tag === "User"
    ? { kind: "user", id: o.user }
    : { kind: "admin", id: o.admin }

export const key = (k: KeyView): typeof KeyJson.Type => ({
  id: k.id,
  object: "api_key",
  prefix: k.prefix,
  owner: owner(k.owner),
  status: k.status,
  created: seconds(k.createdAt),
  expires_at: secondsOrNull(k.expiresAt),
  scopes: k.scopes ?? null,
  deprecated: k.deprecatedSunset !== undefined,
  sunset: secondsOrNull(k.deprecatedSunset),
  legacy: k.legacy,
  last_used_at: secondsOrNull(k.lastUsedAt)
})

/** A key just made, with its secret when there is one (not on a replay). */
export const issuedKey = (issued: IssuedKeyView): typeof IssuedKeyJson.Type =>
  issued.secret === undefined ? key(issued.key) : { ...key(issued.key), secret: Redacted.value(issued.secret) }

export const keys = (list: ReadonlyArray<KeyView>): typeof KeyListJson.Type => ({ object: "list", data: list.map(key) })

export const rotatedKeys = (
  rotated: IssuedKeyView & { readonly retiring: ReadonlyArray<KeyView> }
): typeof RotatedKeysJson.Type => ({ key: issuedKey(rotated), retiring: rotated.retiring.map(key) })

export const balance = (b: Balance): typeof BalanceJson.Type => ({
  id: b.account,
  balance: credits(b.posted),
  balance_millicredits: b.posted,
  pending: credits(b.pending),
  pending_millicredits: b.pending,
  available: credits(b.available),
  available_millicredits: b.available
})

const cap = (monthlyCap: number | undefined) => ({
  monthly_cap: monthlyCap === undefined ? null : credits(monthlyCap),
  monthly_cap_millicredits: monthlyCap ?? null
})

export const account = (a: AccountView): typeof AccountJson.Type => ({
  ...balance(a.balance),
  id: a.account,
  object: "account",
  type: a.kind,
  tier: a.tier,
  spent_this_month: credits(a.spentThisMonth),
  spent_this_month_millicredits: a.spentThisMonth,
  ...cap(a.monthlyCap),
  ...(a.lowBalanceAlert === undefined ? {} : {
    low_balance_alert: {
      threshold: credits(a.lowBalanceAlert.threshold),
      threshold_millicredits: a.lowBalanceAlert.threshold,
      default: a.lowBalanceAlert.isDefault,
      state: a.lowBalanceAlert.fired ? "fired" as const : "armed" as const
    }
  })
})

/** A service; with its keys when given its detail. */
export const service = (s: ServiceView | ServiceDetail): typeof ServiceJson.Type => {
  const rendered: typeof ServiceJson.Type = {
    name: s.name,
    object: "service",
    organization: s.org ?? null,
    user_id_policy: s.userIdPolicy,
    scopes: s.scopes ?? null,
    jwt_enabled: s.jwt,
    active: s.active,
    rate_limits: {
      requests_per_minute: s.rateLimits.requestsPerMinute ?? null,
      per_key_requests_per_minute: s.rateLimits.perKeyRequestsPerMinute ?? null,
      concurrent: s.rateLimits.concurrent ?? null
    },
    account: s.account === undefined ? null : account(s.account),
    last_used_at: secondsOrNull(s.lastUsedAt)
  }
  return "keys" in s ? { ...rendered, keys: s.keys.map(key) } : rendered
}

export const services = (list: ReadonlyArray<ServiceView>): typeof ServiceListJson.Type => ({
  object: "list",
  data: list.map((s) => {
    // A list shows services without their keys.
    const { keys: _keys, ...rendered } = service(s)
    return rendered
  })
})

export const createdService = (created: CreatedService): typeof CreatedServiceJson.Type => ({
  service: service(created.service),
  key: issuedKey(created.key)
})

export const user = (u: UserView): typeof UserJson.Type => ({
  id: u.id,
  object: "user",
  status: u.status,
  tier: u.tier,
  billing_org: u.billingOrg ?? null,
  ...cap(u.monthlyCap),
  account: account(u.account)
})

/** A page of users; with the page size asked for, the cursor of the next page (the last id) when this one is full. */
export const users = (list: ReadonlyArray<UserView>, limit?: number): typeof UserListJson.Type => ({
  object: "list",
  data: list.map(user),
  next_cursor: limit !== undefined && list.length === limit ? list.at(-1)?.id ?? null : null
})

export const organization = (o: OrganizationView): typeof OrganizationJson.Type => ({
  id: o.id,
  object: "organization",
  name: o.name,
  tier: o.tier,
  bills_members: o.billsMembers,
  ...cap(o.monthlyCap),
  account: account(o.account)
})

/** A page of organizations, as `users`. */
export const organizations = (list: ReadonlyArray<OrganizationView>, limit?: number): typeof OrganizationListJson.Type => ({
  object: "list",
  data: list.map(organization),
  next_cursor: limit !== undefined && list.length === limit ? list.at(-1)?.id ?? null : null
})

export const journalEntry = (t: Transfer): typeof TransferJson.Type => ({
  id: t.id,
  object: "transfer",
  kind: t.kind,
  from: t.debit,
  to: t.credit,
  credits: credits(t.amount),
  millicredits: t.amount,
  created: seconds(t.at),
  reason: t.reason,
  hold: t.hold ?? null,
  refund_of: t.refundOf ?? null,
  seq: t.seq ?? null
})

/** A grant or a refund, with the balance it left. */
export const transfer = (view: TransferView): typeof TransferResultJson.Type => ({
  ...journalEntry(view.transfer),
  account: balance(view.balance)
})

export const transfers = (page: Page<Transfer>): typeof TransferListJson.Type => ({
  object: "list",
  data: page.data.map(journalEntry),
  next_cursor: page.nextCursor ?? null
})

export const pricing = (p: VersionedPricing): typeof PricingJson.Type => ({
  object: "pricing",
  version: p.version,
  updated_at: seconds(p.updatedAt),
  prices: p.data.prices.map((row) => ({
    model: row.model,
    quality: row.quality,
    size: row.size,
    credits: credits(row.millicredits),
    millicredits: row.millicredits
  })),
  multipliers: { ...p.data.tiers.multipliersBps },
  default_multiplier: p.data.tiers.defaultMultiplierBps,
  credit_exempt: [...p.data.tiers.creditExempt],
  billing_enabled: p.data.tiers.billingEnabled,
  routes: { ...p.data.routes }
})

export const auditEntry = (e: StoredAuditEntry): typeof AuditEntryJson.Type => ({
  seq: e.seq,
  object: "audit_entry",
  at: seconds(e.at),
  kind: e.kind,
  actor: e.actor,
  action: e.action,
  target: e.target,
  outcome: e.outcome,
  request_id: e.requestId ?? null,
  key_id: e.keyId ?? null,
  payer: e.payer ?? null,
  before: e.before ?? null,
  after: e.after ?? null
})

export const auditPage = (page: Page<StoredAuditEntry>): typeof AuditListJson.Type => ({
  object: "list",
  data: page.data.map(auditEntry),
  next_cursor: page.nextCursor ?? null
})

export const usageGroup = (g: UsageGroup): typeof UsageGroupJson.Type => ({
  key: g.key,
  requests: g.requests,
  succeeded: g.succeeded,
  failed: g.requests - g.succeeded,
  images: g.images,
  credits: credits(g.costMillicredits),
  millicredits: g.costMillicredits,
  // Display only: the average, rounded to a millicredit.
  credits_per_image: g.images === 0 ? null : credits(Math.round(g.costMillicredits / g.images))
})

export const usageReport = (r: UsageReport): typeof UsageReportJson.Type => ({
  object: "usage_report",
  since: seconds(r.since),
  until: seconds(r.until),
  total: usageGroup(r.total),
  by_service: r.byService.map(usageGroup),
  by_payer: r.byPayer.map(usageGroup),
  by_model: r.byModel.map(usageGroup),
  by_credential: r.byCredential.map(usageGroup),
  by_mode: r.byMode.map(usageGroup)
})
