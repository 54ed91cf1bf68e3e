import { Effect, Result, Schema, SchemaIssue } from "effect"
import type { HttpServerRequest, HttpServerResponse } from "effect/http"
import type { AdminCall, Replayable } from "../../application/Administration.ts"
import type { DomainError, InvalidRequest } from "../../domain/Errors.ts"
import type { Tier } from "../../domain/Tier.ts"
import {
  isServiceName,
  type KeyId,
  type OrgId,
  parseOrgId,
  parseUserId,
  type ServiceName,
  type TransferId,
  type UserId
} from "../../domain/Ids.ts"
import { parseCredits, parseTime } from "../admin/AdminJson.ts"
import { CurrentAdmin } from "./AdminApi.ts"
import { invalidParameter } from "./ErrorMapping.ts"
import { checkedIdempotencyKey } from "./GenerationEndpoint.ts"
import { CurrentRequestId, HttpFailure, readJsonBody } from "./Requests.ts"
import { failureResponse, json } from "./Responses.ts"

/**
 * What every admin handler reads from a request and writes back: the body decoded with the
 * payload schema the API publishes, path and query values checked, amounts and times parsed
 * exactly, the `AdminCall` (who, which request, which idempotency key), and the answer. Every
 * refusal is a 400 in OpenAI's error shape naming the parameter to fix.
 */

export const invalid = (param: string, message: string, code = "invalid_value") =>
  new HttpFailure({ wire: invalidParameter(param, message, code) })

const standardIssues = SchemaIssue.makeFormatterStandardSchemaV1()

type PathSegment = PropertyKey | { readonly key: PropertyKey }

/** `organization.id`, `prices[2].credits`: a decoding issue's path as the parameter to fix. */
const paramOf = (path: ReadonlyArray<PathSegment> | undefined): string => {
  if (path === undefined || path.length === 0) return "body"
  return path
    .map((segment) => (typeof segment === "object" && segment !== null ? segment.key : segment))
    .map((key, i) => (typeof key === "number" ? `[${key}]` : i === 0 ? String(key) : `.${String(key)}`))
    .join("")
}

/**
 * A request's JSON body decoded with `schema`: 415 / 413 / 400 for a body that is not JSON, too
 * large or not an object (`readJsonBody`), then the first field that is wrong, named, with what
 * it expects (and the hint given for its top-level field).
 */
export const decodeBody = <S extends Schema.Codec<any, any>>(schema: S, hints: Readonly<Record<string, string>> = {}) => {
  const decode = Schema.decodeUnknownResult(schema)
  return (request: HttpServerRequest.HttpServerRequest): Effect.Effect<S["Type"], HttpFailure> =>
    Effect.flatMap(readJsonBody(request), (body) => {
      if (typeof body !== "object" || body === null || Array.isArray(body)) {
        return Effect.fail(invalid("body", "The request body must be a JSON object.", "invalid_request_body"))
      }
      const decoded = decode(body)
      if (Result.isSuccess(decoded)) return Effect.succeed(decoded.success)
      const issue = standardIssues(decoded.failure.issue).issues[0]
      const param = paramOf(issue?.path as ReadonlyArray<PathSegment> | undefined)
      const hint = hints[param.split(/[.[]/, 1)[0]!]
      const missing = issue?.message === "Missing key"
      const message = missing
        ? `Missing required parameter: '${param}'.`
        : `Invalid value for '${param}': ${issue?.message ?? "not accepted"}.`
      return Effect.fail(invalid(param, hint === undefined ? message : `${message} ${hint}`, missing ? "missing_required_parameter" : "invalid_value"))
    })
}

// --- values -------------------------------------------------------------------------------------

/** Credits (a number or a decimal string, up to 3 decimals) as exact millicredits. */
export const creditsOf = (value: number | string, param: string, options: { readonly allowZero?: boolean } = {}) => {
  const parsed = parseCredits(value, options)
  return Result.isSuccess(parsed)
    ? Effect.succeed(parsed.success)
    : Effect.fail(invalid(param, `Invalid value for '${param}': ${parsed.failure}`, "invalid_amount"))
}

export const optionalCredits = (value: number | string | undefined, param: string) =>
  value === undefined ? Effect.succeed(undefined) : creditsOf(value, param)

/** A time (unix seconds or ISO 8601) as epoch milliseconds. */
export const timeOf = (value: number | string, param: string) => {
  const parsed = parseTime(value)
  return Result.isSuccess(parsed)
    ? Effect.succeed(parsed.success)
    : Effect.fail(invalid(param, `Invalid value for '${param}': ${parsed.failure}`))
}

export const optionalTime = (value: number | string | undefined, param: string) =>
  value === undefined ? Effect.succeed(undefined) : timeOf(value, param)

/** An integer query parameter in `[min, max]`, `fallback` when absent. */
export const intQuery = (raw: string | undefined, param: string, min: number, max: number, fallback: number) => {
  if (raw === undefined) return Effect.succeed(fallback)
  const n = /^\d{1,15}$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN
  return Number.isSafeInteger(n) && n >= min && n <= max
    ? Effect.succeed(n)
    : Effect.fail(invalid(param, `Invalid value for '${param}': an integer from ${min} to ${max}.`))
}

export const serviceNameOf = (raw: string, param = "name"): Effect.Effect<ServiceName, HttpFailure> =>
  isServiceName(raw)
    ? Effect.succeed(raw)
    : Effect.fail(invalid(param, `Invalid service name '${raw.slice(0, 64)}': lowercase letters, digits and '-' (e.g. presenton-service).`))

export const userIdOf = (raw: string, param = "id"): Effect.Effect<UserId, HttpFailure> => {
  const id = parseUserId(raw.trim().toLowerCase())
  return id !== undefined
    ? Effect.succeed(id)
    : Effect.fail(invalid(param, `Invalid user id '${raw.slice(0, 64)}': a UUID (e.g. 7a6bfd31-0120-4a30-9e21-0fc3b8006579).`))
}

export const orgIdOf = (raw: string, param = "id"): Effect.Effect<OrgId, HttpFailure> => {
  const id = parseOrgId(raw.trim())
  return id !== undefined
    ? Effect.succeed(id)
    : Effect.fail(invalid(param, `Invalid organization id '${raw.slice(0, 64)}': org_ then lowercase letters, digits and '_' (e.g. org_acme).`))
}

export const keyIdOf = (raw: string): Effect.Effect<KeyId, HttpFailure> =>
  raw.length > 0 && raw.length <= 200
    ? Effect.succeed(raw as KeyId)
    : Effect.fail(invalid("id", "Invalid key id: 1 to 200 characters (the id GET /api/v1/admin/keys lists)."))

export const transferIdOf = (raw: string): Effect.Effect<TransferId, HttpFailure> =>
  raw.length > 0 && raw.length <= 200
    ? Effect.succeed(raw as TransferId)
    : Effect.fail(invalid("transfer_id", "Invalid transfer id: 1 to 200 characters (the id the journal lists)."))

// --- who asks -----------------------------------------------------------------------------------

/**
 * The call as the core records it: the admin key's id as the actor (`key:<id>`), the request's
 * X-Request-ID, and the Idempotency-Key header when the endpoint takes one.
 */
export const adminCall = (headers: { readonly "idempotency-key"?: string | undefined } = {}): Effect.Effect<AdminCall, InvalidRequest, CurrentAdmin> =>
  Effect.gen(function*() {
    const admin = yield* CurrentAdmin
    const requestId = yield* CurrentRequestId
    const idempotencyKey = yield* checkedIdempotencyKey(headers)
    return { actor: `key:${admin.keyId}`, requestId, idempotencyKey }
  })

// --- answers ------------------------------------------------------------------------------------

/** A JSON answer; a result answered from an earlier call with the same Idempotency-Key says so. */
export const answer = (body: unknown, options: { readonly status?: number; readonly replayable?: Replayable } = {}) =>
  json(body, {
    status: options.status ?? 200,
    headers: options.replayable?.replayed === true ? { "idempotent-replayed": "true" } : {}
  })

/** Any refusal as OpenAI's error response. */
export const answerFailure = (e: HttpFailure | DomainError) => failureResponse(e)

/** The answer, or the refusal in OpenAI's shape. */
export const handled = <R>(effect: Effect.Effect<HttpServerResponse.HttpServerResponse, HttpFailure | DomainError, R>) =>
  Effect.catch(effect, answerFailure)

/** What creating something answers with. */
export const CREATED = 201

/** Pages of users, organizations, journals and the audit log: at most 500 rows. */
export const MAX_PAGE = 500
export const DEFAULT_PAGE = 100

/** A tier as sent; the core checks its form and names the field. */
export const tierOf = (tier: string | undefined) => tier as Tier | undefined
