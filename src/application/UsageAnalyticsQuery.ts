import { Effect, Result } from "effect"
import * as Base64Url from "effect/encoding/Base64Url"
import { InvalidRequest } from "../domain/Errors.ts"
import { type Bucket, bucketStarts } from "../domain/TimeBuckets.ts"
import type { AuthFailureLog } from "./ports/AuthFailureLog.ts"
import {
  type SeriesCursor,
  type SeriesGrouping,
  type UsageAnalytics,
  type UsagePoint
} from "./ports/UsageAnalytics.ts"

/** At most this many buckets in one answer (366 days of day buckets, about 7 years of weeks). */
export const MAX_BUCKETS = 366
export const MAX_GROUPS_PER_PAGE = 100

export interface AnalyticsQuery {
  readonly since: number
  readonly until: number
  readonly bucket: Bucket
  readonly groupBy: SeriesGrouping
  readonly limit: number
  /** The previous page's `nextCursor`. */
  readonly cursor?: string | undefined
}

/** One bucket of the whole range: usage, and the refusals that never became usage. */
export interface AnalyticsTotals extends UsagePoint {
  /** Generation requests refused with 401 (no, or an invalid, credential). */
  readonly unauthorized: number
  /** Generation requests of a service refused after it authenticated (user context, policy, scope). */
  readonly serviceAuthFailures: number
  /** Generation requests seen: usage requests plus both kinds of refusals. */
  readonly attempts: number
}

export interface AnalyticsGroup {
  readonly key: string
  readonly requests: number
  readonly succeeded: number
  readonly images: number
  readonly costMillicredits: number
  readonly insufficientCredits: number
  /** Every bucket of the range, oldest first; empty ones as zeros. */
  readonly points: ReadonlyArray<UsagePoint>
}

export interface Analytics {
  readonly since: number
  readonly until: number
  readonly bucket: Bucket
  readonly groupBy: SeriesGrouping
  readonly totals: ReadonlyArray<AnalyticsTotals>
  readonly groups: ReadonlyArray<AnalyticsGroup>
  readonly nextCursor?: string | undefined
}

const invalid = (param: string, code: string, detail: string) => new InvalidRequest({ param, code, detail })

/** A page's cursor: its last group's ordering values, opaque to callers. */
export const encodeCursor = (c: SeriesCursor): string =>
  Base64Url.encode(JSON.stringify([c.costMillicredits, c.requests, c.key]))

export const decodeCursor = (text: string): SeriesCursor | undefined => {
  const json = Base64Url.decodeString(text)
  if (Result.isFailure(json)) return undefined
  try {
    const value: unknown = JSON.parse(json.success)
    if (!Array.isArray(value) || value.length !== 3) return undefined
    const [cost, requests, key] = value as Array<unknown>
    return Number.isSafeInteger(cost) && Number.isSafeInteger(requests) && typeof key === "string"
      ? { costMillicredits: cost as number, requests: requests as number, key }
      : undefined
  } catch {
    return undefined
  }
}

const zero = (bucket: number): UsagePoint => ({ bucket, requests: 0, succeeded: 0, images: 0, costMillicredits: 0, insufficientCredits: 0 })

/** `points` over every bucket start, zeros where a bucket had no events. */
const dense = (starts: ReadonlyArray<number>, points: ReadonlyArray<UsagePoint>) => {
  const byStart = new Map(points.map((p) => [p.bucket, p]))
  return starts.map((s) => byStart.get(s) ?? zero(s))
}

/**
 * Usage analytics: the usage time series per group (a page of groups), and per bucket the
 * totals with the error counts of the generation route — 401s and service refusals from the
 * auth failure log, 402s from the usage log's outcomes. Refuses a range that is empty, has more
 * than `MAX_BUCKETS` buckets, a limit outside 1–100 or a cursor it did not issue.
 */
export const usageAnalytics = (
  analytics: UsageAnalytics["Service"],
  failures: AuthFailureLog["Service"]
) =>
(q: AnalyticsQuery): Effect.Effect<Analytics, InvalidRequest> =>
  Effect.gen(function*() {
    if (!Number.isSafeInteger(q.since) || !Number.isSafeInteger(q.until) || q.since >= q.until) {
      return yield* invalid("since", "invalid_range", "'since' must be before 'until'.")
    }
    const starts = bucketStarts(q.bucket, q.since, q.until, MAX_BUCKETS)
    if (starts.length > MAX_BUCKETS) {
      return yield* invalid(
        "since",
        "invalid_range",
        `The range holds more than ${MAX_BUCKETS} ${q.bucket} buckets: shorten it or use a larger bucket.`
      )
    }
    if (!Number.isSafeInteger(q.limit) || q.limit < 1 || q.limit > MAX_GROUPS_PER_PAGE) {
      return yield* invalid("limit", "invalid_limit", `'limit' is 1 to ${MAX_GROUPS_PER_PAGE} groups per page.`)
    }
    const after = q.cursor === undefined ? undefined : decodeCursor(q.cursor)
    if (q.cursor !== undefined && after === undefined) {
      return yield* invalid("cursor", "invalid_cursor", "'cursor' must be a next_cursor given by a previous page.")
    }
    const range = { since: q.since, until: q.until, bucket: q.bucket }
    const [total, page, refused] = yield* Effect.all([
      analytics.series({ ...range, groupBy: "none", limit: 1 }),
      q.groupBy === "none"
        ? Effect.succeed({ groups: [], next: undefined })
        : analytics.series({ ...range, groupBy: q.groupBy, limit: q.limit, after }),
      failures.perBucket({ ...range, route: "generation" })
    ], { concurrency: 3 })

    const usage = dense(starts, total.groups[0]?.points ?? [])
    const totals = usage.map((p): AnalyticsTotals => {
      const count = (kind: "unauthenticated" | "service_refused") =>
        refused.find((r) => r.bucket === p.bucket && r.kind === kind)?.count ?? 0
      const unauthorized = count("unauthenticated")
      const serviceAuthFailures = count("service_refused")
      return { ...p, unauthorized, serviceAuthFailures, attempts: p.requests + unauthorized + serviceAuthFailures }
    })
    return {
      ...range,
      groupBy: q.groupBy,
      totals,
      groups: page.groups.map((g) => ({ ...g, points: dense(starts, g.points) })),
      ...(page.next === undefined ? {} : { nextCursor: encodeCursor(page.next) })
    }
  })
