import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Administration } from "../../application/Administration.ts"
import * as AdminJson from "../admin/AdminJson.ts"
import { CreateOrganization, CreateUser, Grant, Refund, UpdateOrganization, UpdateUser } from "./AdminPayloads.ts"
import {
  adminCall,
  answer,
  CREATED,
  creditsOf,
  decodeBody,
  DEFAULT_PAGE,
  handled,
  intQuery,
  MAX_PAGE,
  optionalCredits,
  orgIdOf,
  tierOf,
  transferIdOf,
  userIdOf
} from "./AdminRequests.ts"
import { Api } from "./Api.ts"

/** The admin API's payers: users and organizations, and their credits (grants, refunds, balances, journals). */

// --- users and organizations --------------------------------------------------------------------

const readCreateUser = decodeBody(CreateUser)
const readUpdateUser = decodeBody(UpdateUser)
const readCreateOrganization = decodeBody(CreateOrganization)
const readUpdateOrganization = decodeBody(UpdateOrganization)

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
