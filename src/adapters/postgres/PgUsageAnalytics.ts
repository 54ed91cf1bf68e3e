import { Effect, Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import {
  INSUFFICIENT_CREDITS_OUTCOME,
  type SeriesGroup,
  type SeriesGrouping,
  type SeriesPage,
  type SeriesQuery,
  UsageAnalytics,
  type UsagePoint
} from "../../application/ports/UsageAnalytics.ts"
import { BUCKETS } from "../../domain/TimeBuckets.ts"
import { bucketMs, bucketSql } from "./PgAuthFailureLog.ts"
import { orDie } from "./PgSql.ts"

/** Each grouping's key, as the usage report names groups (PgUsageLog.ts). Fixed text, never input. */
const KEY_SQL: Record<SeriesGrouping, string> = {
  service: "COALESCE(service, '-')",
  payer: "payer",
  model: "model",
  credential:
    "CASE WHEN on_behalf_of IS NOT NULL AND auth_method IN ('service_key', 'service_jwt') THEN auth_method || '_on_behalf' ELSE auth_method END",
  mode: "mode",
  none: "'total'"
}

interface CellRow extends UsagePoint {
  readonly key: string
  readonly group_requests: number
  readonly group_cost: number
}

/** Bytewise, as the "C" collation the query orders keys by. */
const compareKeys = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** The statement of one page of a series (exported for the benchmark's EXPLAIN ANALYZE). */
export const seriesStatement = (sql: SqlClient.SqlClient, q: SeriesQuery) => {
  const after = q.after === undefined ? sql`true` : sql`(
    cost < ${q.after.costMillicredits}
    OR (cost = ${q.after.costMillicredits} AND requests < ${q.after.requests})
    OR (cost = ${q.after.costMillicredits} AND requests = ${q.after.requests} AND key COLLATE "C" > ${q.after.key}))`
  return sql<CellRow>`
    WITH cells AS (
      SELECT ${sql.literal(KEY_SQL[q.groupBy])} AS key, ${bucketSql(sql, q.bucket, "at")} AS bucket,
        count(*)::bigint AS requests,
        (count(*) FILTER (WHERE outcome = 'success'))::bigint AS succeeded,
        COALESCE(sum(images), 0)::bigint AS images,
        COALESCE(sum(cost_millicredits), 0)::bigint AS cost,
        (count(*) FILTER (WHERE outcome = ${INSUFFICIENT_CREDITS_OUTCOME}))::bigint AS insufficient
      FROM usage_events
      WHERE at >= ${q.since} AND at < ${q.until}
      GROUP BY 1, 2
    ), groups AS (
      SELECT key, sum(requests)::bigint AS requests, sum(cost)::bigint AS cost FROM cells GROUP BY key
    ), page AS (
      SELECT key, requests, cost FROM groups
      WHERE ${after}
      ORDER BY cost DESC, requests DESC, key COLLATE "C"
      LIMIT ${q.limit + 1}
    )
    SELECT c.key, p.requests AS group_requests, p.cost AS group_cost, ${bucketMs(sql, "c.bucket")} AS bucket, c.requests, c.succeeded,
      c.images, c.cost AS "costMillicredits", c.insufficient AS "insufficientCredits"
    FROM cells c JOIN page p USING (key)
    ORDER BY p.cost DESC, p.requests DESC, c.key COLLATE "C", c.bucket`
}

/**
 * Usage time series on PostgreSQL, in one statement: one range scan of `usage_events_at` over
 * [since, until) that aggregates each event once into its (group, bucket) cell; the groups'
 * totals and the page (keyset on cost, requests, key) are computed over the cells, which are as
 * many as groups × buckets, not events. One group past the page is read to know whether another
 * page exists. The measured cost over 10⁶ events is in docs/analytics.md.
 */
export const PgUsageAnalytics = Layer.effect(
  UsageAnalytics,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const cells = (q: SeriesQuery) => {
      // Interpolated as SQL text: refuse anything but the fixed names.
      if (!BUCKETS.includes(q.bucket) || !(q.groupBy in KEY_SQL)) return Effect.die(new Error(`no series by ${q.groupBy}/${q.bucket}`))
      return seriesStatement(sql, q)
    }

    const toPage = (q: SeriesQuery, rows: ReadonlyArray<CellRow>): SeriesPage => {
      const groups: Array<{ -readonly [K in keyof SeriesGroup]: SeriesGroup[K] }> = []
      for (const r of rows) {
        let g = groups.at(-1)
        if (g === undefined || g.key !== r.key) {
          groups.push(g = { key: r.key, requests: 0, succeeded: 0, images: 0, costMillicredits: 0, insufficientCredits: 0, points: [] })
        }
        const p: UsagePoint = {
          bucket: r.bucket,
          requests: r.requests,
          succeeded: r.succeeded,
          images: r.images,
          costMillicredits: r.costMillicredits,
          insufficientCredits: r.insufficientCredits
        }
        ;(g.points as Array<UsagePoint>).push(p)
        g.requests += p.requests
        g.succeeded += p.succeeded
        g.images += p.images
        g.costMillicredits += p.costMillicredits
        g.insufficientCredits += p.insufficientCredits
      }
      // The statement's order already; kept explicit so that the page and its cursor agree.
      groups.sort((a, b) => b.costMillicredits - a.costMillicredits || b.requests - a.requests || compareKeys(a.key, b.key))
      const page = groups.slice(0, q.limit)
      const last = page.at(-1)
      return {
        groups: page,
        ...(groups.length > q.limit && last !== undefined
          ? { next: { costMillicredits: last.costMillicredits, requests: last.requests, key: last.key } }
          : {})
      }
    }

    return UsageAnalytics.of({
      series: (q) => orDie(Effect.map(cells(q), (rows) => toPage(q, rows)))
    })
  })
)
