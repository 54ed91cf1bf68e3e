import { Clock, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { Administration } from "../../application/Administration.ts"
import type { Analytics } from "../../application/UsageAnalyticsQuery.ts"
import { SERIES_GROUPINGS } from "../../application/ports/UsageAnalytics.ts"
import { BUCKETS } from "../../domain/TimeBuckets.ts"
import * as AnalyticsJson from "../admin/AnalyticsJson.ts"
import { emit, onStore, timeFlag } from "./CliSupport.ts"
import { credits, percent, table, time } from "./TextOutput.ts"

const DEFAULT_RANGE_MS = 30 * 24 * 60 * 60_000

const count = (n: number) => n.toLocaleString("en-US")
const perImage = (cost: number, images: number) => (images === 0 ? "-" : credits(Math.round(cost / images)))
const day = (at: number) => new Date(at).toISOString().slice(0, 10)

/** The analytics for people: the totals per bucket with the error rates, then each group per bucket. */
export const analyticsText = (a: Analytics): string => {
  const lines = [
    `Usage from ${time(a.since)} to ${time(a.until)}, per ${a.bucket} (UTC${a.bucket === "week" ? ", weeks from Monday" : ""})`,
    "",
    "All requests:",
    table(a.totals, [
      { header: a.bucket.toUpperCase(), cell: (t) => day(t.bucket) },
      { header: "REQUESTS", cell: (t) => count(t.requests), align: "right" },
      { header: "IMAGES", cell: (t) => count(t.images), align: "right" },
      { header: "CREDITS", cell: (t) => credits(t.costMillicredits), align: "right" },
      { header: "AVG/IMAGE", cell: (t) => perImage(t.costMillicredits, t.images), align: "right" },
      { header: "401", cell: (t) => count(t.unauthorized), align: "right" },
      { header: "401%", cell: (t) => percent(t.unauthorized, t.attempts), align: "right" },
      { header: "SVC-AUTH", cell: (t) => count(t.serviceAuthFailures), align: "right" },
      { header: "SVC-AUTH%", cell: (t) => percent(t.serviceAuthFailures, t.attempts), align: "right" },
      { header: "402", cell: (t) => count(t.insufficientCredits), align: "right" },
      { header: "402%", cell: (t) => percent(t.insufficientCredits, t.attempts), align: "right" }
    ])
  ]
  if (a.groupBy !== "none") {
    const rows = a.groups.flatMap((g) => g.points.filter((p) => p.requests > 0).map((p) => ({ key: g.key, ...p })))
    lines.push(
      "",
      `Per ${a.groupBy} (largest first):`,
      table(a.groups, [
        { header: a.groupBy.toUpperCase(), cell: (g) => g.key },
        { header: "REQUESTS", cell: (g) => count(g.requests), align: "right" },
        { header: "IMAGES", cell: (g) => count(g.images), align: "right" },
        { header: "CREDITS", cell: (g) => credits(g.costMillicredits), align: "right" },
        { header: "AVG/IMAGE", cell: (g) => perImage(g.costMillicredits, g.images), align: "right" },
        { header: "402", cell: (g) => count(g.insufficientCredits), align: "right" }
      ]),
      "",
      `Per ${a.groupBy} and ${a.bucket} (buckets with requests):`,
      table(rows, [
        { header: a.groupBy.toUpperCase(), cell: (r) => r.key },
        { header: a.bucket.toUpperCase(), cell: (r) => day(r.bucket) },
        { header: "REQUESTS", cell: (r) => count(r.requests), align: "right" },
        { header: "IMAGES", cell: (r) => count(r.images), align: "right" },
        { header: "CREDITS", cell: (r) => credits(r.costMillicredits), align: "right" },
        { header: "402", cell: (r) => count(r.insufficientCredits), align: "right" }
      ])
    )
    if (a.nextCursor !== undefined) lines.push("", `More groups: --cursor ${a.nextCursor}`)
  }
  return lines.join("\n")
}

const analytics = Command.make("analytics", {
  since: timeFlag("since", "Start of the range, inclusive (default: 30 days before --until)").pipe(Flag.optional),
  until: timeFlag("until", "End of the range, exclusive (default: now)").pipe(Flag.optional),
  bucket: Flag.Literals("bucket", BUCKETS).pipe(
    Flag.withDescription("UTC day, ISO week (from Monday) or month; at most 366 buckets"),
    Flag.withDefault("day" as const)
  ),
  groupBy: Flag.Literals("group-by", SERIES_GROUPINGS).pipe(
    Flag.withDescription("service, payer, model, credential (kind), mode (billed, byok, exempt) or none"),
    Flag.withDefault("none" as const)
  ),
  limit: Flag.Int("limit").pipe(Flag.withDescription("Groups per page (1 to 100)"), Flag.withDefault(20)),
  cursor: Flag.String("cursor").pipe(Flag.withDescription("The previous page's cursor"), Flag.optional)
}, (input) =>
  Effect.gen(function*() {
    const until = Option.isSome(input.until) ? input.until.value : yield* Clock.currentTimeMillis
    const since = Option.getOrElse(input.since, () => until - DEFAULT_RANGE_MS)
    const result = yield* onStore(Administration.use((admin) =>
      admin.usageAnalytics({
        since,
        until,
        bucket: input.bucket,
        groupBy: input.groupBy,
        limit: input.limit,
        cursor: Option.getOrUndefined(input.cursor)
      })
    ))
    yield* emit(() => AnalyticsJson.usageAnalytics(result), () => analyticsText(result))
  })).pipe(
    Command.withDescription(
      "Usage per UTC day, week or month: credits, requests, images, average cost per image, and the 401, service auth failure and 402 rates; optionally per group"
    ),
    Command.withExamples([
      { command: "admin usage analytics --since 2026-11-01 --bucket week --group-by service" },
      { command: "admin usage analytics --bucket month --since 2026-01-01 --group-by credential --json" }
    ])
  )

export const UsageCommands = Command.make("usage").pipe(
  Command.withDescription("Usage analytics"),
  Command.withSubcommands([analytics])
)
