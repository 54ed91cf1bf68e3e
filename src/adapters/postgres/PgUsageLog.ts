import { Effect, Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import * as Arr from "effect/Array"
import { type BillingMode, type UsageEvent, UsageLog } from "../../application/ports/UsageLog.ts"
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
  latencyMs: r.latency_ms
})

const toRow = (e: UsageEvent): UsageRow => ({
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
  latency_ms: e.latencyMs
})

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
      }
    })
  })
)
