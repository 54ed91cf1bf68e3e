import { Effect, Layer, Option } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { type Alert, type AlertRecord, AlertStore, type DeliveryStatus } from "../../application/ports/AlertStore.ts"
import { optional, orDie } from "./PgSql.ts"

interface OutboxRow {
  readonly seq: number
  readonly id: string
  readonly type: string
  readonly created_at: number
  readonly data: Alert["data"] | string
  readonly status: string
  readonly attempts: number
  readonly next_attempt_at: number | null
  readonly last_error: string | null
  readonly delivered_at: number | null
}

const recordOf = (row: OutboxRow): AlertRecord => ({
  id: row.id,
  seq: row.seq,
  type: row.type as Alert["type"],
  createdAt: row.created_at,
  data: typeof row.data === "string" ? JSON.parse(row.data) : row.data,
  status: row.status as DeliveryStatus,
  attempts: row.attempts,
  lastError: row.last_error ?? undefined,
  nextAttemptAt: row.status === "pending" ? row.next_attempt_at ?? undefined : undefined,
  deliveredAt: row.delivered_at ?? undefined
})

/**
 * Alert state and the outbox on PostgreSQL (migration 0007_alerts). A balance check is one
 * transaction: the upsert of the account's `alert_states` row takes its row lock, the balance is
 * read after it (READ COMMITTED: the latest committed balance), and the state change and the
 * outbox insert commit together. Instances checking one account at once queue on that lock; the
 * first to see the balance below the threshold fires, the others then read `fired`.
 */
export const makePgAlertStore = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const COLUMNS = sql.literal(
    "seq, id, type, created_at, data, status, attempts, next_attempt_at, last_error, delivered_at"
  )

  const checkBalance: AlertStore["Service"]["checkBalance"] = (input) =>
    orDie(sql.withTransaction(Effect.gen(function*() {
      const [state] = yield* sql<{ threshold: number | null; fired: boolean }>`
        INSERT INTO alert_states (account) VALUES (${input.account})
        ON CONFLICT (account) DO UPDATE SET account = EXCLUDED.account
        RETURNING threshold, fired`
      const available = yield* input.available
      const threshold = state?.threshold ?? input.defaultThreshold
      if (available >= threshold) {
        if (state?.fired === true) yield* sql`UPDATE alert_states SET fired = false WHERE account = ${input.account}`
        return Option.none<Alert>()
      }
      if (state?.fired === true) return Option.none<Alert>()
      const alert: Alert = {
        id: `alert_${globalThis.crypto.randomUUID()}`,
        type: "balance.low",
        createdAt: input.at,
        data: { account: input.account, available_millicredits: available, threshold_millicredits: threshold }
      }
      yield* sql`UPDATE alert_states SET fired = true WHERE account = ${input.account}`
      yield* sql`
        INSERT INTO alert_outbox (id, type, created_at, data, next_attempt_at)
        VALUES (${alert.id}, ${alert.type}, ${alert.createdAt}, ${JSON.stringify(alert.data)}::jsonb, ${input.at})`
      return Option.some(alert)
    })))

  return AlertStore.of({
    checkBalance,
    state: (account) =>
      orDie(Effect.map(
        sql<{ threshold: number | null; fired: boolean }>`SELECT threshold, fired FROM alert_states WHERE account = ${account}`,
        ([row]) => ({ ...optional("threshold", row?.threshold ?? null), fired: row?.fired ?? false })
      )),
    setThreshold: (account, millicredits) =>
      orDie(Effect.asVoid(sql`
        INSERT INTO alert_states (account, threshold) VALUES (${account}, ${millicredits})
        ON CONFLICT (account) DO UPDATE SET threshold = EXCLUDED.threshold`)),
    claimDue: ({ leaseUntil, limit, now }) =>
      orDie(Effect.map(
        sql<OutboxRow>`
          UPDATE alert_outbox SET leased_until = ${leaseUntil}
          WHERE id IN (
            SELECT id FROM alert_outbox
            WHERE status = 'pending' AND next_attempt_at <= ${now} AND leased_until <= ${now}
            ORDER BY next_attempt_at, seq
            LIMIT ${limit}
            FOR UPDATE SKIP LOCKED
          )
          RETURNING ${COLUMNS}`,
        (rows) => rows.map(recordOf).sort((a, b) => a.seq - b.seq)
      )),
    recordAttempt: (id, outcome, at) =>
      orDie(Effect.asVoid(
        outcome._tag === "Delivered"
          ? sql`
            UPDATE alert_outbox SET attempts = attempts + 1, status = 'delivered', delivered_at = ${at},
              next_attempt_at = NULL, leased_until = 0
            WHERE id = ${id}`
          : outcome._tag === "Retry"
          ? sql`
            UPDATE alert_outbox SET attempts = attempts + 1, last_error = ${outcome.error},
              next_attempt_at = ${outcome.nextAttemptAt}, leased_until = 0
            WHERE id = ${id}`
          : sql`
            UPDATE alert_outbox SET attempts = attempts + 1, status = 'failed', last_error = ${outcome.error},
              next_attempt_at = NULL, leased_until = 0
            WHERE id = ${id}`
      )),
    list: ({ beforeSeq, limit }) =>
      orDie(Effect.map(
        beforeSeq === undefined
          ? sql<OutboxRow>`SELECT ${COLUMNS} FROM alert_outbox ORDER BY seq DESC LIMIT ${limit}`
          : sql<OutboxRow>`SELECT ${COLUMNS} FROM alert_outbox WHERE seq < ${beforeSeq} ORDER BY seq DESC LIMIT ${limit}`,
        (rows) => rows.map(recordOf)
      ))
  })
})

export const PgAlertStore: Layer.Layer<AlertStore, never, SqlClient.SqlClient> = Layer.effect(AlertStore, makePgAlertStore)
