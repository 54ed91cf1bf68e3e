import { Context, type Effect } from "effect"
import type { Bucket } from "../../domain/TimeBuckets.ts"

/**
 * The read side of the usage log for analytics: time series of the events `UsageLog` records.
 * A port of its own (each adapter builds it over its usage log's store) so that wrappers of
 * `UsageLog`'s write path, such as the metered one, need not know it.
 */

/** What a usage time series is grouped by; `none`: one group, `total`. `credential` keys as in `UsageReport`. */
export const SERIES_GROUPINGS = ["service", "payer", "model", "credential", "mode", "none"] as const
export type SeriesGrouping = (typeof SERIES_GROUPINGS)[number]

/** The outcome of a request refused for insufficient credits (HTTP 402). */
export const INSUFFICIENT_CREDITS_OUTCOME = "InsufficientCredits"

/** Usage in one bucket (its UTC start, epoch ms). */
export interface UsagePoint {
  readonly bucket: number
  readonly requests: number
  readonly succeeded: number
  readonly images: number
  readonly costMillicredits: number
  /** Requests refused for insufficient credits. */
  readonly insufficientCredits: number
}

/** Where a page of groups ends: the last group's ordering values. */
export interface SeriesCursor {
  readonly costMillicredits: number
  readonly requests: number
  readonly key: string
}

/** One group of a series: its totals over the range, and its non-empty buckets, oldest first. */
export interface SeriesGroup {
  readonly key: string
  readonly requests: number
  readonly succeeded: number
  readonly images: number
  readonly costMillicredits: number
  readonly insufficientCredits: number
  readonly points: ReadonlyArray<UsagePoint>
}

export interface SeriesQuery {
  readonly since: number
  readonly until: number
  readonly bucket: Bucket
  readonly groupBy: SeriesGrouping
  /** Groups per page. */
  readonly limit: number
  /** Only groups after this one in the order. */
  readonly after?: SeriesCursor | undefined
}

/**
 * Groups ordered by cost, then requests, descending, then by key (bytewise); `next` is set when
 * more groups follow.
 */
export interface SeriesPage {
  readonly groups: ReadonlyArray<SeriesGroup>
  readonly next?: SeriesCursor | undefined
}

export class UsageAnalytics extends Context.Service<UsageAnalytics, {
  /** Usage in [since, until) per group and UTC bucket, a page of groups at a time. */
  readonly series: (query: SeriesQuery) => Effect.Effect<SeriesPage>
}>()("image-gateway/UsageAnalytics") {}
