import { Effect, Layer, Redacted } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { type AdminCall, Administration, type RateLimitsPatch } from "../../application/Administration.ts"
import type { KeyOwner } from "../../domain/Entities.ts"
import { InvalidRequest } from "../../domain/Errors.ts"
import * as AdminJson from "../admin/AdminJson.ts"
import { AdminAccountsHandlers, AdminCreditsHandlers } from "./AdminAccountHandlers.ts"
import { CreateAdminKey, CreateService, DeprecateKey, ImportKey, IssueKey, RotateKeys, UpdateService } from "./AdminPayloads.ts"
import { AdminAuthenticatedLayer } from "./AdminAuth.ts"
import { AdminAuditHandlers, AdminPricingHandlers } from "./AdminPricingAuditHandlers.ts"
import {
  adminCall,
  answer,
  CREATED,
  decodeBody,
  handled,
  invalid,
  keyIdOf,
  optionalCredits,
  optionalTime,
  orgIdOf,
  serviceNameOf,
  tierOf,
  timeOf,
  userIdOf
} from "./AdminRequests.ts"
import { Api } from "./Api.ts"
import { AdminAlertsHandlers } from "./AdminAlertHandlers.ts"

/**
 * The admin API on the `Administration` service: each handler reads the request (`AdminRequests.ts`),
 * calls the core once with the admin key's call (`key:<id>`, the request id, the Idempotency-Key)
 * and answers with the JSON of `AdminJson.ts`. Creating something answers 201; an answer replayed
 * for an Idempotency-Key carries `Idempotent-Replayed: true`. Bodies are read by the handlers
 * (`handleRaw`), so that every refusal, a body that is not JSON included, is OpenAI's error shape
 * naming the parameter.
 */

const SCOPE_HINT = "Scopes: images:generate, credits:read, models:read, byok:manage."

// --- services -----------------------------------------------------------------------------------

const readCreateService = decodeBody(CreateService, {
  name: "A service name is lowercase letters, digits and '-' (e.g. presenton-service).",
  scopes: SCOPE_HINT,
  initial_credits: "Credits with at most 3 decimals, e.g. 10000."
})
const readUpdateService = decodeBody(UpdateService, { scopes: `${SCOPE_HINT} null for every scope.` })


/** The `rate_limits` of an admin body, as the core's patch (each limit as sent; null removes it). */
const rateLimitsOf = (
  body: {
    readonly requests_per_minute?: number | null
    readonly per_key_requests_per_minute?: number | null
    readonly concurrent?: number | null
  } | undefined
): RateLimitsPatch | undefined =>
  body === undefined ? undefined : {
    requestsPerMinute: body.requests_per_minute,
    perKeyRequestsPerMinute: body.per_key_requests_per_minute,
    concurrent: body.concurrent
  }

export const AdminServicesHandlers = HttpApiBuilder.group(
  Api,
  "adminServices",
  Effect.fn(function*(handlers) {
    const admin = yield* Administration

    return handlers
      .handleRaw("create", ({ headers, request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall(headers)
          const body = yield* readCreateService(request)
          const name = yield* serviceNameOf(body.name)
          const org = body.organization === undefined ? undefined : {
            id: yield* orgIdOf(body.organization.id, "organization.id"),
            name: body.organization.name,
            tier: tierOf(body.organization.tier)
          }
          const created = yield* admin.createService(call, {
            name,
            org,
            userIdPolicy: body.user_id_policy,
            scopes: body.scopes,
            jwtSecret: body.jwt_secret === undefined ? undefined : Redacted.make(body.jwt_secret),
            initialCredits: yield* optionalCredits(body.initial_credits, "initial_credits"),
            rateLimits: rateLimitsOf(body.rate_limits)
          })
          return answer(AdminJson.createdService(created), { status: CREATED, replayable: created })
        })))
      .handle("list", () => Effect.map(admin.listServices, (list) => answer(AdminJson.services(list))))
      .handle("show", ({ params }) =>
        handled(Effect.gen(function*() {
          const found = yield* admin.showService(yield* serviceNameOf(params.name))
          return answer(AdminJson.service(found))
        })))
      .handleRaw("update", ({ params, request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall()
          const name = yield* serviceNameOf(params.name)
          const body = yield* readUpdateService(request)
          const updated = yield* admin.updateService(call, name, {
            userIdPolicy: body.user_id_policy,
            scopes: body.scopes,
            jwtSecret: body.jwt_secret === undefined || body.jwt_secret === null ? body.jwt_secret : Redacted.make(body.jwt_secret),
            org: body.organization_id === undefined ? undefined : yield* orgIdOf(body.organization_id, "organization_id"),
            rateLimits: rateLimitsOf(body.rate_limits)
          })
          return answer(AdminJson.service(updated))
        })))
      .handle("deactivate", ({ params }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall()
          const done = yield* admin.deactivateService(call, yield* serviceNameOf(params.name))
          return answer(AdminJson.service(done))
        })))
  })
)

// --- keys ---------------------------------------------------------------------------------------

const readIssueKey = decodeBody(IssueKey, { scopes: SCOPE_HINT })
const readRotate = decodeBody(RotateKeys, { overlap_seconds: "Seconds the current keys keep working beside the new one, 0 to 2592000." })
const readAdminKey = decodeBody(CreateAdminKey)
const readImport = decodeBody(ImportKey, { scopes: SCOPE_HINT })
const readDeprecate = decodeBody(DeprecateKey)

const OWNER_KINDS = { service: "Service", user: "User", admin: "Admin" } as const

export const AdminKeysHandlers = HttpApiBuilder.group(
  Api,
  "adminKeys",
  Effect.fn(function*(handlers) {
    const admin = yield* Administration

    /** A new key for `owner`, its secret shown once; `scopes` and `expires_at` as sent. */
    const issue = (call: AdminCall, owner: KeyOwner, body: { readonly scopes?: typeof IssueKey.Type["scopes"]; readonly expires_at?: number | string }) =>
      Effect.gen(function*() {
        const issued = yield* admin.issueKey(call, owner, {
          scopes: body.scopes,
          expiresAt: yield* optionalTime(body.expires_at, "expires_at")
        })
        return answer(AdminJson.issuedKey(issued), { status: CREATED, replayable: issued })
      })

    return handlers
      .handleRaw("issueService", ({ headers, params, request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall(headers)
          const service = yield* serviceNameOf(params.name)
          return yield* issue(call, { _tag: "Service", service }, yield* readIssueKey(request))
        })))
      .handleRaw("rotate", ({ headers, params, request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall(headers)
          const service = yield* serviceNameOf(params.name)
          const body = yield* readRotate(request)
          const rotated = yield* admin.rotateServiceKeys(call, service, body.overlap_seconds * 1000)
          return answer(AdminJson.rotatedKeys(rotated), { status: CREATED, replayable: rotated })
        })))
      .handleRaw("issueUser", ({ headers, params, request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall(headers)
          const user = yield* userIdOf(params.id)
          return yield* issue(call, { _tag: "User", user }, yield* readIssueKey(request))
        })))
      .handleRaw("issueAdmin", ({ headers, request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall(headers)
          const body = yield* readAdminKey(request)
          return yield* issue(call, { _tag: "Admin", admin: body.name }, body)
        })))
      .handleRaw("import", ({ headers, request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall(headers)
          const body = yield* readImport(request)
          const named = (["service", "user", "admin"] as const).filter((kind) => body[kind] !== undefined)
          if (named.length !== 1) {
            return yield* invalid(
              named[1] ?? "service",
              "Name the key's owner with exactly one of 'service', 'user' or 'admin'.",
              named.length === 0 ? "missing_required_parameter" : "invalid_value"
            )
          }
          const owner: KeyOwner = body.service !== undefined
            ? { _tag: "Service", service: yield* serviceNameOf(body.service, "service") }
            : body.user !== undefined
            ? { _tag: "User", user: yield* userIdOf(body.user, "user") }
            : { _tag: "Admin", admin: body.admin! }
          const imported = yield* admin.importKey(call, owner, Redacted.make(body.key), { scopes: body.scopes }).pipe(
            // The core names an admin key's owner `name` (as `POST /admin-keys` does); here it is `admin`.
            Effect.catchTag("InvalidRequest", (e) =>
              Effect.fail(e.param === "name" ? new InvalidRequest({ param: "admin", code: e.code, detail: e.detail }) : e))
          )
          return answer(AdminJson.key(imported), { status: CREATED })
        })))
      .handle("revoke", ({ params }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall()
          const revoked = yield* admin.revokeKey(call, yield* keyIdOf(params.id))
          return answer(AdminJson.key(revoked))
        })))
      .handleRaw("deprecate", ({ params, request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall()
          const id = yield* keyIdOf(params.id)
          const body = yield* readDeprecate(request)
          const deprecated = yield* admin.deprecateKey(call, id, yield* timeOf(body.sunset, "sunset"))
          return answer(AdminJson.key(deprecated))
        })))
      .handle("list", ({ query }) =>
        handled(Effect.gen(function*() {
          const kind = query.owner_kind?.trim().toLowerCase()
          if (kind !== undefined && !(kind in OWNER_KINDS)) {
            return yield* invalid("owner_kind", "Invalid value for 'owner_kind': service, user or admin.")
          }
          if (query.service !== undefined && query.user !== undefined) {
            return yield* invalid("user", "Give at most one of 'service' and 'user'.")
          }
          const owner: KeyOwner | undefined = query.service !== undefined
            ? { _tag: "Service", service: yield* serviceNameOf(query.service, "service") }
            : query.user !== undefined
            ? { _tag: "User", user: yield* userIdOf(query.user, "user") }
            : undefined
          const ownerKind = kind === undefined ? undefined : OWNER_KINDS[kind as keyof typeof OWNER_KINDS]
          if (owner !== undefined && ownerKind !== undefined && owner._tag !== ownerKind) {
            return yield* invalid("owner_kind", `'owner_kind' ${kind} contradicts the owner named.`)
          }
          return answer(AdminJson.keys(yield* admin.listKeys({ owner, ownerKind })))
        })))
  })
)

/** Every admin group, behind `AdminAuthenticated`. */
export const AdminHandlers = Layer.mergeAll(
  AdminServicesHandlers,
  AdminKeysHandlers,
  AdminAccountsHandlers,
  AdminCreditsHandlers,
  AdminPricingHandlers,
  AdminAuditHandlers,
  AdminAlertsHandlers
).pipe(Layer.provide(AdminAuthenticatedLayer))
