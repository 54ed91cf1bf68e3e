import { Schema } from "effect"
import { toCredits } from "./Money.ts"

// --- credentials -------------------------------------------------------------------------

export class MissingCredentials extends Schema.TaggedError<MissingCredentials>()("MissingCredentials", {}) {}

export class MalformedAuthorization extends Schema.TaggedError<MalformedAuthorization>()("MalformedAuthorization", {
  reason: Schema.String
}) {}

/**
 * An API key that is unknown, revoked or expired — or an admin key presented where only image,
 * user and service credentials work (`admin_only`).
 */
export class InvalidApiKey extends Schema.TaggedError<InvalidApiKey>()("InvalidApiKey", {
  state: Schema.Literals(["unknown", "revoked", "expired", "admin_only"]),
  prefix: Schema.String
}) {}

export class InvalidToken extends Schema.TaggedError<InvalidToken>()("InvalidToken", {
  reason: Schema.String
}) {}

export class TokenExpired extends Schema.TaggedError<TokenExpired>()("TokenExpired", {}) {}

export class InvalidSession extends Schema.TaggedError<InvalidSession>()("InvalidSession", {
  state: Schema.Literals(["unknown", "expired"])
}) {}

/** A valid service, user or session credential presented to the admin API. */
export class AdminRequired extends Schema.TaggedError<AdminRequired>()("AdminRequired", {
  presented: Schema.String
}) {}

// --- user context --------------------------------------------------------------------------

export class MissingUserContext extends Schema.TaggedError<MissingUserContext>()("MissingUserContext", {
  service: Schema.String
}) {}

export class UserContextForbidden extends Schema.TaggedError<UserContextForbidden>()("UserContextForbidden", {
  reason: Schema.Literals(["service_policy", "user_credential"]),
  service: Schema.optionalKey(Schema.String)
}) {}

export class InvalidUserId extends Schema.TaggedError<InvalidUserId>()("InvalidUserId", {
  /** At most 64 characters of what was sent. */
  received: Schema.String
}) {}

export class UnknownUser extends Schema.TaggedError<UnknownUser>()("UnknownUser", {
  user: Schema.String
}) {}

export class AccountSuspended extends Schema.TaggedError<AccountSuspended>()("AccountSuspended", {
  user: Schema.String
}) {}

export class ConflictingUserContext extends Schema.TaggedError<ConflictingUserContext>()("ConflictingUserContext", {
  header: Schema.String,
  claim: Schema.String
}) {}

export class ServiceOrgNotConfigured extends Schema.TaggedError<ServiceOrgNotConfigured>()(
  "ServiceOrgNotConfigured",
  { service: Schema.String }
) {}

export class ScopeDenied extends Schema.TaggedError<ScopeDenied>()("ScopeDenied", {
  scope: Schema.String,
  granted: Schema.Array(Schema.String)
}) {}

// --- money ---------------------------------------------------------------------------------

export class InsufficientCredits extends Schema.TaggedError<InsufficientCredits>()("InsufficientCredits", {
  account: Schema.String,
  required: Schema.Int,
  available: Schema.Int
}) {}

export class MonthlyCapExceeded extends Schema.TaggedError<MonthlyCapExceeded>()("MonthlyCapExceeded", {
  account: Schema.String,
  cap: Schema.Int,
  spent: Schema.Int,
  required: Schema.Int
}) {}

/** An operation id (or Idempotency-Key) reused for different content, or still in flight. */
export class IdempotencyConflict extends Schema.TaggedError<IdempotencyConflict>()("IdempotencyConflict", {
  id: Schema.String,
  reason: Schema.Literals(["different_content", "in_progress"])
}) {}

export class HoldNotFound extends Schema.TaggedError<HoldNotFound>()("HoldNotFound", { hold: Schema.String }) {}

export class HoldAlreadyResolved extends Schema.TaggedError<HoldAlreadyResolved>()("HoldAlreadyResolved", {
  hold: Schema.String,
  status: Schema.String
}) {}

export class SettleExceedsHold extends Schema.TaggedError<SettleExceedsHold>()("SettleExceedsHold", {
  hold: Schema.String,
  reserved: Schema.Int,
  requested: Schema.Int
}) {}

export class TransferNotFound extends Schema.TaggedError<TransferNotFound>()("TransferNotFound", {
  transfer: Schema.String
}) {}

export class RefundExceedsTransfer extends Schema.TaggedError<RefundExceedsTransfer>()("RefundExceedsTransfer", {
  transfer: Schema.String,
  refundable: Schema.Int,
  requested: Schema.Int
}) {}

export class InvalidAmount extends Schema.TaggedError<InvalidAmount>()("InvalidAmount", {
  amount: Schema.Number
}) {}

// --- the request ---------------------------------------------------------------------------

export class InvalidRequest extends Schema.TaggedError<InvalidRequest>()("InvalidRequest", {
  param: Schema.NullOr(Schema.String),
  code: Schema.String,
  detail: Schema.String
}) {}

export class UnknownModel extends Schema.TaggedError<UnknownModel>()("UnknownModel", {
  model: Schema.String,
  known: Schema.Array(Schema.String)
}) {}

// --- administration ------------------------------------------------------------------------

export const AdminResource = Schema.Literals(["service", "user", "organization", "key", "account", "transfer"])
export type AdminResource = typeof AdminResource.Type

export class NotFound extends Schema.TaggedError<NotFound>()("NotFound", {
  resource: AdminResource,
  id: Schema.String
}) {}

export class AlreadyExists extends Schema.TaggedError<AlreadyExists>()("AlreadyExists", {
  resource: AdminResource,
  id: Schema.String
}) {}

// --- providers -----------------------------------------------------------------------------

const provider = { provider: Schema.String }

/** The provider refused the request (content policy, invalid for that model, bad own key). */
export class ProviderRejected extends Schema.TaggedError<ProviderRejected>()("ProviderRejected", {
  ...provider,
  reason: Schema.Literals(["content_policy", "invalid_request", "credential"]),
  byok: Schema.Boolean
}) {}

export class ProviderRateLimited extends Schema.TaggedError<ProviderRateLimited>()("ProviderRateLimited", {
  ...provider,
  retryAfterSeconds: Schema.optionalKey(Schema.Int)
}) {}

export class ProviderUnavailable extends Schema.TaggedError<ProviderUnavailable>()("ProviderUnavailable", {
  ...provider
}) {}

export class ProviderTimeout extends Schema.TaggedError<ProviderTimeout>()("ProviderTimeout", {
  ...provider,
  timeoutMs: Schema.Int
}) {}

export class ProviderMalformed extends Schema.TaggedError<ProviderMalformed>()("ProviderMalformed", {
  ...provider
}) {}

export class ProviderNotConfigured extends Schema.TaggedError<ProviderNotConfigured>()("ProviderNotConfigured", {
  ...provider
}) {}

// --- rate limits ------------------------------------------------------------------------------

/**
 * A service asked for more than its limits allow: `limit` names which one (per minute for the
 * whole service or for one credential, or requests in flight); nothing was held or charged.
 */
export class RateLimitExceeded extends Schema.TaggedError<RateLimitExceeded>()("RateLimitExceeded", {
  service: Schema.String,
  limit: Schema.Literals(["requests_per_minute", "per_key_requests_per_minute", "concurrent"]),
  allowed: Schema.Int,
  retryAfterSeconds: Schema.Int
}) {}

export type ProviderError =
  | ProviderRejected
  | ProviderRateLimited
  | ProviderUnavailable
  | ProviderTimeout
  | ProviderMalformed
  | ProviderNotConfigured

export type AuthError =
  | MissingCredentials
  | MalformedAuthorization
  | InvalidApiKey
  | InvalidToken
  | TokenExpired
  | InvalidSession
  | MissingUserContext
  | UserContextForbidden
  | InvalidUserId
  | UnknownUser
  | AccountSuspended
  | ConflictingUserContext
  | ServiceOrgNotConfigured
  | ScopeDenied
  | AdminRequired

export type LedgerError =
  | InsufficientCredits
  | MonthlyCapExceeded
  | IdempotencyConflict
  | HoldNotFound
  | HoldAlreadyResolved
  | SettleExceedsHold
  | TransferNotFound
  | RefundExceedsTransfer
  | InvalidAmount

export type GenerationError =
  | AuthError
  | InvalidRequest
  | UnknownModel
  | InsufficientCredits
  | MonthlyCapExceeded
  | IdempotencyConflict
  | RateLimitExceeded
  | ProviderError

export type AdminError = NotFound | AlreadyExists

export type DomainError =
  | AuthError
  | LedgerError
  | InvalidRequest
  | UnknownModel
  | RateLimitExceeded
  | ProviderError
  | AdminError

const creditsText = (m: number) => `${toCredits(m)} credits`

/**
 * A message a developer can act on, in the core's own terms (a transport names its own headers
 * or flags: the HTTP adapter says which header). It names what was sent and what to send
 * instead, and never repeats a secret or a provider's own error text.
 */
export const describeError = (e: DomainError): string => {
  switch (e._tag) {
    case "MissingCredentials":
      return "No credentials were presented. Present a service key (sk-…), a user API key (uc_…), a service JWT or a session."
    case "MalformedAuthorization":
      return `The credential could not be read (${e.reason}).`
    case "InvalidApiKey":
      return e.state === "admin_only"
        ? `The key '${e.prefix}…' is an admin key: it works only on the admin API (/api/v1/admin/…). Use a service key, a user API key or a service JWT here.`
        : e.state === "unknown"
        ? `The API key '${e.prefix}…' is not recognised. Check the key, or ask an operator for a new one.`
        : `The API key '${e.prefix}…' ${e.state === "revoked" ? "has been revoked" : "has expired"}. Use a current key.`
    case "InvalidToken":
      return `The bearer token is not a valid service JWT (${e.reason}). Sign an HS256 JWT with your service's secret, with claims 'service', 'exp' and 'iat'.`
    case "TokenExpired":
      return "The service JWT has expired. Issue a new token (lifetime at most 1 hour)."
    case "InvalidSession":
      return e.state === "expired"
        ? "The session has expired. Sign in again."
        : "The session cookie is not recognised. Sign in again."
    case "MissingUserContext":
      return `The service '${e.service}' must name the user to bill on behalf of (a user UUID).`
    case "UserContextForbidden":
      return e.reason === "user_credential"
        ? "A user credential can only act for its own user: name no other user to bill on behalf of."
        : `The service '${e.service ?? ""}' may not act on behalf of users: name no user to bill on behalf of.`
    case "InvalidUserId":
      return `The user to bill on behalf of must be a user UUID (e.g. 7a6bfd31-0120-4a30-9e21-0fc3b8006579); received '${e.received}'.`
    case "UnknownUser":
      return `No user with id '${e.user}' exists. Name a registered user to bill on behalf of.`
    case "AccountSuspended":
      return `The account of user '${e.user}' is suspended.`
    case "ConflictingUserContext":
      return `The user to bill on behalf of ('${e.header}') differs from the JWT's user_id claim ('${e.claim}'). Name one user.`
    case "ServiceOrgNotConfigured":
      return `The service '${e.service}' has no billing organization configured, so it cannot be billed without a user to bill on behalf of. An operator must assign it an organization.`
    case "ScopeDenied":
      return `This credential may not use '${e.scope}'. Its scopes: ${e.granted.join(", ") || "none"}.`
    case "AdminRequired":
      return `This operation needs an admin key (adm_…); a ${e.presented} does not work on the admin API.`
    case "NotFound":
      return `No ${e.resource} '${e.id.slice(0, 128)}' exists.`
    case "AlreadyExists":
      return `A ${e.resource} '${e.id.slice(0, 128)}' already exists.`
    case "InsufficientCredits":
      return `Insufficient credits: the account '${e.account}' has ${creditsText(e.available)} available and this request costs ${creditsText(e.required)}. Top up the account or lower n, size or quality.`
    case "MonthlyCapExceeded":
      return `The monthly spending cap of the account '${e.account}' (${creditsText(e.cap)}) would be exceeded: ${creditsText(e.spent)} spent this month, this request costs ${creditsText(e.required)}.`
    case "IdempotencyConflict":
      return e.reason === "in_progress"
        ? `A request with the idempotency key '${e.id}' is still in progress. Retry after it completes.`
        : `The idempotency key '${e.id}' was already used with a different request. Use a new key for a new request.`
    case "HoldNotFound":
      return `No hold '${e.hold}' exists.`
    case "HoldAlreadyResolved":
      return `The hold '${e.hold}' is already ${e.status}.`
    case "SettleExceedsHold":
      return `Cannot settle ${creditsText(e.requested)} on the hold '${e.hold}' of ${creditsText(e.reserved)}.`
    case "TransferNotFound":
      return `No transfer '${e.transfer}' exists.`
    case "RefundExceedsTransfer":
      return `Cannot refund ${creditsText(e.requested)} of the transfer '${e.transfer}': ${creditsText(e.refundable)} refundable.`
    case "InvalidAmount":
      return `Amounts are positive whole millicredits; got ${e.amount}.`
    case "InvalidRequest":
      return e.detail
    case "UnknownModel":
      return `The model '${e.model}' does not exist. Available models: ${e.known.join(", ")}.`
    case "ProviderRejected":
      switch (e.reason) {
        case "content_policy":
          return "The image provider rejected the prompt under its content policy. Change the prompt."
        case "credential":
          return e.byok
            ? `Your own ${e.provider} key was rejected by the provider. Update or disable it.`
            : `The gateway's ${e.provider} credential was rejected by the provider; an operator must replace it, and a retry fails until then.`
        case "invalid_request":
          return `The image provider (${e.provider}) rejected the request as invalid for this model.`
      }
    // eslint-disable-next-line no-fallthrough
    case "ProviderRateLimited":
      return `The image provider (${e.provider}) is rate limiting requests. Retry later.`
    case "RateLimitExceeded":
      return e.limit === "concurrent"
        ? `The service '${e.service}' already has ${e.allowed} requests in flight, its limit. Retry after one finishes.`
        : `The service '${e.service}' is limited to ${e.allowed} requests per minute${
          e.limit === "per_key_requests_per_minute" ? " per credential" : ""
        }. Retry after ${e.retryAfterSeconds} s.`
    case "ProviderUnavailable":
      return `The image provider (${e.provider}) is unavailable. Retry later.`
    case "ProviderTimeout":
      return `The image provider (${e.provider}) did not answer within ${e.timeoutMs} ms. No credits were charged.`
    case "ProviderMalformed":
      return `The image provider (${e.provider}) returned a response the gateway could not read. No credits were charged.`
    case "ProviderNotConfigured":
      return e.provider === "openai" || e.provider === "openrouter"
        ? `No ${e.provider} key is configured on this gateway for this model. An operator must set ${e.provider.toUpperCase()}_API_KEY.`
        : `No provider is configured for '${e.provider}'. An operator must set its API key.`
  }
}
