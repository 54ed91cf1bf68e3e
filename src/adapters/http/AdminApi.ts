import { Context, Schema } from "effect"
import { HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSchema, HttpApiSecurity, OpenApi } from "effect/http-api"
import type { AdminPrincipal } from "../../domain/Principal.ts"
import * as AdminJson from "../admin/AdminJson.ts"
import * as AnalyticsJson from "../admin/AnalyticsJson.ts"
import * as AlertJson from "../admin/AlertJson.ts"
import {
  AlertThreshold,
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
} from "./AdminPayloads.ts"
import { E400, E401, E403, E404, E409, E413, E415 } from "./ApiErrors.ts"

/**
 * The admin API's contract: what operators do (services, keys, users, organizations, credits,
 * pricing, the audit log, usage), under `/api/v1/admin/`, with an admin key only. Bodies are read
 * by the handlers (`AdminHandlers.ts` and its siblings) and decoded with the payload schemas
 * published here (`AdminPayloads.ts`), so that every refusal answers in OpenAI's error shape
 * naming the field; the answers are the shapes of `AdminJson.ts`, which the admin CLI prints too.
 */

export const ADMIN_PREFIX = "/api/v1/admin"

/** The operator behind the admin key of the request, resolved by `AdminAuthenticated`. */
export class CurrentAdmin extends Context.Service<CurrentAdmin, AdminPrincipal>()("image-gateway/http/CurrentAdmin") {}

/**
 * Resolves the admin key of a request before the handler runs (`AdminAuth.ts`); any other
 * credential is refused in OpenAI's error shape. The security scheme is named `adminKey` in the
 * document.
 */
export class AdminAuthenticated extends HttpApiMiddleware.Service<AdminAuthenticated, { provides: CurrentAdmin }>()(
  "image-gateway/http/AdminAuthenticated",
  { security: { adminKey: HttpApiSecurity.bearer } }
) {}

// --- endpoints ----------------------------------------------------------------------------------

const idempotencyHeaders = Schema.Struct({
  "idempotency-key": Schema.optionalKey(Schema.String).annotate({
    description: "1–255 characters. The same key with the same body within 24 h answers the first result again (a key's secret is not shown again) with Idempotent-Replayed: true; with another body, 409."
  })
})

const READ_ERRORS = [E400, E401, E403] as const
const WRITE_ERRORS = [E400, E401, E403, E404, E409, E413, E415] as const

const created = <S extends Schema.Top>(schema: S) => schema.pipe(HttpApiSchema.status(201))

const str = Schema.optionalKey(Schema.String)
const nameParam = { name: Schema.String.annotate({ description: "The service's name." }) }
const idParam = (description: string) => ({ id: Schema.String.annotate({ description }) })

const summary = (text: string) => OpenApi.annotations({ summary: text })

const adminGroup = <const Name extends string>(name: Name) => HttpApiGroup.make(name)

export class AdminServicesGroup extends adminGroup("adminServices")
  .add(
    HttpApiEndpoint.post("create", "/services", {
      headers: idempotencyHeaders,
      payload: CreateService,
      success: created(AdminJson.CreatedServiceJson),
      error: WRITE_ERRORS
    }).annotateMerge(summary("Create a service (with its organization, policy, scopes and first grant) and its first key, shown once")),
    HttpApiEndpoint.get("list", "/services", { success: AdminJson.ServiceListJson, error: READ_ERRORS }).annotateMerge(
      summary("Every service, with its organization's balance and its last use")
    ),
    HttpApiEndpoint.get("show", "/services/:name", {
      params: nameParam,
      success: AdminJson.ServiceJson,
      error: [...READ_ERRORS, E404]
    }).annotateMerge(summary("A service: its organization's balance, pending holds, this month's spend, last use and keys")),
    HttpApiEndpoint.patch("update", "/services/:name", {
      params: nameParam,
      payload: UpdateService,
      success: AdminJson.ServiceJson,
      error: WRITE_ERRORS
    }).annotateMerge(summary("Change a service's user-id policy, scopes, JWT secret, organization or rate limits")),
    HttpApiEndpoint.post("deactivate", "/services/:name/deactivate", {
      params: nameParam,
      success: AdminJson.ServiceJson,
      error: [...READ_ERRORS, E404]
    }).annotateMerge(summary("Deactivate a service: its keys and JWTs stop working at once"))
  )
  .prefix(ADMIN_PREFIX)
  .middleware(AdminAuthenticated)
  .annotateMerge(OpenApi.annotations({
    title: "Admin: services",
    description: "Services, the organizations they bill and their first keys. Admin key only."
  }))
{}

export class AdminKeysGroup extends adminGroup("adminKeys")
  .add(
    HttpApiEndpoint.post("issueService", "/services/:name/keys", {
      params: nameParam,
      headers: idempotencyHeaders,
      payload: IssueKey,
      success: created(AdminJson.IssuedKeyJson),
      error: WRITE_ERRORS
    }).annotateMerge(summary("Issue another key for a service, shown once")),
    HttpApiEndpoint.post("rotate", "/services/:name/keys/rotate", {
      params: nameParam,
      headers: idempotencyHeaders,
      payload: RotateKeys,
      success: created(AdminJson.RotatedKeysJson),
      error: WRITE_ERRORS
    }).annotateMerge(summary("Rotate a service's keys: a new key, shown once; the current ones keep working, deprecated, for the overlap")),
    HttpApiEndpoint.post("issueUser", "/users/:id/keys", {
      params: idParam("The user's UUID."),
      headers: idempotencyHeaders,
      payload: IssueKey,
      success: created(AdminJson.IssuedKeyJson),
      error: WRITE_ERRORS
    }).annotateMerge(summary("Issue an API key for a user, shown once")),
    HttpApiEndpoint.post("issueAdmin", "/admin-keys", {
      headers: idempotencyHeaders,
      payload: CreateAdminKey,
      success: created(AdminJson.IssuedKeyJson),
      error: WRITE_ERRORS
    }).annotateMerge(summary("Issue another admin key, shown once")),
    HttpApiEndpoint.post("import", "/keys/import", {
      headers: idempotencyHeaders,
      payload: ImportKey,
      success: created(AdminJson.KeyJson),
      error: WRITE_ERRORS
    }).annotateMerge(summary("Import a legacy literal key for a service, a user or an operator (stored hashed)")),
    HttpApiEndpoint.post("revoke", "/keys/:id/revoke", {
      params: idParam("The key's id."),
      success: AdminJson.KeyJson,
      error: [...READ_ERRORS, E404]
    }).annotateMerge(summary("Revoke a key: it stops working at once")),
    HttpApiEndpoint.post("deprecate", "/keys/:id/deprecate", {
      params: idParam("The key's id."),
      payload: DeprecateKey,
      success: AdminJson.KeyJson,
      error: WRITE_ERRORS
    }).annotateMerge(summary("Deprecate a key: its responses carry Deprecation, Sunset and Link headers")),
    HttpApiEndpoint.get("list", "/keys", {
      query: {
        owner_kind: str.annotate({ description: "service, user or admin." }),
        service: str.annotate({ description: "The keys of this service." }),
        user: str.annotate({ description: "The keys of this user." })
      },
      success: AdminJson.KeyListJson,
      error: READ_ERRORS
    }).annotateMerge(summary("Keys: prefix, owner, status, sunset and last use — never a secret or a hash"))
  )
  .prefix(ADMIN_PREFIX)
  .middleware(AdminAuthenticated)
  .annotateMerge(OpenApi.annotations({
    title: "Admin: keys",
    description: "API keys of services, users and operators: issue, rotate with overlap, import, deprecate, revoke. Admin key only."
  }))
{}

const pageQuery = {
  after: str.annotate({ description: "The last id of the previous page (its next_cursor)." }),
  limit: str.annotate({ description: "1–500, default 100." })
}

export class AdminAccountsGroup extends adminGroup("adminAccounts")
  .add(
    HttpApiEndpoint.post("createUser", "/users", {
      headers: idempotencyHeaders,
      payload: CreateUser,
      success: created(AdminJson.UserJson),
      error: WRITE_ERRORS
    }).annotateMerge(summary("Create a user, with a tier, a billing organization, a monthly cap and a first grant")),
    HttpApiEndpoint.get("listUsers", "/users", { query: pageQuery, success: AdminJson.UserListJson, error: READ_ERRORS })
      .annotateMerge(summary("Users in id order, a page at a time")),
    HttpApiEndpoint.get("showUser", "/users/:id", {
      params: idParam("The user's UUID."),
      success: AdminJson.UserJson,
      error: [...READ_ERRORS, E404]
    }).annotateMerge(summary("A user, with its balance and this month's spend")),
    HttpApiEndpoint.patch("updateUser", "/users/:id", {
      params: idParam("The user's UUID."),
      payload: UpdateUser,
      success: AdminJson.UserJson,
      error: WRITE_ERRORS
    }).annotateMerge(summary("Suspend or reactivate a user; change its tier, monthly cap or billing organization")),
    HttpApiEndpoint.post("createOrganization", "/organizations", {
      headers: idempotencyHeaders,
      payload: CreateOrganization,
      success: created(AdminJson.OrganizationJson),
      error: WRITE_ERRORS
    }).annotateMerge(summary("Create an organization, with a tier, a monthly cap and a first grant")),
    HttpApiEndpoint.get("listOrganizations", "/organizations", {
      query: pageQuery,
      success: AdminJson.OrganizationListJson,
      error: READ_ERRORS
    }).annotateMerge(summary("Organizations in id order, a page at a time")),
    HttpApiEndpoint.get("showOrganization", "/organizations/:id", {
      params: idParam("The organization's id (org_…)."),
      success: AdminJson.OrganizationJson,
      error: [...READ_ERRORS, E404]
    }).annotateMerge(summary("An organization, with its balance and this month's spend")),
    HttpApiEndpoint.patch("updateOrganization", "/organizations/:id", {
      params: idParam("The organization's id (org_…)."),
      payload: UpdateOrganization,
      success: AdminJson.OrganizationJson,
      error: WRITE_ERRORS
    }).annotateMerge(summary("Change an organization's name, tier, member billing or monthly cap"))
  )
  .prefix(ADMIN_PREFIX)
  .middleware(AdminAuthenticated)
  .annotateMerge(OpenApi.annotations({
    title: "Admin: users and organizations",
    description: "The payers: users and organizations, their tiers, caps and memberships. Admin key only."
  }))
{}

const accountParam = {
  account_id: Schema.String.annotate({ description: "A user UUID or an organization id (org_…)." })
}

export class AdminCreditsGroup extends adminGroup("adminCredits")
  .add(
    HttpApiEndpoint.post("grant", "/accounts/:account_id/grants", {
      params: accountParam,
      headers: idempotencyHeaders,
      payload: Grant,
      success: created(AdminJson.TransferResultJson),
      error: WRITE_ERRORS
    }).annotateMerge(summary("Grant credits to a user or an organization")),
    HttpApiEndpoint.get("account", "/accounts/:account_id", {
      params: accountParam,
      success: AdminJson.AccountJson,
      error: [...READ_ERRORS, E404]
    }).annotateMerge(summary("An account: balance, pending holds, available, this month's spend, tier and cap")),
    HttpApiEndpoint.get("transfers", "/accounts/:account_id/transfers", {
      params: accountParam,
      query: {
        limit: str.annotate({ description: "1–500, default 50." }),
        before: str.annotate({ description: "The previous page's next_cursor." })
      },
      success: AdminJson.TransferListJson,
      error: [...READ_ERRORS, E404]
    }).annotateMerge(summary("An account's journal, newest first")),
    HttpApiEndpoint.post("refund", "/transfers/:transfer_id/refunds", {
      params: { transfer_id: Schema.String.annotate({ description: "A settled charge's transfer id (kind settle)." }) },
      headers: idempotencyHeaders,
      payload: Refund,
      success: created(AdminJson.TransferResultJson),
      error: WRITE_ERRORS
    }).annotateMerge(summary("Refund (part of) a charge to its payer"))
  )
  .prefix(ADMIN_PREFIX)
  .middleware(AdminAuthenticated)
  .annotateMerge(OpenApi.annotations({
    title: "Admin: credits",
    description: "Grants, refunds, balances and journals. Amounts are credits with up to 3 decimals, and exact millicredits. Admin key only."
  }))
{}

export class AdminPricingGroup extends adminGroup("adminPricing")
  .add(
    HttpApiEndpoint.get("show", "/pricing", { success: AdminJson.PricingJson, error: READ_ERRORS }).annotateMerge(
      summary("The prices, tier multipliers, credit-exempt tiers and the billing switch in force")
    ),
    HttpApiEndpoint.patch("update", "/pricing", {
      payload: UpdatePricing,
      success: AdminJson.PricingJson,
      error: WRITE_ERRORS
    }).annotateMerge(summary("Change prices, multipliers, exemptions or the billing switch; every instance applies it within seconds"))
  )
  .prefix(ADMIN_PREFIX)
  .middleware(AdminAuthenticated)
  .annotateMerge(OpenApi.annotations({ title: "Admin: pricing", description: "Prices as data. Admin key only." }))
{}

export class AdminAuditGroup extends adminGroup("adminAudit")
  .add(
    HttpApiEndpoint.get("audit", "/audit", {
      query: {
        kind: str.annotate({ description: "admin or credential." }),
        actor: str.annotate({ description: "E.g. key:<admin key id>, or a service name." }),
        action: str.annotate({ description: "E.g. credits.grant." }),
        target: str.annotate({ description: "E.g. account:org_acme." }),
        since: str.annotate({ description: "Unix seconds or ISO 8601 (inclusive)." }),
        until: str.annotate({ description: "Unix seconds or ISO 8601 (exclusive)." }),
        before: str.annotate({ description: "The previous page's next_cursor." }),
        limit: str.annotate({ description: "1–500, default 100." })
      },
      success: AdminJson.AuditListJson,
      error: READ_ERRORS
    }).annotateMerge(summary("The audit log, newest first: admin actions and service credential uses")),
    HttpApiEndpoint.get("usage", "/usage/report", {
      query: {
        since: str.annotate({ description: "Unix seconds or ISO 8601; default: 7 days before until." }),
        until: str.annotate({ description: "Unix seconds or ISO 8601; default: now." }),
        top: str.annotate({ description: "Groups per list, 1–1000, default 10." })
      },
      success: AdminJson.UsageReportJson,
      error: READ_ERRORS
    }).annotateMerge(summary("Usage per service, payer, model, credential kind and billing mode")),
    HttpApiEndpoint.get("usageAnalytics", "/usage/analytics", {
      query: {
        since: str.annotate({ description: "Unix seconds or ISO 8601 (inclusive); default: 30 days before until." }),
        until: str.annotate({ description: "Unix seconds or ISO 8601 (exclusive); default: now." }),
        bucket: str.annotate({ description: "day (default), week (ISO, from Monday) or month; UTC. At most 366 buckets." }),
        group_by: str.annotate({ description: "service, payer, model, credential, mode or none (default)." }),
        limit: str.annotate({ description: "Groups per page, 1–100, default 20." }),
        cursor: str.annotate({ description: "The previous page's next_cursor." })
      },
      success: AnalyticsJson.UsageAnalyticsJson,
      error: READ_ERRORS
    }).annotateMerge(summary("Usage per UTC day, week or month and group: credits, requests, images, cost per image, error rates"))
  )
  .prefix(ADMIN_PREFIX)
  .middleware(AdminAuthenticated)
  .annotateMerge(OpenApi.annotations({ title: "Admin: audit and usage", description: "Who did what, and what was used. Admin key only." }))
{}

export class AdminAlertsGroup extends adminGroup("adminAlerts")
  .add(
    HttpApiEndpoint.get("list", "/alerts", {
      query: {
        before: str.annotate({ description: "The previous page's next_cursor." }),
        limit: str.annotate({ description: "1–500, default 100." })
      },
      success: AlertJson.AlertListJson,
      error: READ_ERRORS
    }).annotateMerge(summary("Alerts, newest first, with their delivery: pending, delivered or failed, attempts, last error, next attempt")),
    HttpApiEndpoint.put("threshold", "/accounts/:account_id/alert-threshold", {
      params: accountParam,
      payload: AlertThreshold,
      success: AlertJson.AlertThresholdJson,
      error: WRITE_ERRORS
    }).annotateMerge(summary("Set an account's low-balance alert threshold, or (null) go back to the default"))
  )
  .prefix(ADMIN_PREFIX)
  .middleware(AdminAuthenticated)
  .annotateMerge(OpenApi.annotations({
    title: "Admin: alerts",
    description: "Low-balance alerts and their delivery (docs/alerts.md). Admin key only."
  }))
{}
