import { Effect, Layer, Option } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { type Alert, type AlertRecord, AlertStore, type DeliveryStatus, type NewAlert } from "../../application/ports/AlertStore.ts"
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
 *
 * A rate check is the same shape on `alert_episodes` (migration 0010): the upsert locks the key's
 * row and returns its state, then the state change and the outbox insert commit together. An
 * alert raised once per key carries it in `alert_outbox.dedupe_key` (unique): the insert that
 * conflicts queues nothing.
 */
export const makePgAlertStore = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const COLUMNS = sql.literal(
    "seq, id, type, created_at, data, status, attempts, next_attempt_at, last_error, delivered_at"
  )

  /** A new alert as queued, due at once (inside the caller's transaction, if any). */
  const enqueue = (alert: NewAlert, at: number, dedupeKey: string | null = null) => {
    const queued: Alert = { id: `alert_${globalThis.crypto.randomUUID()}`, type: alert.type, createdAt: at, data: alert.data }
    return Effect.map(
      sql<{ id: string }>`
        INSERT INTO alert_outbox (id, type, created_at, data, next_attempt_at, dedupe_key)
        VALUES (${queued.id}, ${queued.type}, ${at}, ${JSON.stringify(queued.data)}::jsonb, ${at}, ${dedupeKey})
        ON CONFLICT (dedupe_key) WHERE dedupe_key IS NOT NULL DO NOTHING
        RETURNING id`,
      (rows) => rows.length === 1 ? Option.some(queued) : Option.none<Alert>()
    )
  }

  const checkRate: AlertStore["Service"]["checkRate"] = ({ above, alert, at, key }) =>
    orDie(sql.withTransaction(Effect.gen(function*() {
      // Takes the key's row lock; a first evaluation finds the row it has just inserted (armed, never evaluated).
      const [state] = yield* sql<{ fired: boolean; evaluated_at: number }>`
        INSERT INTO alert_episodes (key, fired, evaluated_at) VALUES (${key}, false, ${Number.MIN_SAFE_INTEGER})
        ON CONFLICT (key) DO UPDATE SET key = EXCLUDED.key
        RETURNING fired, evaluated_at`
      if (state === undefined || at <= state.evaluated_at) return Option.none<Alert>()
      yield* sql`UPDATE alert_episodes SET fired = ${above}, evaluated_at = ${at} WHERE key = ${key}`
      return above && !state.fired ? yield* enqueue(alert, at) : Option.none<Alert>()
    })))

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
      yield* sql`UPDATE alert_states SET fired = true WHERE account = ${input.account}`
      return yield* enqueue({
        type: "balance.low",
        data: { account: input.account, available_millicredits: available, threshold_millicredits: threshold }
      }, input.at)
    })))

  return AlertStore.of({
    checkBalance,
    checkRate,
    firedRates: orDie(Effect.map(
      sql<{ key: string }>`SELECT key FROM alert_episodes WHERE fired ORDER BY key`,
      (rows) => rows.map((r) => r.key)
    )),
    raiseOnce: (dedupeKey, alert, at) => orDie(enqueue(alert, at, dedupeKey)),
    raised: (dedupeKey) =>
      orDie(Effect.map(
        sql`SELECT 1 FROM alert_outbox WHERE dedupe_key = ${dedupeKey}`,
        (rows) => rows.length > 0
      )),
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
