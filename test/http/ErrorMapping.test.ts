import { describe, expect, it } from "vitest"
import { errorResponse, fromDomainError, secondsToNextMonth, wireMessage } from "../../src/adapters/http/ErrorMapping.ts"
import * as E from "../../src/domain/Errors.ts"

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0)

/** One instance of every domain error, with the status, type and code it must have on the wire. */
const TABLE: ReadonlyArray<readonly [E.DomainError, number, string, string]> = [
  [new E.MissingCredentials(), 401, "authentication_error", "missing_credentials"],
  [new E.MalformedAuthorization({ reason: "x" }), 401, "authentication_error", "malformed_authorization"],
  [new E.InvalidApiKey({ state: "unknown", prefix: "sk-abc" }), 401, "authentication_error", "invalid_api_key"],
  [new E.InvalidApiKey({ state: "revoked", prefix: "sk-abc" }), 401, "authentication_error", "invalid_api_key"],
  [new E.InvalidToken({ reason: "bad signature" }), 401, "authentication_error", "invalid_token"],
  [new E.TokenExpired(), 401, "authentication_error", "token_expired"],
  [new E.InvalidSession({ state: "expired" }), 401, "authentication_error", "invalid_session"],
  [new E.MissingUserContext({ service: "s" }), 400, "invalid_request_error", "missing_user_context"],
  [new E.InvalidUserId({ received: "x" }), 400, "invalid_request_error", "invalid_user_id"],
  [new E.ConflictingUserContext({ header: "a", claim: "b" }), 400, "invalid_request_error", "conflicting_user_context"],
  [new E.UserContextForbidden({ reason: "user_credential" }), 403, "permission_error", "user_context_forbidden"],
  [new E.UnknownUser({ user: "u" }), 403, "permission_error", "unknown_user"],
  [new E.AccountSuspended({ user: "u" }), 403, "permission_error", "account_suspended"],
  [new E.ScopeDenied({ scope: "images:generate", granted: [] }), 403, "permission_error", "scope_denied"],
  [new E.ServiceOrgNotConfigured({ service: "s" }), 500, "server_error", "service_org_not_configured"],
  [new E.InsufficientCredits({ account: "a", required: 2, available: 1 }), 402, "insufficient_quota", "insufficient_credits"],
  [new E.MonthlyCapExceeded({ account: "a", cap: 1, spent: 1, required: 1 }), 429, "insufficient_quota", "monthly_cap_exceeded"],
  [new E.IdempotencyConflict({ id: "k", reason: "different_content" }), 409, "invalid_request_error", "idempotency_conflict"],
  [new E.IdempotencyConflict({ id: "k", reason: "in_progress" }), 409, "invalid_request_error", "idempotency_conflict"],
  [new E.InvalidRequest({ param: "n", code: "integer_out_of_range", detail: "d" }), 400, "invalid_request_error", "integer_out_of_range"],
  [new E.UnknownModel({ model: "m", known: [] }), 400, "invalid_request_error", "model_not_found"],
  [new E.ProviderRejected({ provider: "openai", reason: "content_policy", byok: false }), 400, "invalid_request_error", "content_policy_violation"],
  [new E.ProviderRejected({ provider: "openai", reason: "invalid_request", byok: false }), 400, "invalid_request_error", "provider_rejected_request"],
  [new E.ProviderRejected({ provider: "openai", reason: "credential", byok: true }), 400, "invalid_request_error", "byok_key_rejected"],
  [new E.ProviderRejected({ provider: "openai", reason: "credential", byok: false }), 502, "api_error", "provider_credential_rejected"],
  [new E.ProviderRateLimited({ provider: "openai", retryAfterSeconds: 3 }), 429, "rate_limit_error", "provider_rate_limited"],
  [new E.RateLimitExceeded({ service: "svc", limit: "requests_per_minute", allowed: 10, retryAfterSeconds: 42 }), 429, "rate_limit_error", "rate_limit_exceeded"],
  [new E.ProviderUnavailable({ provider: "openai" }), 503, "api_error", "provider_unavailable"],
  [new E.ProviderNotConfigured({ provider: "openai" }), 503, "api_error", "provider_not_configured"],
  [new E.ProviderTimeout({ provider: "openai", timeoutMs: 1000 }), 504, "api_error", "provider_timeout"],
  [new E.ProviderMalformed({ provider: "openai" }), 502, "api_error", "provider_malformed_response"],
  [new E.HoldNotFound({ hold: "h" }), 500, "server_error", "internal_error"],
  [new E.HoldAlreadyResolved({ hold: "h", status: "settled" }), 500, "server_error", "internal_error"],
  [new E.SettleExceedsHold({ hold: "h", reserved: 1, requested: 2 }), 500, "server_error", "internal_error"],
  // The admin API's refusals.
  [new E.TransferNotFound({ transfer: "t" }), 404, "invalid_request_error", "transfer_not_found"],
  [new E.RefundExceedsTransfer({ transfer: "t", refundable: 1, requested: 2 }), 400, "invalid_request_error", "refund_exceeds_transfer"],
  [new E.InvalidAmount({ amount: -1 }), 400, "invalid_request_error", "invalid_amount"],
  [new E.InvalidApiKey({ state: "admin_only", prefix: "adm_abc" }), 401, "authentication_error", "invalid_api_key"],
  [new E.AdminRequired({ presented: "service key" }), 403, "permission_error", "admin_required"],
  [new E.NotFound({ resource: "service", id: "s" }), 404, "invalid_request_error", "service_not_found"],
  [new E.AlreadyExists({ resource: "organization", id: "org_a" }), 409, "invalid_request_error", "organization_exists"]
]

describe("mapping domain errors to OpenAI's error shape", () => {
  it.each(TABLE.map(([e, status, type, code]) => ({ tag: e._tag, e, status, type, code })))(
    "$tag → $status $type $code",
    ({ e, status, type, code }) => {
      const wire = fromDomainError(e, NOW)
      expect([wire.status, wire.type, wire.code]).toEqual([status, type, code])
      if (status !== 500 || code === "service_org_not_configured") expect(wire.message).toBe(wireMessage(e))
      else expect(wire.message).not.toContain(e._tag)
    }
  )

  it("covers every domain error class", () => {
    // Every exported error class (a Schema.TaggedError carries its tag as `identifier`).
    const classes = Object.values(E).flatMap((v) =>
      typeof v === "function" && typeof (v as { identifier?: unknown }).identifier === "string"
        ? [(v as unknown as { identifier: string }).identifier]
        : []
    )
    const tags = new Set(TABLE.map(([e]) => e._tag))
    expect(classes.length).toBeGreaterThan(25)
    for (const tag of classes) expect(tags).toContain(tag)
  })

  it("tells the SDK not to retry what a retry cannot fix, and when to retry what it can", () => {
    const noRetry = (e: E.DomainError) => fromDomainError(e, NOW).headers?.["x-should-retry"]
    expect(noRetry(new E.ServiceOrgNotConfigured({ service: "s" }))).toBe("false")
    expect(noRetry(new E.MonthlyCapExceeded({ account: "a", cap: 1, spent: 1, required: 1 }))).toBe("false")
    expect(noRetry(new E.InsufficientCredits({ account: "a", required: 2, available: 1 }))).toBe("false")
    expect(noRetry(new E.IdempotencyConflict({ id: "k", reason: "different_content" }))).toBe("false")
    expect(noRetry(new E.ProviderUnavailable({ provider: "openai" }))).toBeUndefined()
    expect(fromDomainError(new E.ProviderRateLimited({ provider: "openai", retryAfterSeconds: 3 }), NOW).headers?.["retry-after"]).toBe("3")
    expect(fromDomainError(new E.IdempotencyConflict({ id: "k", reason: "in_progress" }), NOW).headers?.["retry-after"]).toBe("1")
    expect(fromDomainError(new E.RateLimitExceeded({ service: "svc", limit: "concurrent", allowed: 2, retryAfterSeconds: 1 }), NOW).headers?.["retry-after"]).toBe("1")
    const cap = fromDomainError(new E.MonthlyCapExceeded({ account: "a", cap: 1, spent: 1, required: 1 }), NOW)
    // 2026-11-25 12:00 UTC → 2026-12-01 00:00 UTC is 5.5 days.
    expect(cap.headers?.["retry-after"]).toBe(String(5.5 * 86_400))
  })

  it("counts the seconds to the next month across a year's end", () => {
    expect(secondsToNextMonth(Date.UTC(2026, 11, 31, 23, 59, 59))).toBe(1)
    expect(secondsToNextMonth(Date.UTC(2027, 0, 1, 0, 0, 0))).toBe(31 * 86_400)
  })

  it("answers with OpenAI's body and application/json", () => {
    const response = errorResponse(fromDomainError(new E.MissingCredentials(), NOW))
    expect(response.status).toBe(401)
    expect(response.body._tag).toBe("Uint8Array")
  })
})
