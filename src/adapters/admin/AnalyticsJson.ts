import { Schema } from "effect"
import type { Analytics, AnalyticsGroup, AnalyticsTotals } from "../../application/UsageAnalyticsQuery.ts"
import type { UsagePoint } from "../../application/ports/UsageAnalytics.ts"
import { credits, seconds } from "./AdminJson.ts"

/** Usage analytics on the wire (admin API and the CLI's --json): snake_case, credits and exact millicredits. */

const Rate = (what: string) =>
  Schema.NullOr(Schema.Number).annotate({ description: `${what} as a share of attempts (0–1, 4 decimals); null with no attempts.` })

const pointFields = {
  start: Schema.Int.annotate({ description: "The bucket's start (UTC), unix seconds." }),
  date: Schema.String.annotate({ description: "The bucket's first day (UTC), YYYY-MM-DD." }),
  requests: Schema.Int.annotate({ description: "Generation requests that got past authentication." }),
  succeeded: Schema.Int,
  images: Schema.Int,
  credits: Schema.Number.annotate({ description: "Credits consumed (charged), up to 3 decimals." }),
  millicredits: Schema.Int.annotate({ description: "Credits consumed, in millicredits (exact)." }),
  credits_per_image: Schema.NullOr(Schema.Number).annotate({ description: "Average charge per image; null with no images." }),
  insufficient_credits: Schema.Int.annotate({ description: "Requests refused with 402 insufficient_credits." })
}

export const AnalyticsPointJson = Schema.Struct(pointFields).annotate({ identifier: "AdminAnalyticsPoint" })

export const AnalyticsTotalsJson = Schema.Struct({
  ...pointFields,
  unauthorized: Schema.Int.annotate({ description: "Generation requests refused with 401 (missing, unknown, revoked or expired credentials)." }),
  service_auth_failures: Schema.Int.annotate({
    description: "Generation requests of an authenticated service refused (user context, user policy, scope)."
  }),
  attempts: Schema.Int.annotate({ description: "requests + unauthorized + service_auth_failures." }),
  unauthorized_rate: Rate("unauthorized"),
  service_auth_failure_rate: Rate("service_auth_failures"),
  insufficient_credits_rate: Rate("insufficient_credits")
}).annotate({ identifier: "AdminAnalyticsTotals" })

export const AnalyticsGroupJson = Schema.Struct({
  key: Schema.String.annotate({ description: "The service (- for none), payer account, model, credential kind or billing mode." }),
  requests: Schema.Int,
  succeeded: Schema.Int,
  images: Schema.Int,
  credits: Schema.Number,
  millicredits: Schema.Int,
  credits_per_image: Schema.NullOr(Schema.Number),
  insufficient_credits: Schema.Int,
  series: Schema.Array(AnalyticsPointJson).annotate({ description: "Every bucket of the range, oldest first." })
}).annotate({ identifier: "AdminAnalyticsGroup" })

export const UsageAnalyticsJson = Schema.Struct({
  object: Schema.Literal("usage_analytics"),
  since: Schema.Int.annotate({ description: "Unix seconds (inclusive)." }),
  until: Schema.Int.annotate({ description: "Unix seconds (exclusive)." }),
  bucket: Schema.Literals(["day", "week", "month"]),
  group_by: Schema.Literals(["service", "payer", "model", "credential", "mode", "none"]),
  totals: Schema.Array(AnalyticsTotalsJson).annotate({ description: "Every bucket of the range, all groups together, oldest first." }),
  groups: Schema.Array(AnalyticsGroupJson).annotate({
    description: "A page of groups, by credits then requests (descending), then key. Empty with group_by=none."
  }),
  next_cursor: Schema.NullOr(Schema.String).annotate({ description: "Pass as cursor for the next page of groups; null on the last." })
}).annotate({ identifier: "AdminUsageAnalytics" })

// Display only: the average, rounded to a millicredit.
const perImage = (cost: number, images: number) => (images === 0 ? null : credits(Math.round(cost / images)))

const rate = (n: number, of: number) => (of === 0 ? null : Math.round((n / of) * 10_000) / 10_000)

const point = (p: UsagePoint): typeof AnalyticsPointJson.Type => ({
  start: seconds(p.bucket),
  date: new Date(p.bucket).toISOString().slice(0, 10),
  requests: p.requests,
  succeeded: p.succeeded,
  images: p.images,
  credits: credits(p.costMillicredits),
  millicredits: p.costMillicredits,
  credits_per_image: perImage(p.costMillicredits, p.images),
  insufficient_credits: p.insufficientCredits
})

const totals = (t: AnalyticsTotals): typeof AnalyticsTotalsJson.Type => ({
  ...point(t),
  unauthorized: t.unauthorized,
  service_auth_failures: t.serviceAuthFailures,
  attempts: t.attempts,
  unauthorized_rate: rate(t.unauthorized, t.attempts),
  service_auth_failure_rate: rate(t.serviceAuthFailures, t.attempts),
  insufficient_credits_rate: rate(t.insufficientCredits, t.attempts)
})

const group = (g: AnalyticsGroup): typeof AnalyticsGroupJson.Type => ({
  key: g.key,
  requests: g.requests,
  succeeded: g.succeeded,
  images: g.images,
  credits: credits(g.costMillicredits),
  millicredits: g.costMillicredits,
  credits_per_image: perImage(g.costMillicredits, g.images),
  insufficient_credits: g.insufficientCredits,
  series: g.points.map(point)
})

export const usageAnalytics = (a: Analytics): typeof UsageAnalyticsJson.Type => ({
  object: "usage_analytics",
  since: seconds(a.since),
  until: seconds(a.until),
  bucket: a.bucket,
  group_by: a.groupBy,
  totals: a.totals.map(totals),
  groups: a.groups.map(group),
  next_cursor: a.nextCursor ?? null
})
