import { Cause, Clock, Context, Duration, Effect, Layer, Option } from "effect"
import { bucketStart } from "../domain/TimeBuckets.ts"
import { type Alert, type AlertValue, AlertStore } from "./ports/AlertStore.ts"
import { type UsageGroup, UsageLog } from "./ports/UsageLog.ts"

const WEEK_MS = 7 * 24 * 60 * 60 * 1000
/** Groups listed per dimension in the report. */
export const WEEKLY_TOP = 5
/** The longest sleep between looks, so that a clock that jumped (a suspended host) is caught up within an hour. */
const MAX_SLEEP_MS = 60 * 60 * 1000

const unixSeconds = (ms: number) => Math.floor(ms / 1000)

/** The week a report is due for at `now`: the one before the current ISO week (Monday 00:00 UTC). */
export const reportedWeek = (now: number) => {
  const current = bucketStart("week", now)
  return { since: current - WEEK_MS, until: current }
}

/** The dedupe key of a week's report: its start, epoch ms. */
export const weeklyReportKey = (weekStart: number) => `report.weekly:${weekStart}`

const group = (name: string) => (g: UsageGroup): { readonly [key: string]: AlertValue } => ({
  [name]: g.key,
  requests: g.requests,
  succeeded: g.succeeded,
  images: g.images,
  cost_millicredits: g.costMillicredits
})

/**
 * The weekly consumption report as an alert (`report.weekly`): at Monday 00:00 UTC, the week
 * before's totals and its largest services, payers and models (`UsageLog.report`).
 *
 * Exactly once per week across instances and restarts: the report is raised under the week's
 * start as a dedupe key (unique in the `AlertStore`), and every look asks for the report of the
 * week before the current one, so a gateway that was down at Monday 00:00 sends it when it next
 * runs within that week. A look that finds the key raised costs one lookup, and is remembered in
 * the process, so the usage report is only computed when the week's report is missing.
 */
export class WeeklyReport extends Context.Service<WeeklyReport, {
  /** Raises the report due now unless it was raised: the alert raised by this call, if any. */
  readonly produce: Effect.Effect<Option.Option<Alert>>
}>()("image-gateway/WeeklyReport") {
  static readonly make = Effect.gen(function*() {
    const produce = yield* weeklyReportProducer
    // A look at start-up, then at each Monday 00:00 UTC; a failed look is logged and tried again within the hour.
    const look = produce.pipe(
      Effect.catchCause((cause) => Effect.logWarning("weekly report failed", { cause: Cause.pretty(cause).split("\n", 1)[0] }))
    )
    const untilNextWeek = Effect.map(Clock.currentTimeMillis, (now) =>
      Duration.millis(Math.min(MAX_SLEEP_MS, reportedWeek(now).until + WEEK_MS - now)))
    yield* look.pipe(
      Effect.andThen(Effect.flatMap(untilNextWeek, Effect.sleep)),
      Effect.forever,
      Effect.forkScoped
    )
    return WeeklyReport.of({ produce })
  })

  static readonly layer = Layer.effect(WeeklyReport, WeeklyReport.make)
}

/** What `WeeklyReport` runs at each look: raises the report due now unless it was raised; the alert raised, if any. */
export const weeklyReportProducer = Effect.gen(function*() {
  const store = yield* AlertStore
  const usage = yield* UsageLog
  let done: string | undefined

  return Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const week = reportedWeek(now)
    const key = weeklyReportKey(week.since)
    if (done === key || (yield* store.raised(key))) {
      done = key
      return Option.none<Alert>()
    }
    const report = yield* usage.report({ since: week.since, until: week.until, top: WEEKLY_TOP })
    // A week without a single request sends nothing: a fresh install (or a store in memory) has
    // no week behind it to report on.
    if (report.total.requests === 0) {
      done = key
      return Option.none<Alert>()
    }
    const raised = yield* store.raiseOnce(key, {
      type: "report.weekly",
      data: {
        week_start: unixSeconds(week.since),
        week_end: unixSeconds(week.until),
        total: {
          requests: report.total.requests,
          succeeded: report.total.succeeded,
          images: report.total.images,
          cost_millicredits: report.total.costMillicredits
        },
        top_services: report.byService.map(group("service")),
        top_payers: report.byPayer.map(group("payer")),
        top_models: report.byModel.map(group("model"))
      }
    }, now)
    done = key
    return raised
  }).pipe(Effect.withSpan("WeeklyReport.produce"))
})
