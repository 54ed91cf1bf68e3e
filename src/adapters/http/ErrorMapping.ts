import { Cause } from "effect"
import * as SqlError from "effect/sql/SqlError"
import { HttpServerResponse } from "effect/http"
import { type DomainError, describeError } from "../../domain/Errors.ts"

/**
 * One error as it goes on the wire: OpenAI's body `{"error":{"message","type","param","code"}}`,
 * a status, and the headers that tell a client (the `openai` SDK among them) whether and when
 * to retry. The core knows no status codes; this table is the only place they are decided.
 */
export interface WireError {
  readonly status: number
  readonly type: ErrorType
  readonly code: string | null
  readonly param: string | null
  readonly message: string
  readonly headers?: Readonly<Record<string, string>> | undefined
}

/** OpenAI's error types, one per kind of failure a client handles differently. */
export type ErrorType =
  | "invalid_request_error"
  | "authentication_error"
  | "permission_error"
  | "insufficient_quota"
  | "rate_limit_error"
  | "server_error"
  | "api_error"

/** What a retry cannot fix: the `openai` SDK does not retry when it sees this header. */
const NO_RETRY = { "x-should-retry": "false" } as const

/** Seconds from `now` to the start of the next calendar month (UTC), when monthly caps reset. */
export const secondsToNextMonth = (now: number): number => {
  const d = new Date(now)
  const next = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
  return Math.max(1, Math.ceil((next - now) / 1000))
}

const USER_HEADER = "X-User-ID"
const DEFAULT_PROVIDER_RETRY_SECONDS = 10

const ACCEPTED_CREDENTIALS =
  "Send 'Authorization: Bearer <key>' with a service key (sk-…), a user API key (uc_…) or a service JWT, " +
  "or a 'session_token' cookie."

/**
 * The message on the wire: the domain's own, except where the fix is a header, which it names
 * (SPEC §3 quotes some of these verbatim).
 */
export const wireMessage = (e: DomainError): string => {
  switch (e._tag) {
    case "MissingCredentials":
      return `No credentials were sent. ${ACCEPTED_CREDENTIALS}`
    case "MalformedAuthorization":
      return `The Authorization header is malformed (${e.reason}). Expected form: 'Authorization: Bearer <token>'.`
    case "MissingUserContext":
      return `Service key authentication requires ${USER_HEADER} header. Format: ${USER_HEADER}: <user-uuid>`
    case "UserContextForbidden":
      return e.reason === "user_credential"
        ? `A user credential can only act for its own user: remove the ${USER_HEADER} header or send your own user id.`
        : `The service '${e.service ?? ""}' may not act on behalf of users: remove the ${USER_HEADER} header.`
    case "InvalidUserId":
      return `The ${USER_HEADER} header must be a user UUID (Format: ${USER_HEADER}: <user-uuid>, e.g. 7a6bfd31-0120-4a30-9e21-0fc3b8006579); received '${e.received}'.`
    case "UnknownUser":
      return `No user with id '${e.user}' exists. Send the ${USER_HEADER} of a registered user.`
    case "ConflictingUserContext":
      return `The ${USER_HEADER} header ('${e.header}') differs from the JWT's user_id claim ('${e.claim}'). Send one user, or omit the header.`
    case "ServiceOrgNotConfigured":
      return `The service '${e.service}' has no billing organization configured, so it cannot be billed without ${USER_HEADER}. An operator must assign it an organization.`
    default:
      return describeError(e)
  }
}

/** Every domain error's status, OpenAI type, code, parameter and headers (SPEC §3, §7). */
export const fromDomainError = (e: DomainError, now: number): WireError => {
  const message = wireMessage(e)
  const wire = (
    status: number,
    type: ErrorType,
    code: string | null,
    param: string | null = null,
    headers?: Readonly<Record<string, string>>
  ): WireError => ({ status, type, code, param, message, headers })

  switch (e._tag) {
    // 401: who is calling could not be established.
    case "MissingCredentials":
      return wire(401, "authentication_error", "missing_credentials")
    case "MalformedAuthorization":
      return wire(401, "authentication_error", "malformed_authorization", "Authorization")
    case "InvalidApiKey":
      return wire(401, "authentication_error", "invalid_api_key")
    case "InvalidToken":
      return wire(401, "authentication_error", "invalid_token")
    case "TokenExpired":
      return wire(401, "authentication_error", "token_expired")
    case "InvalidSession":
      return wire(401, "authentication_error", "invalid_session", "session_token")

    // 400: the user context sent (or not sent) is wrong; the message says what to send.
    case "MissingUserContext":
      return wire(400, "invalid_request_error", "missing_user_context", USER_HEADER)
    case "InvalidUserId":
      return wire(400, "invalid_request_error", "invalid_user_id", USER_HEADER)
    case "ConflictingUserContext":
      return wire(400, "invalid_request_error", "conflicting_user_context", USER_HEADER)

    // 403: the caller is known but may not do this.
    case "UserContextForbidden":
      return wire(403, "permission_error", "user_context_forbidden", USER_HEADER)
    case "UnknownUser":
      return wire(403, "permission_error", "unknown_user", USER_HEADER)
    case "AccountSuspended":
      return wire(403, "permission_error", "account_suspended")
    case "ScopeDenied":
      return wire(403, "permission_error", "scope_denied")
    case "AdminRequired":
      return wire(403, "permission_error", "admin_required", "Authorization")

    // The admin API's resources.
    case "NotFound":
      return wire(404, "invalid_request_error", `${e.resource}_not_found`)
    case "AlreadyExists":
      return wire(409, "invalid_request_error", `${e.resource}_exists`, null, NO_RETRY)
    case "TransferNotFound":
      return wire(404, "invalid_request_error", "transfer_not_found")
    case "RefundExceedsTransfer":
      return wire(400, "invalid_request_error", "refund_exceeds_transfer", "credits")
    case "InvalidAmount":
      return wire(400, "invalid_request_error", "invalid_amount", "credits")

    // 500: an operator must fix the configuration; a retry cannot.
    case "ServiceOrgNotConfigured":
      return wire(500, "server_error", "service_org_not_configured", null, NO_RETRY)

    // Money.
    case "InsufficientCredits":
      return wire(402, "insufficient_quota", "insufficient_credits", null, NO_RETRY)
    case "MonthlyCapExceeded":
      return wire(429, "insufficient_quota", "monthly_cap_exceeded", null, {
        ...NO_RETRY,
        "retry-after": String(secondsToNextMonth(now))
      })
    case "IdempotencyConflict":
      return e.reason === "in_progress"
        ? wire(409, "invalid_request_error", "idempotency_conflict", "Idempotency-Key", { "retry-after": "1" })
        : wire(409, "invalid_request_error", "idempotency_conflict", "Idempotency-Key", NO_RETRY)

    // The request body.
    case "InvalidRequest":
      return wire(400, "invalid_request_error", e.code, e.param)
    case "UnknownModel":
      return wire(400, "invalid_request_error", "model_not_found", "model")

    // Providers: their own error text never reaches the client, only these codes.
    case "ProviderRejected":
      switch (e.reason) {
        case "content_policy":
          return wire(400, "invalid_request_error", "content_policy_violation", "prompt", NO_RETRY)
        case "invalid_request":
          return wire(400, "invalid_request_error", "provider_rejected_request", null, NO_RETRY)
        case "credential":
          return e.byok
            ? wire(400, "invalid_request_error", "byok_key_rejected", null, NO_RETRY)
            : wire(502, "api_error", "provider_credential_rejected", null, NO_RETRY)
      }
    // eslint-disable-next-line no-fallthrough
    case "ProviderRateLimited":
      return wire(429, "rate_limit_error", "provider_rate_limited", null, {
        "retry-after": String(e.retryAfterSeconds ?? DEFAULT_PROVIDER_RETRY_SECONDS)
      })
    // The gateway's own limits (docs/rate-limits.md): OpenAI's 429 for a client over its rate.
    case "RateLimitExceeded":
      return wire(429, "rate_limit_error", "rate_limit_exceeded", null, { "retry-after": String(e.retryAfterSeconds) })
    case "ProviderUnavailable":
      return wire(503, "api_error", "provider_unavailable")
    case "ProviderNotConfigured":
      return wire(503, "api_error", "provider_not_configured", null, NO_RETRY)
    case "ProviderTimeout":
      return wire(504, "api_error", "provider_timeout")
    case "ProviderMalformed":
      return wire(502, "api_error", "provider_malformed_response")

    // Ledger bookkeeping never reaches a caller through a request; if it does, it is a bug.
    case "HoldNotFound":
    case "HoldAlreadyResolved":
    case "SettleExceedsHold":
      return internalError()
  }
}

// --- failures of the HTTP layer itself ---------------------------------------------------------

export const notFound = (method: string, path: string): WireError => ({
  status: 404,
  type: "invalid_request_error",
  code: "unknown_url",
  param: null,
  message: `Unknown request URL: ${method} ${path.slice(0, 200)}. See /docs for the endpoints.`
})

export const resourceNotFound = (code: string, message: string): WireError => ({
  status: 404,
  type: "invalid_request_error",
  code,
  param: null,
  message
})

export const payloadTooLarge = (limitBytes: number): WireError => ({
  status: 413,
  type: "invalid_request_error",
  code: "request_too_large",
  param: null,
  message: `The request body is larger than ${limitBytes} bytes.`,
  headers: { connection: "close", ...NO_RETRY }
})

export const unsupportedMediaType = (contentType: string): WireError => ({
  status: 415,
  type: "invalid_request_error",
  code: "unsupported_media_type",
  param: "Content-Type",
  message: `The request body must be JSON: send 'Content-Type: application/json' (received '${contentType.slice(0, 100)}').`,
  headers: NO_RETRY
})

export const invalidJson = (): WireError => ({
  status: 400,
  type: "invalid_request_error",
  code: "invalid_json",
  param: null,
  message: "We could not parse the JSON body of your request. Send a JSON object with 'Content-Type: application/json'."
})

export const invalidParameter = (param: string, message: string, code = "invalid_value"): WireError => ({
  status: 400,
  type: "invalid_request_error",
  code,
  param,
  message
})

export const requestTimeout = (headersMs: number, requestMs: number): WireError => ({
  status: 408,
  type: "invalid_request_error",
  code: "request_timeout",
  param: null,
  message: `The request was not received in time: its headers must arrive within ${headersMs / 1000} s and all of it within ${
    requestMs / 1000
  } s.`
})

export const headersTooLarge = (): WireError => ({
  status: 431,
  type: "invalid_request_error",
  code: "request_header_fields_too_large",
  param: null,
  message: "The request headers are larger than 16 KiB.",
  headers: NO_RETRY
})

export const malformedRequest = (): WireError => ({
  status: 400,
  type: "invalid_request_error",
  code: "malformed_request",
  param: null,
  message: "The request is not valid HTTP/1.1.",
  headers: NO_RETRY
})

/** An `Expect` header other than `100-continue`: Node refuses it before any handler sees the request. */
export const expectationFailed = (): WireError => ({
  status: 417,
  type: "invalid_request_error",
  code: "expectation_failed",
  param: "Expect",
  message: "The only Expect value accepted is '100-continue'; send the request without the header.",
  headers: NO_RETRY
})

export const metricsUnauthorized = (): WireError => ({
  status: 401,
  type: "authentication_error",
  code: "invalid_metrics_token",
  param: "Authorization",
  message: "GET /metrics needs 'Authorization: Bearer <token>' with the token configured in METRICS_TOKEN."
})

export const internalError = (): WireError => ({
  status: 500,
  type: "server_error",
  code: "internal_error",
  param: null,
  message: "The gateway failed to handle the request. It has been logged; retry, and quote the X-Request-ID if it persists."
})

/**
 * What escaped the handlers unexpected. A store the gateway cannot reach (connections refused or
 * lost while PostgreSQL restarts) is the 503 `store_unavailable` that /readyz reports, which a
 * client retries in a moment; anything else is a 500.
 */
export const unhandledFailure = (cause: Cause.Cause<unknown>): WireError =>
  cause.reasons.some((r) => Cause.isDieReason(r) && isConnectionLost(r.defect))
    ? { ...notReady(), headers: { "retry-after": "1" } }
    : internalError()

/**
 * A connection refused or lost, or the server shutting down or still starting (SQLSTATE 57P01-03),
 * itself or as the cause of the defect the adapters raised.
 */
const isConnectionLost = (defect: unknown, depth = 0): boolean =>
  SqlError.isSqlError(defect)
    ? defect.reason._tag === "ConnectionError" || /^57P0[123]$/.test(String((defect.reason.cause as { code?: unknown } | undefined)?.code))
    : depth < 3 && typeof defect === "object" && defect !== null && "cause" in defect && isConnectionLost(defect.cause, depth + 1)

export const notReady = (): WireError => ({
  status: 503,
  type: "server_error",
  code: "store_unavailable",
  param: null,
  message: "The gateway cannot reach its store."
})

export const shuttingDown = (): WireError => ({
  status: 503,
  type: "server_error",
  code: "shutting_down",
  param: null,
  message: "The gateway shut down before this request finished. Retry it, with the same Idempotency-Key if you sent one.",
  headers: { connection: "close" }
})

/** The port is open but the gateway is not ready yet (start-up takes about a second). */
export const starting = (): WireError => ({
  status: 503,
  type: "server_error",
  code: "starting",
  param: null,
  message: "The gateway is starting. Retry in a moment.",
  headers: { "retry-after": "1" }
})

/** OpenAI's error body for a wire error. */
export const errorBody = (e: WireError): string =>
  JSON.stringify({ error: { message: e.message, type: e.type, param: e.param, code: e.code } })

/** The response for a wire error: OpenAI's body, `application/json`, and the error's headers. */
export const errorResponse = (e: WireError): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(errorBody(e), { status: e.status, contentType: "application/json", headers: e.headers })
