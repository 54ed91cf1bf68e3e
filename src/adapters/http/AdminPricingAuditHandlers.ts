import { Clock, Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Administration } from "../../application/Administration.ts"
import type { PricingChange } from "../../application/PricingCatalog.ts"
import { InvalidRequest } from "../../domain/Errors.ts"
import * as AdminJson from "../admin/AdminJson.ts"
import * as AnalyticsJson from "../admin/AnalyticsJson.ts"
import { SERIES_GROUPINGS, type SeriesGrouping } from "../../application/ports/UsageAnalytics.ts"
import { type Bucket, BUCKETS } from "../../domain/TimeBuckets.ts"
import { UpdatePricing } from "./AdminPayloads.ts"
import { adminCall, answer, creditsOf, decodeBody, DEFAULT_PAGE, handled, intQuery, invalid, MAX_PAGE, timeOf } from "./AdminRequests.ts"
import { Api } from "./Api.ts"

/** The admin API's pricing (prices as data), audit log and usage report. */

// --- pricing ------------------------------------------------------------------------------------

const readPricing = decodeBody(UpdatePricing, {
  multipliers: "Basis points per tier (10000 = list price), or null to remove.",
  routes: "A provider name per model id, or null to remove the model's route."
})

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
            billingEnabled: body.billing_enabled,
            // Provider names are checked by the core, which names the model whose provider is unknown.
            routes: body.routes as PricingChange["routes"]
          }
          const updated = yield* admin.updatePricing(call, change).pipe(Effect.catchTag("InvalidRequest", pricingRefusal))
          return answer(AdminJson.pricing(updated))
        })))
  })
)

// --- audit and usage ----------------------------------------------------------------------------

const WEEK_MS = 7 * 24 * 60 * 60_000
const DEFAULT_TOP = 10
const ANALYTICS_DEFAULT_RANGE_MS = 30 * 24 * 60 * 60_000
const ANALYTICS_DEFAULT_LIMIT = 20

/** A query parameter that is one of `values`, `fallback` when absent. */
const oneOf = <A extends string>(raw: string | undefined, param: string, values: ReadonlyArray<A>, fallback: A) => {
  const value = raw?.trim() ?? fallback
  return (values as ReadonlyArray<string>).includes(value)
    ? Effect.succeed(value as A)
    : Effect.fail(invalid(param, `Invalid value for '${param}': one of ${values.join(", ")}.`))
}

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
      .handle("usageAnalytics", ({ query }) =>
        handled(Effect.gen(function*() {
          const until = query.until === undefined ? yield* Clock.currentTimeMillis : yield* timeOf(query.until, "until")
          const since = query.since === undefined ? until - ANALYTICS_DEFAULT_RANGE_MS : yield* timeOf(query.since, "since")
          const bucket = yield* oneOf<Bucket>(query.bucket, "bucket", BUCKETS, "day")
          const groupBy = yield* oneOf<SeriesGrouping>(query.group_by, "group_by", SERIES_GROUPINGS, "none")
          const limit = yield* intQuery(query.limit, "limit", 1, 100, ANALYTICS_DEFAULT_LIMIT)
          const cursor = query.cursor?.trim()
          const result = yield* admin.usageAnalytics({ since, until, bucket, groupBy, limit, cursor })
          return answer(AnalyticsJson.usageAnalytics(result))
        })))
  })
)
