/**
 * Usage analytics over 10⁶ usage events on PostgreSQL: seeds a scratch cluster (one year of
 * events from 20 services, 5,000 payers, 6 models, every credential kind; 2 % refused for
 * insufficient credits; 50,000 refused requests), then times the analytics through the adapters
 * (warm, the median of 5) and prints EXPLAIN ANALYZE of each statement.
 *
 *   npm run bench:analytics            (BENCH_EVENTS=… changes the count)
 */
import { Effect, Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { AuthFailureLog } from "../src/application/ports/AuthFailureLog.ts"
import { type SeriesQuery, UsageAnalytics } from "../src/application/ports/UsageAnalytics.ts"
import { usageAnalytics } from "../src/application/UsageAnalyticsQuery.ts"
import { PgAuthFailureLog } from "../src/adapters/postgres/PgAuthFailureLog.ts"
import * as PgDatabase from "../src/adapters/postgres/PgDatabase.ts"
import { migrate } from "../src/adapters/postgres/Migrations.ts"
import { PgUsageAnalytics, seriesStatement } from "../src/adapters/postgres/PgUsageAnalytics.ts"
import { startScratchPostgres } from "../specs/support/ScratchPostgres.ts"
import { Redacted } from "effect"

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000)
const FAILURES = Math.round(EVENTS / 20)
const YEAR_START = Date.parse("2026-01-01T00:00:00Z")
const YEAR_MS = 365 * 86_400_000
const DAY = 86_400_000

const seed = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  // Deterministic spread: event i at a fixed step through the year; the other fields from i's residues.
  yield* sql.unsafe(`
    INSERT INTO usage_events (request_id, at, actor_kind, actor, service, on_behalf_of, auth_method, payer, model, provider,
      n, images, cost_millicredits, mode, outcome, latency_ms)
    SELECT 'req_' || i, ${YEAR_START} + (i::bigint * ${Math.floor(YEAR_MS / EVENTS)}),
      CASE WHEN i % 5 = 4 THEN 'user' ELSE 'service' END,
      CASE WHEN i % 5 = 4 THEN 'user-' || (i % 5000) ELSE 'service-' || (i % 20) END,
      CASE WHEN i % 5 = 4 THEN NULL ELSE 'service-' || (i % 20) END,
      CASE WHEN i % 5 IN (1, 2) THEN 'user-' || (i % 5000) END,
      (ARRAY['service_key', 'service_key', 'service_jwt', 'service_jwt', 'user_key', 'session'])[1 + i % 6],
      CASE WHEN i % 5 IN (1, 2, 4) THEN 'user-' || (i % 5000) ELSE 'org_service_' || (i % 20) END,
      (ARRAY['dall-e-3', 'dall-e-2', 'gpt-image-1', 'gpt-image-1-mini', 'gpt-image-1.5', 'local'])[1 + i % 6],
      'openai', 1 + i % 3,
      CASE WHEN i % 50 = 0 THEN 0 ELSE 1 + i % 3 END,
      CASE WHEN i % 50 = 0 OR i % 17 = 0 THEN 0 ELSE 1000 * (5 + i % 250) END,
      CASE WHEN i % 17 = 0 THEN 'byok' ELSE 'billed' END,
      CASE WHEN i % 50 = 0 THEN 'InsufficientCredits' ELSE 'success' END,
      100 + i % 5000
    FROM generate_series(0, ${EVENTS - 1}) AS i`)
  yield* sql.unsafe(`
    INSERT INTO auth_failures (at, route, kind, reason, service)
    SELECT ${YEAR_START} + (i::bigint * ${Math.floor(YEAR_MS / FAILURES)}),
      CASE WHEN i % 4 = 0 THEN 'other' ELSE 'generation' END,
      CASE WHEN i % 3 = 0 THEN 'service_refused' ELSE 'unauthenticated' END,
      'invalid_api_key', CASE WHEN i % 2 = 0 THEN 'service-' || (i % 20) END
    FROM generate_series(0, ${FAILURES - 1}) AS i`)
  yield* sql.unsafe("VACUUM ANALYZE usage_events")
  yield* sql.unsafe("VACUUM ANALYZE auth_failures")
})

const median = (xs: ReadonlyArray<number>) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

const timed = <A, E, R>(label: string, effect: Effect.Effect<A, E, R>) =>
  Effect.gen(function*() {
    yield* effect // warm the cache
    const times: Array<number> = []
    for (let i = 0; i < 5; i++) {
      const start = performance.now()
      yield* effect
      times.push(performance.now() - start)
    }
    console.log(`  ${label.padEnd(78)} ${median(times).toFixed(0).padStart(5)} ms`)
  })

const CASES: ReadonlyArray<readonly [string, SeriesQuery]> = [
  ["30 days per day, by service (20 groups)", { since: YEAR_START + 180 * DAY, until: YEAR_START + 210 * DAY, bucket: "day", groupBy: "service", limit: 20 }],
  ["30 days per day, by payer (first 20 of 5,000)", { since: YEAR_START + 180 * DAY, until: YEAR_START + 210 * DAY, bucket: "day", groupBy: "payer", limit: 20 }],
  ["a year per week, by credential kind", { since: YEAR_START, until: YEAR_START + YEAR_MS, bucket: "week", groupBy: "credential", limit: 20 }],
  ["a year per month, totals only", { since: YEAR_START, until: YEAR_START + YEAR_MS, bucket: "month", groupBy: "none", limit: 1 }],
  ["a year per day, by payer (first 20 of 5,000)", { since: YEAR_START, until: YEAR_START + YEAR_MS, bucket: "day", groupBy: "payer", limit: 20 }]
]

const program = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  yield* migrate
  console.log(`Seeding ${EVENTS.toLocaleString("en-US")} usage events and ${FAILURES.toLocaleString("en-US")} refusals…`)
  const start = performance.now()
  yield* seed
  console.log(`  seeded in ${((performance.now() - start) / 1000).toFixed(1)} s`)

  const analytics = yield* UsageAnalytics
  const failures = yield* AuthFailureLog
  const whole = usageAnalytics(analytics, failures)
  console.log("\nThe adapters, warm, median of 5:")
  for (const [label, q] of CASES) yield* timed(`series: ${label}`, analytics.series(q))
  if (process.env.BENCH_COVERING === "1") {
    // An index-only scan instead of the heap: a second copy of the columns, written on every generation.
    yield* sql.unsafe(`CREATE INDEX usage_events_covering ON usage_events (at)
      INCLUDE (service, payer, model, auth_method, on_behalf_of, images, cost_millicredits, outcome)`)
    yield* sql.unsafe("VACUUM ANALYZE usage_events")
    console.log("\nWith a covering index (at) INCLUDE (every grouped and summed column):")
    for (const [label, q] of CASES) yield* timed(`series: ${label}`, analytics.series(q))
  }
  yield* timed("auth failures per day over 30 days (generation route)", failures.perBucket({ since: YEAR_START + 180 * DAY, until: YEAR_START + 210 * DAY, bucket: "day", route: "generation" }))
  yield* timed("auth failures: count of one service's over an hour (a rate alert's query)", failures.count(YEAR_START + 200 * DAY, YEAR_START + 200 * DAY + 3_600_000, { service: "service-3" }))
  yield* timed("the admin answer: 30 days per day by service (totals, page, refusals)", whole({ since: YEAR_START + 180 * DAY, until: YEAR_START + 210 * DAY, bucket: "day", groupBy: "service", limit: 20 }))
  yield* timed("the admin answer: a year per week by service", whole({ since: YEAR_START, until: YEAR_START + YEAR_MS, bucket: "week", groupBy: "service", limit: 20 }))

  for (const [label, q] of [CASES[0]!, CASES[2]!]) {
    console.log(`\nEXPLAIN ANALYZE — ${label}:`)
    const plan = yield* sql<{ readonly "QUERY PLAN": string }>`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${seriesStatement(sql, q)}`
    for (const row of plan) console.log(`  ${row["QUERY PLAN"]}`)
  }
  console.log("\nEXPLAIN ANALYZE — one service's refusals over an hour:")
  const countPlan = yield* sql<{ readonly "QUERY PLAN": string }>`EXPLAIN (ANALYZE, COSTS OFF)
    SELECT count(*) FROM auth_failures WHERE at >= ${YEAR_START + 200 * DAY} AND at < ${YEAR_START + 200 * DAY + 3_600_000} AND service = 'service-3'`
  for (const row of countPlan) console.log(`  ${row["QUERY PLAN"]}`)
})

const server = await startScratchPostgres({ prefix: "image-gateway-bench-", settings: ["fsync=off", "synchronous_commit=off", "full_page_writes=off"] })
try {
  const database = PgDatabase.layer({ url: Redacted.make(server.url) })
  await Effect.runPromise(program.pipe(
    Effect.provide(Layer.mergeAll(PgUsageAnalytics, PgAuthFailureLog).pipe(Layer.provideMerge(database)))
  ))
} finally {
  await server.stop()
}
