import { Clock, Effect, Layer, Redacted } from "effect"
import type { HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { type AdminCall, Administration, type AdminFailure } from "../../application/Administration.ts"
import type { PricingChange } from "../../application/PricingCatalog.ts"
import type { KeyOwner } from "../../domain/Entities.ts"
import { InvalidRequest } from "../../domain/Errors.ts"
import type { Tier } from "../../domain/Tier.ts"
import * as AdminJson from "../admin/AdminJson.ts"
import {
  CreateAdminKey,
  CreateOrganization,
  CreateService,
  CreateUser,
  DeprecateKey,
  Grant,
  ImportKey,
  IssueKey,
  Refund,
  RotateKeys,
  UpdateOrganization,
  UpdatePricing,
  UpdateService,
  UpdateUser
} from "./AdminApi.ts"
import { AdminAuthenticatedLayer } from "./AdminAuth.ts"
import {
  adminCall,
  answer,
  answerFailure,
  creditsOf,
  decodeBody,
  intQuery,
  invalid,
  keyIdOf,
  optionalCredits,
  optionalTime,
  orgIdOf,
  serviceNameOf,
  timeOf,
  transferIdOf,
  userIdOf
} from "./AdminRequests.ts"
import { Api } from "./Api.ts"
import type { HttpFailure } from "./Requests.ts"

/**
 * The admin API on the `Administration` service: each handler reads the request (`AdminRequests.ts`),
 * calls the core once with the admin key's call (`key:<id>`, the request id, the Idempotency-Key)
 * and answers with the JSON of `AdminJson.ts`. Creating something answers 201; an answer replayed
 * for an Idempotency-Key carries `Idempotent-Replayed: true`. Bodies are read by the handlers
 * (`handleRaw`), so that every refusal, a body that is not JSON included, is OpenAI's error shape
 * naming the parameter.
 */

/** The answer, or the refusal in OpenAI's shape. */
const handled = <R>(effect: Effect.Effect<HttpServerResponse.HttpServerResponse, HttpFailure | AdminFailure, R>) =>
  Effect.catch(effect, answerFailure)

const tierOf = (tier: string | undefined) => tier as Tier | undefined

const CREATED = 201

const SCOPE_HINT = "Scopes: images:generate, credits:read, models:read, byok:manage."

// --- services -----------------------------------------------------------------------------------

const readCreateService = decodeBody(CreateService, {
  name: "A service name is lowercase letters, digits and '-' (e.g. presenton-service).",
  scopes: SCOPE_HINT,
  initial_credits: "Credits with at most 3 decimals, e.g. 10000."
})
const readUpdateService = decodeBody(UpdateService, { scopes: `${SCOPE_HINT} null for every scope.` })

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
            initialCredits: yield* optionalCredits(body.initial_credits, "initial_credits")
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
            org: body.organization_id === undefined ? undefined : yield* orgIdOf(body.organization_id, "organization_id")
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

    const issue = (call: AdminCall, owner: KeyOwner, body: typeof IssueKey.Type) =>
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
          return yield* issue(call, { _tag: "Admin", admin: body.name }, { expires_at: body.expires_at } as typeof IssueKey.Type)
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

// --- users and organizations --------------------------------------------------------------------

const readCreateUser = decodeBody(CreateUser)
const readUpdateUser = decodeBody(UpdateUser)
const readCreateOrganization = decodeBody(CreateOrganization)
const readUpdateOrganization = decodeBody(UpdateOrganization)

const DEFAULT_PAGE = 100
const MAX_PAGE = 500

const nullableCredits = (value: number | string | null | undefined, param: string) =>
  value === null ? Effect.succeed(null) : optionalCredits(value, param)

export const AdminAccountsHandlers = HttpApiBuilder.group(
  Api,
  "adminAccounts",
  Effect.fn(function*(handlers) {
    const admin = yield* Administration

    const page = (query: { readonly after?: string | undefined; readonly limit?: string | undefined }) =>
      Effect.map(intQuery(query.limit, "limit", 1, MAX_PAGE, DEFAULT_PAGE), (limit) => ({ after: query.after?.trim(), limit }))

    return handlers
      .handleRaw("createUser", ({ headers, request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall(headers)
          const body = yield* readCreateUser(request)
          const created = yield* admin.createUser(call, {
            id: body.id === undefined ? undefined : yield* userIdOf(body.id),
            tier: tierOf(body.tier),
            billingOrg: body.billing_org === undefined ? undefined : yield* orgIdOf(body.billing_org, "billing_org"),
            monthlyCap: yield* optionalCredits(body.monthly_cap, "monthly_cap"),
            initialCredits: yield* optionalCredits(body.initial_credits, "initial_credits")
          })
          return answer(AdminJson.user(created), { status: CREATED, replayable: created })
        })))
      .handle("listUsers", ({ query }) =>
        handled(Effect.gen(function*() {
          const asked = yield* page(query)
          return answer(AdminJson.users(yield* admin.listUsers(asked), asked.limit))
        })))
      .handle("showUser", ({ params }) =>
        handled(Effect.gen(function*() {
          return answer(AdminJson.user(yield* admin.showUser(yield* userIdOf(params.id))))
        })))
      .handleRaw("updateUser", ({ params, request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall()
          const id = yield* userIdOf(params.id)
          const body = yield* readUpdateUser(request)
          const updated = yield* admin.updateUser(call, id, {
            status: body.status,
            tier: tierOf(body.tier),
            monthlyCap: yield* nullableCredits(body.monthly_cap, "monthly_cap"),
            billingOrg: body.billing_org === undefined || body.billing_org === null
              ? body.billing_org
              : yield* orgIdOf(body.billing_org, "billing_org")
          })
          return answer(AdminJson.user(updated))
        })))
      .handleRaw("createOrganization", ({ headers, request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall(headers)
          const body = yield* readCreateOrganization(request)
          const created = yield* admin.createOrganization(call, {
            id: yield* orgIdOf(body.id),
            name: body.name,
            tier: tierOf(body.tier),
            billsMembers: body.bills_members,
            monthlyCap: yield* optionalCredits(body.monthly_cap, "monthly_cap"),
            initialCredits: yield* optionalCredits(body.initial_credits, "initial_credits")
          })
          return answer(AdminJson.organization(created), { status: CREATED, replayable: created })
        })))
      .handle("listOrganizations", ({ query }) =>
        handled(Effect.gen(function*() {
          const asked = yield* page(query)
          return answer(AdminJson.organizations(yield* admin.listOrganizations(asked), asked.limit))
        })))
      .handle("showOrganization", ({ params }) =>
        handled(Effect.gen(function*() {
          return answer(AdminJson.organization(yield* admin.showOrganization(yield* orgIdOf(params.id))))
        })))
      .handleRaw("updateOrganization", ({ params, request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall()
          const id = yield* orgIdOf(params.id)
          const body = yield* readUpdateOrganization(request)
          const updated = yield* admin.updateOrganization(call, id, {
            name: body.name,
            tier: tierOf(body.tier),
            billsMembers: body.bills_members,
            monthlyCap: yield* nullableCredits(body.monthly_cap, "monthly_cap")
          })
          return answer(AdminJson.organization(updated))
        })))
  })
)

// --- credits ------------------------------------------------------------------------------------

const readGrant = decodeBody(Grant, { credits: "Credits with at most 3 decimals, e.g. 1000 or 0.5.", reason: "Say why, e.g. \"invoice 2026-117\"." })
const readRefund = decodeBody(Refund, { reason: "Say why, e.g. \"failed image, ticket 42\"." })

const DEFAULT_HISTORY = 50

export const AdminCreditsHandlers = HttpApiBuilder.group(
  Api,
  "adminCredits",
  Effect.fn(function*(handlers) {
    const admin = yield* Administration

    return handlers
      .handleRaw("grant", ({ headers, params, request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall(headers)
          const body = yield* readGrant(request)
          const amount = yield* creditsOf(body.credits, "credits")
          const granted = yield* admin.grant(call, params.account_id, amount, body.reason)
          return answer(AdminJson.transfer(granted), { status: CREATED, replayable: granted })
        })))
      .handle("account", ({ params }) => handled(Effect.map(admin.account(params.account_id), (a) => answer(AdminJson.account(a)))))
      .handle("transfers", ({ params, query }) =>
        handled(Effect.gen(function*() {
          const limit = yield* intQuery(query.limit, "limit", 1, MAX_PAGE, DEFAULT_HISTORY)
          const before = query.before === undefined ? undefined : yield* intQuery(query.before, "before", 1, Number.MAX_SAFE_INTEGER, 0)
          const page = yield* admin.history(params.account_id, { limit, beforeSeq: before })
          return answer(AdminJson.transfers(page))
        })))
      .handleRaw("refund", ({ headers, params, request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall(headers)
          const id = yield* transferIdOf(params.transfer_id)
          const body = yield* readRefund(request)
          const refunded = yield* admin.refund(call, id, {
            millicredits: yield* optionalCredits(body.credits, "credits"),
            reason: body.reason
          })
          return answer(AdminJson.transfer(refunded), { status: CREATED, replayable: refunded })
        })))
  })
)

// --- pricing ------------------------------------------------------------------------------------

const readPricing = decodeBody(UpdatePricing, { multipliers: "Basis points per tier (10000 = list price), or null to remove." })

/** The core's names for the pricing fields, and the API's. */
const PRICING_WORDS: ReadonlyArray<readonly [RegExp, string]> = [
  [/\bsetPrices\b/g, "prices"],
  [/\bremovePrices\b/g, "remove_prices"],
  [/\bmultipliersBps\b/g, "multipliers"],
  [/\bdefaultMultiplierBps\b/g, "default_multiplier"],
  [/\bcreditExempt\b/g, "credit_exempt"],
  [/\bbillingEnabled\b/g, "billing_enabled"]
]

const inApiWords = (text: string) => PRICING_WORDS.reduce((t, [word, api]) => t.replace(word, api), text)

/** A refusal of the pricing change, in the API's field names. */
const pricingRefusal = (e: InvalidRequest) =>
  Effect.fail(new InvalidRequest({ param: e.param === null ? null : inApiWords(e.param), code: e.code, detail: inApiWords(e.detail) }))

export const AdminPricingHandlers = HttpApiBuilder.group(
  Api,
  "adminPricing",
  Effect.fn(function*(handlers) {
    const admin = yield* Administration

    return handlers
      .handle("show", () => Effect.map(admin.pricing, (p) => answer(AdminJson.pricing(p))))
      .handleRaw("update", ({ request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall()
          const body = yield* readPricing(request)
          const setPrices = body.prices === undefined ? undefined : yield* Effect.forEach(body.prices, (row, i) =>
            Effect.map(creditsOf(row.credits, `prices[${i}].credits`, { allowZero: true }), (millicredits) => ({
              model: row.model,
              quality: row.quality,
              size: row.size,
              millicredits
            })))
          const change: PricingChange = {
            setPrices,
            removePrices: body.remove_prices,
            multipliersBps: body.multipliers,
            defaultMultiplierBps: body.default_multiplier,
            creditExempt: body.credit_exempt,
            billingEnabled: body.billing_enabled
          }
          const updated = yield* admin.updatePricing(call, change).pipe(Effect.catchTag("InvalidRequest", pricingRefusal))
          return answer(AdminJson.pricing(updated))
        })))
  })
)

// --- audit and usage ----------------------------------------------------------------------------

const WEEK_MS = 7 * 24 * 60 * 60_000
const DEFAULT_TOP = 10

export const AdminAuditHandlers = HttpApiBuilder.group(
  Api,
  "adminAudit",
  Effect.fn(function*(handlers) {
    const admin = yield* Administration

    return handlers
      .handle("audit", ({ query }) =>
        handled(Effect.gen(function*() {
          const kind = query.kind?.trim()
          if (kind !== undefined && kind !== "admin" && kind !== "credential") {
            return yield* invalid("kind", "Invalid value for 'kind': admin or credential.")
          }
          const limit = yield* intQuery(query.limit, "limit", 1, MAX_PAGE, DEFAULT_PAGE)
          const page = yield* admin.audit({
            kind,
            actor: query.actor,
            action: query.action,
            target: query.target,
            since: query.since === undefined ? undefined : yield* timeOf(query.since, "since"),
            until: query.until === undefined ? undefined : yield* timeOf(query.until, "until"),
            beforeSeq: query.before === undefined ? undefined : yield* intQuery(query.before, "before", 1, Number.MAX_SAFE_INTEGER, 0),
            limit
          })
          return answer(AdminJson.auditPage(page))
        })))
      .handle("usage", ({ query }) =>
        handled(Effect.gen(function*() {
          const until = query.until === undefined ? yield* Clock.currentTimeMillis : yield* timeOf(query.until, "until")
          const since = query.since === undefined ? until - WEEK_MS : yield* timeOf(query.since, "since")
          const top = yield* intQuery(query.top, "top", 1, 1000, DEFAULT_TOP)
          return answer(AdminJson.usageReport(yield* admin.usageReport({ since, until, top })))
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
  AdminAuditHandlers
).pipe(Layer.provide(AdminAuthenticatedLayer))
