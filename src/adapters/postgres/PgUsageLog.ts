import { Effect, Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { type BillingMode, type UsageEvent, UsageLog } from "../../application/ports/UsageLog.ts"
import type { AccountId } from "../../domain/Ids.ts"
import type { ProviderName } from "../../domain/Models.ts"
import type { AuthMethod } from "../../domain/Principal.ts"
import { optional, orDie } from "./PgSql.ts"

interface UsageRow {
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

export const PgUsageLog = Layer.effect(
  UsageLog,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return UsageLog.of({
      record: (e) =>
        orDie(Effect.asVoid(sql`
          INSERT INTO usage_events (request_id, at, actor_kind, actor, service, on_behalf_of, auth_method, payer, model,
            provider, n, images, cost_millicredits, mode, outcome, latency_ms)
          VALUES (${e.requestId}, ${e.at}, ${e.actorKind}, ${e.actor}, ${e.service ?? null}, ${e.onBehalfOf ?? null},
            ${e.authMethod}, ${e.payer}, ${e.model}, ${e.provider ?? null}, ${e.n}, ${e.images}, ${e.costMillicredits},
            ${e.mode}, ${e.outcome}, ${e.latencyMs})`)),
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
