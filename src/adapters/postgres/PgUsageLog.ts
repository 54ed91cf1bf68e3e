import { Effect, Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Arr from "effect/Array"
import { type BillingMode, type UsageEvent, type UsageGroup, UsageLog, type UsageReport } from "../../application/ports/UsageLog.ts"
import type { AccountId } from "../../domain/Ids.ts"
import type { ProviderName } from "../../domain/Models.ts"
import type { AuthMethod } from "../../domain/Principal.ts"
import { makeGroupCommit } from "./GroupCommit.ts"
import { optional, orDie } from "./PgSql.ts"

type UsageRow = {
  readonly request_id: string
  readonly at: number
  readonly actor_kind: "service" | "user"
  readonly actor: string
  readonly service: string | null
  readonly on_behalf_of: string | null
  readonly auth_method: AuthMethod
  readonly payer: string
  readonly model: string
  readonly provider: ProviderName | null
  readonly n: number
  readonly images: number
  readonly cost_millicredits: number
  readonly mode: BillingMode
  readonly outcome: string
  readonly latency_ms: number
  readonly provider_cost_micro_usd: number | null
}

const toEvent = (r: UsageRow): UsageEvent => ({
  requestId: r.request_id,
  at: r.at,
  actorKind: r.actor_kind,
  actor: r.actor,
  ...optional("service", r.service),
  ...optional("onBehalfOf", r.on_behalf_of),
  authMethod: r.auth_method,
  payer: r.payer as AccountId,
  model: r.model,
  ...optional("provider", r.provider),
  n: r.n,
  images: r.images,
  costMillicredits: r.cost_millicredits,
  mode: r.mode,
  outcome: r.outcome,
  latencyMs: r.latency_ms,
  ...optional("providerCostMicroUsd", r.provider_cost_micro_usd)
})

export const toRow = (e: UsageEvent): UsageRow => ({
  request_id: e.requestId,
  at: e.at,
  actor_kind: e.actorKind,
  actor: e.actor,
  service: e.service ?? null,
  on_behalf_of: e.onBehalfOf ?? null,
  auth_method: e.authMethod,
  payer: e.payer,
  model: e.model,
  provider: e.provider ?? null,
  n: e.n,
  images: e.images,
  cost_millicredits: e.costMillicredits,
  mode: e.mode,
  outcome: e.outcome,
  latency_ms: e.latencyMs,
  provider_cost_micro_usd: e.providerCostMicroUsd ?? null
})

/**
 * The columns of a usage row with their types, for statements that insert events from JSON
 * (`jsonb_to_record(…) AS u(<this>)`): the ledger writes a settlement's event with it.
 */
export const USAGE_RECORD_TYPE = [
  "request_id text", "at bigint", "actor_kind text", "actor text", "service text", "on_behalf_of text",
  "auth_method text", "payer text", "model text", "provider text", "n integer", "images integer",
  "cost_millicredits bigint", "mode text", "outcome text", "latency_ms bigint", "provider_cost_micro_usd bigint"
].join(", ")

/** The same columns' names. */
export const USAGE_COLUMNS = USAGE_RECORD_TYPE.split(", ").map((c) => c.split(" ")[0]).join(", ")

type Dimension = "total" | "service" | "payer" | "model" | "credential" | "mode"

interface GroupRow {
  readonly dimension: Dimension
  readonly key: string
  readonly requests: number
  readonly succeeded: number
  readonly images: number
  readonly cost: number
}

const toGroup = (r: GroupRow): UsageGroup => ({
  key: r.key,
  requests: r.requests,
  succeeded: r.succeeded,
  images: r.images,
  costMillicredits: r.cost
})

const toReport = (
  range: { readonly since: number; readonly until: number },
  rows: ReadonlyArray<GroupRow>
): UsageReport => {
  const of = (dimension: Dimension) => rows.filter((r) => r.dimension === dimension).map(toGroup)
  const total = rows.find((r) => r.dimension === "total")
  return {
    since: range.since,
    until: range.until,
    total: total === undefined ? { key: "total", requests: 0, succeeded: 0, images: 0, costMillicredits: 0 } : toGroup(total),
    byService: of("service"),
    byPayer: of("payer"),
    byModel: of("model"),
    byCredential: of("credential"),
    byMode: of("mode")
  }
}

/** The most events one INSERT carries. */
const MAX_BATCH = 256

/**
 * Usage events on PostgreSQL. Every generation records one, so they are group-committed: while
 * one INSERT is in flight, the events recorded meanwhile wait and go together in the next, as
 * many rows of one statement (one commit, one fsync). An event recorded while none is in flight
 * goes at once.
 */
export const PgUsageLog = Layer.effect(
  UsageLog,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    let serial = 0
    const inserts = makeGroupCommit<"usage", UsageEvent, void, SqlError>({
      maxBatch: MAX_BATCH,
      // Events have no identity to keep apart: any of them may share a statement.
      identity: () => String(serial++),
      run: (_, events) => {
        const rows: ReadonlyArray<Record<string, unknown>> = events.map(toRow)
        return Arr.isReadonlyArrayNonEmpty(rows)
          ? Effect.as(sql`INSERT INTO usage_events ${sql.insert(rows)}`, rows.map(() => undefined))
          : Effect.succeed([])
      }
    })
    /**
     * Every group of the report in one statement and one round trip. Its cost: one range scan of
     * usage_events_at over [since, until), reading each event in the range once (so the time
     * grows with the range's events), feeding one aggregation pass that fills all six grouping
     * sets at once (a MixedAggregate: a hash table per set, as large as its distinct keys — the
     * payers' is the big one); then one sort of the groups for the window that keeps each set's
     * `top`, so at most 5 × top + 1 rows come back however many payers there are. Measured on a
     * 2-core machine with a warm cache: 151,200 events in a week's range, 5,000 payers, 160 ms.
     */
    const reportRows = (range: { readonly since: number; readonly until: number; readonly top: number }) =>
      sql<GroupRow>`
        WITH e AS (
          SELECT COALESCE(service, '-') AS service, payer, model, mode, outcome, images, cost_millicredits,
            CASE WHEN on_behalf_of IS NOT NULL AND auth_method IN ('service_key', 'service_jwt')
              THEN auth_method || '_on_behalf' ELSE auth_method END AS credential
          FROM usage_events WHERE at >= ${range.since} AND at < ${range.until}
        ), groups AS (
          SELECT
            CASE
              WHEN GROUPING(service) = 0 THEN 'service' WHEN GROUPING(payer) = 0 THEN 'payer'
              WHEN GROUPING(model) = 0 THEN 'model' WHEN GROUPING(credential) = 0 THEN 'credential'
              WHEN GROUPING(mode) = 0 THEN 'mode' ELSE 'total'
            END AS dimension,
            COALESCE(service, payer, model, credential, mode, 'total') AS key,
            count(*)::bigint AS requests,
            (count(*) FILTER (WHERE outcome = 'success'))::bigint AS succeeded,
            COALESCE(sum(images), 0)::bigint AS images,
            COALESCE(sum(cost_millicredits), 0)::bigint AS cost
          FROM e
          GROUP BY GROUPING SETS ((), (service), (payer), (model), (credential), (mode))
        ), ranked AS (
          SELECT *, row_number() OVER (
            PARTITION BY dimension ORDER BY cost DESC, requests DESC, key COLLATE "C"
          ) AS rank
          FROM groups
        )
        SELECT dimension, key, requests, succeeded, images, cost FROM ranked
        WHERE dimension = 'total' OR rank <= ${Math.max(0, Math.floor(range.top))}
        ORDER BY dimension, rank`

    return UsageLog.of({
      record: (e) => orDie(inserts.submit("usage", e)),
      list: (filter) => {
        const where = [
          ...(filter.payer === undefined ? [] : [sql`payer = ${filter.payer}`]),
          ...(filter.service === undefined ? [] : [sql`service = ${filter.service}`]),
          ...(filter.since === undefined ? [] : [sql`at >= ${filter.since}`])
        ]
        return orDie(Effect.map(
          sql<UsageRow>`
            SELECT * FROM usage_events WHERE ${sql.and(where)} ORDER BY seq DESC
            ${filter.limit === undefined ? sql.literal("") : sql`LIMIT ${filter.limit}`}`,
          (rows) => rows.map(toEvent)
        ))
      },
      report: (range) => orDie(Effect.map(reportRows(range), (rows) => toReport(range, rows)))
    })
  })
)
