/**
 * The ledger's group-commit statement: one batch of concurrent reserves and settlements, of any
 * payers, decided and written by a single statement under the payers' row locks, and what it
 * answers for each item. Which batch an item joins is PgPayerRouting.ts's job.
 */
import { Effect, Metric } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { type AccountId, type HoldId, RevenueAccount } from "../../domain/Ids.ts"
import { type HoldStatus, settleTransferId } from "../../domain/Ledger.ts"
import { batchedReserves, batchedSettles, batchStatements, contendedStatements } from "./PgLedgerMetrics.ts"
import { HOLD_COLUMNS, type HoldRow } from "./PgLedgerRows.ts"
import { toRow as usageRow, USAGE_COLUMNS, USAGE_RECORD_TYPE } from "./PgUsageLog.ts"
import type { UsageEvent } from "../../application/ports/UsageLog.ts"

export interface ReserveItem {
  readonly _tag: "reserve"
  readonly id: HoldId
  readonly account: AccountId
  readonly amount: number
  readonly at: number
  readonly expiresAt: number
}

export interface SettleItem {
  readonly _tag: "settle"
  readonly hold: HoldId
  readonly amount: number
  readonly at: number
  /** The generation's usage event, inserted by the statement that applies the settlement. */
  readonly usage?: UsageEvent | undefined
}

export type BatchItem = ReserveItem | SettleItem

export type BatchOutcome =
  | { readonly _tag: "Held" }
  | { readonly _tag: "Exists"; readonly existing: HoldRow }
  | { readonly _tag: "Refused"; readonly available: number; readonly spent: number }
  /**
   * `seq`: the journal position of its transfer (none for a settlement of 0); `posted` and
   * `pending`: the payer's row as the statement left it.
   */
  | {
    readonly _tag: "Settled"
    readonly hold: HoldRow
    readonly seq: number | null
    readonly posted: number
    readonly pending: number
  }
  /** Its payer's row (or its hold) is locked by another transaction: to that payer's lane. */
  | { readonly _tag: "Busy"; readonly account: AccountId }
  /** A settlement the batch did not apply: the one-hold path gives its answer. */
  | { readonly _tag: "Unsettled" }

/** One item of a batch. `hold_*` is the hold a reserve's id already names, or the settled hold. */
interface BatchRow {
  readonly kind: "reserve" | "settle"
  readonly ord: number
  readonly accepted: boolean | null
  /** What was available to this reserve, after the payer's earlier ones in the batch. */
  readonly seen: number | null
  /** Whether the statement holds the payer's row lock. */
  readonly locked: boolean
  /** Settle: the hold exists, pending and large enough. */
  readonly known: boolean | null
  readonly payer: string | null
  readonly hold_id: string | null
  readonly hold_account: string | null
  readonly hold_amount: number | null
  readonly hold_status: HoldStatus | null
  readonly hold_settled: number | null
  readonly hold_created_at: number | null
  readonly hold_expires_at: number | null
  /** Settle: the journal position of the transfer it posted. */
  readonly transfer_seq: number | null
  /** Settle: the payer's row after the statement. */
  readonly payer_posted: number | null
  readonly payer_pending: number | null
}

/** Most items one batch statement carries. */
export const MAX_BATCH = 1000

/** Items that must not share a batch: a reserve's hold id, a settlement's hold (see GroupCommit.ts). */
export const batchIdentity = (item: BatchItem) => item._tag === "reserve" ? `r:${item.id}` : `s:${item.hold}`

/** A reserve that made its hold: this statement's answer, and the store's locked path's. */
export const held = { _tag: "Held" } as const

/** Failures after which the whole statement was undone and running it again can succeed. */
const isRetryable = (e: SqlError) =>
  (e.reason._tag === "UniqueViolation" && e.reason.constraint === "holds_pkey") || e.reason._tag === "DeadlockError"

const holdOf = (row: BatchRow): HoldRow => ({
  id: row.hold_id!,
  account: row.hold_account!,
  amount: row.hold_amount!,
  status: row.hold_status!,
  settled: row.hold_settled!,
  created_at: row.hold_created_at!,
  expires_at: row.hold_expires_at!
})

const outcomeOf = (skipLocked: boolean, row: BatchRow): BatchOutcome => {
  if (row.kind === "settle") {
    if (row.hold_id !== null) {
      return { _tag: "Settled", hold: holdOf(row), seq: row.transfer_seq, posted: row.payer_posted!, pending: row.payer_pending! }
    }
    return skipLocked && row.known && row.payer !== null
      ? { _tag: "Busy", account: row.payer as AccountId }
      : { _tag: "Unsettled" }
  }
  if (row.hold_id !== null) return { _tag: "Exists", existing: holdOf(row) }
  if (row.accepted === true) return held
  if (row.locked) return { _tag: "Refused", available: row.seen ?? 0, spent: 0 }
  // Not locked: another transaction holds the row (skipped), or, waiting, there is no such row.
  return skipLocked ? { _tag: "Busy", account: row.payer as AccountId } : { _tag: "Refused", available: 0, spent: 0 }
}

/** Runs one batch: with `skipLocked` as a stripe's, without as a contended payer's lane's. */
export type RunBatch = (
  skipLocked: boolean,
  items: ReadonlyArray<BatchItem>
) => Effect.Effect<ReadonlyArray<BatchOutcome>, SqlError>

/** The batch statement on the ambient client, retried when it was undone, counted in PgLedgerMetrics.ts. */
export const makeLedgerBatch: Effect.Effect<RunBatch, never, SqlClient.SqlClient> = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const HOLD = sql.literal(HOLD_COLUMNS)
  const USAGE = sql.literal(USAGE_COLUMNS)
  const USAGE_RECORD = sql.literal(USAGE_RECORD_TYPE)

  /**
   * One statement for a batch of reserves and settlements, of any payers, in arrival order.
   *
   * It locks the holds to settle (in id order), then the payers' rows (in id order; FOR NO
   * KEY UPDATE returns each row's newest version, whatever the statement's snapshot). The
   * settlements apply first; then each payer's reserves are decided as a sequence of single
   * reserves would be: an id already taken is a replay and uses nothing; otherwise the hold is
   * accepted if it fits what the payer's earlier accepted holds left. Holds, transfers and each
   * payer's row are then written once, all under those locks, in one commit.
   *
   * With `skipLocked`, rows another transaction holds are skipped rather than waited for: their
   * items come back `Busy` and go to that payer's own lane, so that one contended payer never
   * stalls the batch that carries everybody else. (A payer with no row yet comes back `Busy`
   * too; its lane, which waits, finds no row, refuses and creates the account.)
   */
  const batchStatement = (skipLocked: boolean, reserves: ReadonlyArray<ReserveItem>, settles: ReadonlyArray<SettleItem>) => {
    const skip = sql.literal(skipLocked ? "SKIP LOCKED" : "")
    return sql<BatchRow>`
      WITH RECURSIVE r_in AS MATERIALIZED (
        SELECT i.ord::int AS ord, i.id, i.account, i.amount, i.created_at, i.expires_at,
          h.id AS taken_id, h.account AS taken_account, h.amount AS taken_amount, h.status AS taken_status,
          h.settled AS taken_settled, h.created_at AS taken_created_at, h.expires_at AS taken_expires_at
        -- Each array is read through (SELECT …): the planner then cannot see its length, so every
        -- execution can use the one cached generic plan instead of planning this statement anew.
        FROM unnest(
          (SELECT ${reserves.map((r) => r.id)}::text[]), (SELECT ${reserves.map((r) => r.account)}::text[]),
          (SELECT ${reserves.map((r) => BigInt(r.amount))}::int8[]), (SELECT ${reserves.map((r) => BigInt(r.at))}::int8[]),
          (SELECT ${reserves.map((r) => BigInt(r.expiresAt))}::int8[])
        ) WITH ORDINALITY AS i (id, account, amount, created_at, expires_at, ord)
        -- A primary-key lookup, as LATERAL … LIMIT 1 so that the planner cannot turn it into a
        -- scan of the whole table (its estimates for these fast-growing tables are often stale).
        LEFT JOIN LATERAL (SELECT ${HOLD} FROM holds h WHERE h.id = i.id LIMIT 1) h ON true
      ), s_in AS MATERIALIZED (
        SELECT i.ord::int AS ord, i.id, i.amount, i.at, i.transfer, h.account,
          COALESCE(h.status = 'pending' AND h.amount >= i.amount, false) AS known,
          -- The settlement's usage event, or JSON null: one JSON array, in the settlements' order.
          (SELECT ${JSON.stringify(settles.map((s) => s.usage === undefined ? null : usageRow(s.usage)))}::jsonb) -> (i.ord::int - 1) AS usage
        FROM unnest(
          (SELECT ${settles.map((s) => s.hold)}::text[]), (SELECT ${settles.map((s) => BigInt(s.amount))}::int8[]),
          (SELECT ${settles.map((s) => BigInt(s.at))}::int8[]), (SELECT ${settles.map((s) => settleTransferId(s.hold))}::text[])
        ) WITH ORDINALITY AS i (id, amount, at, transfer, ord)
        LEFT JOIN LATERAL (SELECT h.account, h.status, h.amount FROM holds h WHERE h.id = i.id LIMIT 1) h ON true
      ), s_locked AS MATERIALIZED (
        -- Locked in id order, then checked: a locking read returns each row's newest version.
        SELECT l.id, l.account, l.amount, l.status
        FROM (SELECT DISTINCT id FROM s_in WHERE known ORDER BY id) i
        CROSS JOIN LATERAL (SELECT h.id, h.account, h.amount, h.status FROM holds h WHERE h.id = i.id FOR NO KEY UPDATE ${skip}) l
      ), payers AS MATERIALIZED (
        SELECT l.id, l.posted, l.pending, l.posted - l.pending AS available
        FROM (
          SELECT account FROM r_in WHERE taken_id IS NULL
          UNION
          SELECT account FROM s_locked WHERE status = 'pending'
          ORDER BY account
        ) p
        CROSS JOIN LATERAL (
          SELECT a.id, a.posted, a.pending FROM accounts a WHERE a.id = p.account FOR NO KEY UPDATE ${skip}
        ) l
      ), s_apply AS MATERIALIZED (
        SELECT l.id, l.account, l.amount AS held, i.amount AS settled, i.at, i.transfer, i.ord
        FROM s_locked l JOIN s_in i USING (id)
        WHERE l.status = 'pending' AND l.amount >= i.amount AND l.account IN (SELECT id FROM payers)
      ), r_queue AS MATERIALIZED (
        SELECT r.account, array_agg(r.amount ORDER BY r.ord) AS amounts, array_agg(r.ord ORDER BY r.ord) AS ords,
          count(*)::int AS n
        FROM r_in r WHERE r.taken_id IS NULL AND r.account IN (SELECT id FROM payers)
        GROUP BY r.account
      ), start AS (
        SELECT p.id AS account, p.available + COALESCE(SUM(s.held), 0) - COALESCE(SUM(s.settled), 0) AS available
        FROM payers p LEFT JOIN s_apply s ON s.account = p.id GROUP BY p.id, p.available
      ), greedy (account, k, seen, accepted) AS (
        SELECT q.account, 1, s.available::bigint, q.amounts[1] <= s.available FROM r_queue q JOIN start s USING (account)
        UNION ALL
        SELECT g.account, g.k + 1, n.seen, q.amounts[g.k + 1] <= n.seen
        FROM greedy g JOIN r_queue q USING (account)
        CROSS JOIN LATERAL (SELECT g.seen - CASE WHEN g.accepted THEN q.amounts[g.k] ELSE 0 END AS seen) n
        WHERE g.k < q.n
      ), decided AS MATERIALIZED (
        SELECT q.ords[g.k] AS ord, g.seen, g.accepted FROM greedy g JOIN r_queue q USING (account)
      ), settled AS (
        UPDATE holds h SET status = 'settled', settled = s.settled, resolved_at = s.at
        FROM s_apply s WHERE h.id = s.id
        RETURNING h.id, h.account, h.amount, h.status, h.settled, h.created_at, h.expires_at
      ), posted AS (
        INSERT INTO transfers (id, kind, debit, credit, amount, at, reason, hold)
        SELECT s.transfer, 'settle', s.account, ${RevenueAccount}, s.settled, s.at, 'image generation', s.id
        FROM s_apply s WHERE s.settled > 0 ORDER BY s.ord
        RETURNING hold, seq
      ), logged AS (
        -- Each applied settlement's usage event, in the settlement's own commit.
        INSERT INTO usage_events (${USAGE})
        SELECT u.* FROM s_apply s JOIN s_in i USING (ord)
        CROSS JOIN LATERAL jsonb_to_record(i.usage) AS u(${USAGE_RECORD})
        WHERE jsonb_typeof(i.usage) = 'object'
      ), inserted AS (
        INSERT INTO holds (id, account, amount, status, created_at, expires_at)
        SELECT r.id, r.account, r.amount, 'pending', r.created_at, r.expires_at
        -- Keys in order here too: two batches inserting the same new ids cannot wait for each other.
        FROM r_in r JOIN decided d USING (ord) WHERE d.accepted ORDER BY r.id
      ), moved AS (
        -- New balances from the locked versions, not from the row this UPDATE finds: that one can
        -- be older than the lock (the statement's snapshot), and PostgreSQL checks constraints
        -- on a row built from it before it moves to the newest version.
        UPDATE accounts a SET posted = p.posted - m.settled, pending = p.pending + m.reserved - m.held
        FROM (
          SELECT account, SUM(settled)::bigint AS settled, SUM(held)::bigint AS held, SUM(reserved)::bigint AS reserved
          FROM (
            SELECT account, settled, held, 0::bigint AS reserved FROM s_apply
            UNION ALL
            SELECT r.account, 0, 0, r.amount FROM r_in r JOIN decided d USING (ord) WHERE d.accepted
          ) x GROUP BY account
        ) m
        JOIN payers p ON p.id = m.account
        WHERE a.id = m.account
        RETURNING a.id, a.posted, a.pending
      )
      SELECT 'reserve' AS kind, r.ord, d.accepted, d.seen, r.account IN (SELECT id FROM payers) AS locked, NULL AS known,
        r.account AS payer, r.taken_id AS hold_id, r.taken_account AS hold_account, r.taken_amount AS hold_amount,
        r.taken_status AS hold_status, r.taken_settled AS hold_settled, r.taken_created_at AS hold_created_at,
        r.taken_expires_at AS hold_expires_at, NULL::bigint AS transfer_seq,
        NULL::bigint AS payer_posted, NULL::bigint AS payer_pending
      FROM r_in r LEFT JOIN decided d USING (ord)
      UNION ALL
      SELECT 'settle', s.ord, NULL, NULL, s.account IN (SELECT id FROM payers), s.known,
        s.account, x.id, x.account, x.amount, x.status, x.settled, x.created_at, x.expires_at, p.seq,
        b.posted, b.pending
      FROM s_in s LEFT JOIN settled x ON x.id = s.id LEFT JOIN posted p ON p.hold = s.id
      LEFT JOIN moved b ON b.id = x.account`
  }

  /** A payer never seen before gets its (empty) account, as in the in-memory ledger. */
  const firstSight = (rows: ReadonlyArray<BatchRow>) => {
    const unknown = [...new Set(rows.flatMap((r) => r.kind === "reserve" && !r.locked && r.hold_id === null ? [r.payer!] : []))]
    return unknown.length === 0
      ? Effect.void
      : Effect.asVoid(sql`INSERT INTO accounts (id) SELECT unnest(${unknown.sort()}::text[]) ON CONFLICT (id) DO NOTHING`)
  }

  /**
   * An id in the batch committed by another transaction after the statement's snapshot makes
   * its INSERT fail and undoes the whole statement; run it again, and the newer snapshot sees
   * that id as taken. Each such retry is caused by a different id, so there are at most as many.
   * (Locks are taken in id order, so a deadlock would take exotic company; it is retried too.)
   */
  const runBatch = (
    skipLocked: boolean,
    items: ReadonlyArray<BatchItem>,
    attempt = 1
  ): Effect.Effect<ReadonlyArray<BatchOutcome>, SqlError> => {
    const reserves: Array<ReserveItem> = []
    const settles: Array<SettleItem> = []
    for (const item of items) {
      if (item._tag === "reserve") reserves.push(item)
      else settles.push(item)
    }
    return Effect.all([
      Metric.update(batchStatements, 1),
      Metric.update(batchedReserves, reserves.length),
      Metric.update(batchedSettles, settles.length),
      skipLocked ? Effect.void : Metric.update(contendedStatements, 1)
    ]).pipe(
      Effect.andThen(batchStatement(skipLocked, reserves, settles)),
      Effect.tap((rows) => skipLocked ? Effect.void : firstSight(rows)),
      // Its own trace root: a batch belongs to all of its callers, not to the one that started it.
      Effect.withSpan("PgLedgerStore.batch", {
        root: true,
        attributes: { reserves: reserves.length, settles: settles.length, contended: !skipLocked, attempt }
      }),
      Effect.map((rows) => {
        const reserveRows = new Map<number, BatchRow>()
        const settleRows = new Map<number, BatchRow>()
        for (const row of rows) (row.kind === "reserve" ? reserveRows : settleRows).set(row.ord, row)
        let r = 0
        let s = 0
        return items.map((item) => {
          const row = item._tag === "reserve" ? reserveRows.get(++r) : settleRows.get(++s)
          if (row === undefined) throw new Error("the batch statement left an item unanswered")
          return outcomeOf(skipLocked, row)
        })
      }),
      Effect.catchIf(
        (e: SqlError) => isRetryable(e) && attempt <= items.length,
        () => runBatch(skipLocked, items, attempt + 1)
      )
    )
  }

  return runBatch
})
