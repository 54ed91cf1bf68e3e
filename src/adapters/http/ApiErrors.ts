import { Schema } from "effect"
import { HttpApiSchema } from "effect/http-api"

/**
 * OpenAI's error shape as the API document publishes it, one schema per status, shared by every
 * group of the HTTP contract (`Api.ts`, `AdminApi.ts`).
 */

export const OpenAIErrorBody = Schema.Struct({
  error: Schema.Struct({
    message: Schema.String,
    type: Schema.String,
    param: Schema.NullOr(Schema.String),
    code: Schema.NullOr(Schema.String)
  })
}).annotate({
  identifier: "ErrorResponse",
  description: "OpenAI's error shape. `code` names the failure (e.g. `missing_user_context`), `param` the parameter or header to fix."
})

/** What each error status means here; the OpenAPI document shows it on every response. */
export const ERROR_STATUSES: Record<number, string> = {
  400: "Invalid request: body, parameters, X-User-ID or Idempotency-Key",
  401: "Missing, malformed, unknown, revoked or expired credentials; an admin key used outside the admin API",
  402: "Insufficient credits (the message states balance and cost)",
  403: "Not allowed: user context forbidden, unknown or suspended user, scope denied; an admin key needed (admin API)",
  404: "Not found",
  409: "Idempotency-Key reused with a different request, or still in progress; the resource exists already (admin API)",
  413: "Request body too large",
  415: "Request body is not JSON",
  429: "Monthly cap exceeded (x-should-retry: false), the service's rate limit (rate_limit_exceeded) or provider rate limit; Retry-After in seconds",
  500: "Configuration error, e.g. a service without a billing organization (x-should-retry: false)",
  502: "Provider error",
  503: "Provider unavailable or not configured; store unreachable",
  504: "Provider timeout"
}

// One schema per status; the descriptions are added to the document by `describeDocument`.
export const errorStatus = (status: keyof typeof ERROR_STATUSES) => OpenAIErrorBody.pipe(HttpApiSchema.status(status))

export const E400 = errorStatus(400)
export const E401 = errorStatus(401)
export const E402 = errorStatus(402)
export const E403 = errorStatus(403)
export const E404 = errorStatus(404)
export const E409 = errorStatus(409)
export const E413 = errorStatus(413)
export const E415 = errorStatus(415)
export const E429 = errorStatus(429)
export const E500 = errorStatus(500)
export const E502 = errorStatus(502)
export const E503 = errorStatus(503)
export const E504 = errorStatus(504)
