import { Effect, Layer, Metric, Option } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { LedgerStore } from "../../application/ports/LedgerStore.ts"
import {
  HoldAlreadyResolved,
  HoldNotFound,
  IdempotencyConflict,
  InsufficientCredits,
  MonthlyCapExceeded,
  RefundExceedsTransfer,
  SettleExceedsHold,
  TransferNotFound
} from "../../domain/Errors.ts"
import {
  type AccountId,
  type HoldId,
  IssuanceAccount,
  isSystemAccount,
  RevenueAccount,
  type TransferId
} from "../../domain/Ids.ts"
import {
  type Balance,
  type Hold,
  type HoldStatus,
  settleTransferId,
  type Transfer,
  type TransferKind
} from "../../domain/Ledger.ts"
import { makeGroupCommit } from "./GroupCommit.ts"
import { orDie } from "./PgSql.ts"

type Store = LedgerStore["Service"]

interface HoldRow {
  readonly id: string
  readonly account: string
  readonly amount: number
  readonly status: HoldStatus
  readonly settled: number
  readonly created_at: number
  readonly expires_at: number
}

interface TransferRow {
  readonly id: string
  readonly kind: TransferKind
  readonly debit: string
  readonly credit: string
  readonly amount: number
  readonly at: number
  readonly reason: string
  readonly hold: string | null
  readonly refund_of: string | null
}

interface ReserveItem {
  readonly _tag: "reserve"
  readonly id: HoldId
  readonly account: AccountId
  readonly amount: number
  readonly at: number
  readonly expiresAt: number
}

interface SettleItem {
  readonly _tag: "settle"
  readonly hold: HoldId
  readonly amount: number
  readonly at: number
}

type BatchItem = ReserveItem | SettleItem

type BatchOutcome =
  | { readonly _tag: "Held" }
  | { readonly _tag: "Exists"; readonly existing: HoldRow }
  | { readonly _tag: "Refused"; readonly available: number; readonly spent: number }
  | { readonly _tag: "Settled"; readonly hold: HoldRow }
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
}

const toHold = (r: HoldRow): Hold => ({
  id: r.id as HoldId,
  account: r.account as AccountId,
  amount: r.amount,
  status: r.status,
  settled: r.settled,
  createdAt: r.created_at,
  expiresAt: r.expires_at
})

const toTransfer = (r: TransferRow): Transfer => ({
  id: r.id as TransferId,
  kind: r.kind,
  debit: r.debit as AccountId,
  credit: r.credit as AccountId,
  amount: r.amount,
  at: r.at,
  reason: r.reason,
  ...(r.hold === null ? {} : { hold: r.hold as HoldId }),
  ...(r.refund_of === null ? {} : { refundOf: r.refund_of as TransferId })
})

const balanceOf = (account: AccountId, posted: number, pending: number): Balance => ({
  account,
  posted,
  pending,
  available: posted - pending
})

const conflict = (id: string) => new IdempotencyConflict({ id, reason: "different_content" })

/** Expired holds are released in batches, each one short transaction. */
const EXPIRY_BATCH = 500

/** Most items one batch statement carries. */
const MAX_BATCH = 1000

/** Process-wide batches that may be in flight at once (each on its own connection). */
const STRIPES = 2

/** Most holds whose payer this process remembers, to route their settlement. */
const HOLD_ROUTES = 100_000

/** FNV-1a: a payer's stripe. */
const stripeOf = (key: string): number => {
  let h = 0x811c9dc5
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 0x01000193)
  return (h >>> 0) % STRIPES
}

/** The group commit's statements and what they carried, per process (see `makePgLedgerStore`). */
export const batchStatements = Metric.counter("image_gateway_ledger_batch_statements_total", {
  description: "batch statements sent for reserves and settlements, retries included",
  incremental: true
})
export const contendedStatements = Metric.counter("image_gateway_ledger_batch_statements_contended_total", {
  description: "of those, statements of one contended payer's own lane",
  incremental: true
})
export const batchedReserves = Metric.counter("image_gateway_ledger_batched_reserves_total", {
  description: "reserves carried by batch statements",
  incremental: true
})
export const batchedSettles = Metric.counter("image_gateway_ledger_batched_settles_total", {
  description: "settlements carried by batch statements",
  incremental: true
})

/**
 * The ledger on PostgreSQL. Every decision about money is taken by the database under the
 * payer's row lock: a single conditional `UPDATE … WHERE posted - pending >= amount`, or
 * statements run after `SELECT … FOR NO KEY UPDATE` in one transaction. Nothing reads a balance
 * into this process to decide and write it back. Customer accounts are rows; the system
 * accounts' balances are sums over the journal (see Migrations.ts). Every operation runs on its
 * own (autocommit or its own transaction), not inside a caller's transaction.
 *
 * Reserves (without a cap) and settlements are group-committed (GroupCommit.ts): while a
 * batch statement is in flight, later calls queue in this process and go together in the next
 * one, so a busy payer is not held to one reserve per commit (its row lock is held through each
 * commit) and the whole process pays one round trip and one commit per batch, not per call.
 * Batches skip rows locked by other transactions; a payer contended that way (by another
 * process) gets a lane of its own whose batches wait for its lock. Across processes the row
 * locks decide, as before.
 */
export const makePgLedgerStore = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const HOLD = sql.literal("id, account, amount, status, settled, created_at, expires_at")
  const TRANSFER = sql.literal("id, kind, debit, credit, amount, at, reason, hold, refund_of")

  const findHold = (id: string) =>
    Effect.map(sql<HoldRow>`SELECT ${HOLD} FROM holds WHERE id = ${id}`, (rows) => rows[0])

  const findTransfer = (id: string) =>
    Effect.map(sql<TransferRow>`SELECT ${TRANSFER} FROM transfers WHERE id = ${id}`, (rows) =>
      rows[0] === undefined ? undefined : toTransfer(rows[0]))

  /** Settled minus refunded since `since`, plus what the account still holds. */
  const spentExpression = (account: string, since: number) =>
    sql`(
      COALESCE((SELECT pending FROM accounts WHERE id = ${account}), 0)
      + COALESCE((SELECT SUM(amount) FROM transfers WHERE debit = ${account} AND kind = 'settle' AND at >= ${since}), 0)
      - COALESCE((SELECT SUM(amount) FROM transfers WHERE credit = ${account} AND kind = 'refund' AND at >= ${since}), 0)
    )::bigint`

  const journalBalance = (account: string) =>
    Effect.map(
      sql<{ posted: number }>`SELECT (
        COALESCE((SELECT SUM(amount) FROM transfers WHERE credit = ${account}), 0)
        - COALESCE((SELECT SUM(amount) FROM transfers WHERE debit = ${account}), 0)
      )::bigint AS posted`,
      (rows) => rows[0]?.posted ?? 0
    )

  const grant: Store["grant"] = (input) =>
    orDie(Effect.gen(function*() {
      const [inserted] = yield* sql<TransferRow>`
        WITH posted AS (
          INSERT INTO transfers (id, kind, debit, credit, amount, at, reason)
          VALUES (${input.id}, 'grant', ${IssuanceAccount}, ${input.account}, ${input.amount}, ${input.at}, ${input.reason})
          ON CONFLICT (id) DO NOTHING
          RETURNING ${TRANSFER}
        ), credited AS (
          INSERT INTO accounts AS a (id, posted)
          SELECT credit, amount FROM posted WHERE credit NOT LIKE 'system:%'
          ON CONFLICT (id) DO UPDATE SET posted = a.posted + EXCLUDED.posted
        )
        SELECT * FROM posted`
      if (inserted !== undefined) return toTransfer(inserted)
      const existing = yield* findTransfer(input.id)
      if (
        existing !== undefined && existing.kind === "grant" && existing.credit === input.account &&
        existing.amount === input.amount
      ) return existing
      return yield* conflict(input.id)
    }))

  type ReserveOutcome =
    | { readonly _tag: "Held" }
    /** The id was already taken; `existing` is its hold when the statement read it. */
    | { readonly _tag: "Exists"; readonly existing?: HoldRow | undefined }
    | { readonly _tag: "Refused"; readonly available: number; readonly spent: number }

  const held = { _tag: "Held" } as const
  const exists = { _tag: "Exists" } as const

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
          COALESCE(h.status = 'pending' AND h.amount >= i.amount, false) AS known
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
      )
      SELECT 'reserve' AS kind, r.ord, d.accepted, d.seen, r.account IN (SELECT id FROM payers) AS locked, NULL AS known,
        r.account AS payer, r.taken_id AS hold_id, r.taken_account AS hold_account, r.taken_amount AS hold_amount,
        r.taken_status AS hold_status, r.taken_settled AS hold_settled, r.taken_created_at AS hold_created_at,
        r.taken_expires_at AS hold_expires_at
      FROM r_in r LEFT JOIN decided d USING (ord)
      UNION ALL
      SELECT 'settle', s.ord, NULL, NULL, s.account IN (SELECT id FROM payers), s.known,
        s.account, x.id, x.account, x.amount, x.status, x.settled, x.created_at, x.expires_at
      FROM s_in s LEFT JOIN settled x ON x.id = s.id`
  }

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
      if (row.hold_id !== null) return { _tag: "Settled", hold: holdOf(row) }
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

  const identity = (item: BatchItem) => item._tag === "reserve" ? `r:${item.id}` : `s:${item.hold}`

  /** The process-wide batches: a few stripes, so that several statements can be in flight. */
  const stripes = makeGroupCommit<number, BatchItem, BatchOutcome, SqlError>({
    maxBatch: MAX_BATCH,
    identity,
    run: (_, items) => runBatch(true, items)
  })

  /** A contended payer's own batches, which wait for its row lock (as single statements would). */
  const payerLanes = makeGroupCommit<AccountId, BatchItem, BatchOutcome, SqlError>({
    maxBatch: MAX_BATCH,
    identity,
    run: (_, items) => runBatch(false, items)
  })

  /**
   * A payer's items share a stripe, so that its reserves and settlements meet in one statement
   * rather than skip each other; while the payer has a lane of its own, they go there.
   */
  const submit = (account: AccountId | undefined, route: string, item: BatchItem) => {
    const first = account !== undefined && payerLanes.active(account)
      ? payerLanes.submit(account, item)
      : stripes.submit(stripeOf(account ?? route), item)
    return Effect.flatMap(first, (outcome) => outcome._tag === "Busy" ? payerLanes.submit(outcome.account, item) : Effect.succeed(outcome))
  }

  /**
   * Which payer each pending hold made here belongs to, so that its settlement is routed to
   * that payer's stripe or lane. Only a routing hint: the statement reads the hold's payer itself.
   */
  const holdAccounts = new Map<HoldId, AccountId>()
  const remember = (hold: HoldId, account: AccountId) => {
    holdAccounts.set(hold, account)
    if (holdAccounts.size > HOLD_ROUTES) holdAccounts.delete(holdAccounts.keys().next().value!)
  }

  const reserve: Store["reserve"] = (input) => {
    if (isSystemAccount(input.account)) {
      return Effect.die(new Error(`the system account '${input.account}' cannot hold credits`))
    }
    const { account, amount, cap } = input
    const insertHold = sql`
      INSERT INTO holds (id, account, amount, status, created_at, expires_at)
      VALUES (${input.id}, ${account}, ${amount}, 'pending', ${input.at}, ${input.expiresAt})`

    /**
     * Holding the payer's row lock from the start: needed for the cap, which sums the journal
     * and so must run after every settlement and refund of this payer has committed.
     */
    const reserveLocked: Effect.Effect<ReserveOutcome, SqlError> = sql.withTransaction(Effect.gen(function*() {
      yield* sql`INSERT INTO accounts (id) VALUES (${account}) ON CONFLICT (id) DO NOTHING`
      // Payer first, then the hold id: the same order as the batch statement, so that two
      // reserves racing with one id cannot wait for each other. NO KEY UPDATE is the lock an
      // UPDATE takes; FOR UPDATE would also wait for other reserves' foreign-key checks.
      yield* sql`SELECT 1 FROM accounts WHERE id = ${account} FOR NO KEY UPDATE`
      const claimed = yield* sql`${insertHold} ON CONFLICT (id) DO NOTHING RETURNING id`
      if (claimed.length === 0) return exists
      const updated = yield* sql`
        UPDATE accounts SET pending = pending + ${amount}
        WHERE id = ${account} AND posted - pending >= ${amount}
        ${cap === undefined ? sql.literal("") : sql`AND ${spentExpression(account, cap.since)} + ${amount} <= ${cap.limit}`}
        RETURNING id`
      if (updated.length > 0) return held
      // Refused: give the id back (the account stays, as in memory) and say why, under the lock.
      yield* sql`DELETE FROM holds WHERE id = ${input.id}`
      const [state] = yield* sql<{ available: number; spent: number }>`
        SELECT posted - pending AS available,
          ${cap === undefined ? sql.literal("0") : spentExpression(account, cap.since)} AS spent
        FROM accounts WHERE id = ${account}`
      return { _tag: "Refused", available: state?.available ?? 0, spent: state?.spent ?? 0 } as const
    }))

    const batched = Effect.flatMap(
      submit(account, account, { _tag: "reserve", id: input.id, account, amount, at: input.at, expiresAt: input.expiresAt }),
      (outcome): Effect.Effect<ReserveOutcome> =>
        outcome._tag === "Held" || outcome._tag === "Exists" || outcome._tag === "Refused"
          ? Effect.succeed(outcome)
          : Effect.die(new Error(`a reserve's batch answered ${outcome._tag}`))
    )

    return orDie(Effect.gen(function*() {
      // Capped reserves keep the locked path: the cap reads the journal, which a batch cannot.
      const outcome = yield* (cap === undefined ? batched : reserveLocked)
      switch (outcome._tag) {
        case "Held":
          remember(input.id, account)
          return {
            id: input.id,
            account,
            amount,
            status: "pending",
            settled: 0,
            createdAt: input.at,
            expiresAt: input.expiresAt
          } satisfies Hold
        case "Exists": {
          const existing = outcome.existing ?? (yield* findHold(input.id))
          if (existing !== undefined && existing.account === account && existing.amount === amount) {
            if (existing.status === "pending") remember(input.id, account)
            return toHold(existing)
          }
          return yield* conflict(input.id)
        }
        case "Refused":
          if (outcome.available < amount) {
            return yield* new InsufficientCredits({ account, required: amount, available: outcome.available })
          }
          return yield* new MonthlyCapExceeded({ account, cap: cap?.limit ?? 0, spent: outcome.spent, required: amount })
      }
    }))
  }

  const settled = (row: HoldRow, input: { readonly hold: HoldId; readonly amount: number; readonly at: number }) => {
    holdAccounts.delete(input.hold)
    const hold = toHold(row)
    const transfer: Option.Option<Transfer> = input.amount === 0 ? Option.none() : Option.some({
      id: settleTransferId(input.hold),
      kind: "settle",
      debit: hold.account,
      credit: RevenueAccount,
      amount: input.amount,
      at: input.at,
      reason: "image generation",
      hold: hold.id
    })
    return { hold, transfer }
  }

  /** One hold on its own: every case a batch leaves unsettled (replays, refusals, unknown holds). */
  const settleOne: Store["settle"] = (input) =>
    orDie(Effect.gen(function*() {
      const transferId = settleTransferId(input.hold)
      const [row] = yield* sql<HoldRow>`
        WITH resolved AS (
          UPDATE holds SET status = 'settled', settled = ${input.amount}, resolved_at = ${input.at}
          WHERE id = ${input.hold} AND status = 'pending' AND amount >= ${input.amount}
          RETURNING ${HOLD}
        ), payer AS (
          UPDATE accounts SET pending = accounts.pending - r.amount, posted = accounts.posted - ${input.amount}
          FROM resolved r WHERE accounts.id = r.account
        ), posted AS (
          INSERT INTO transfers (id, kind, debit, credit, amount, at, reason, hold)
          SELECT ${transferId}, 'settle', r.account, ${RevenueAccount}, ${input.amount}, ${input.at}, 'image generation', r.id
          FROM resolved r WHERE ${input.amount}::bigint > 0
        )
        SELECT * FROM resolved`
      if (row !== undefined) return settled(row, input)
      const existing = yield* findHold(input.hold)
      if (existing === undefined) return yield* new HoldNotFound({ hold: input.hold })
      switch (existing.status) {
        case "settled":
          if (existing.settled !== input.amount) return yield* conflict(input.hold)
          return { hold: toHold(existing), transfer: Option.fromUndefinedOr(yield* findTransfer(transferId)) }
        case "released":
        case "expired":
          return yield* new HoldAlreadyResolved({ hold: existing.id, status: existing.status })
        case "pending":
          if (existing.amount < input.amount) {
            return yield* new SettleExceedsHold({ hold: existing.id, reserved: existing.amount, requested: input.amount })
          }
          // Committed after this statement began: try again.
          return yield* settleOne(input)
      }
    }))

  const settle: Store["settle"] = (input) =>
    Effect.flatMap(
      orDie(submit(holdAccounts.get(input.hold), input.hold, { _tag: "settle", hold: input.hold, amount: input.amount, at: input.at })),
      (outcome) => outcome._tag === "Settled" ? Effect.succeed(settled(outcome.hold, input)) : settleOne(input)
    )

  const release: Store["release"] = (input) =>
    orDie(Effect.gen(function*() {
      const [released] = yield* sql<HoldRow>`
        WITH resolved AS (
          UPDATE holds SET status = 'released', resolved_at = ${input.at}
          WHERE id = ${input.hold} AND status = 'pending'
          RETURNING ${HOLD}
        ), payer AS (
          UPDATE accounts SET pending = accounts.pending - r.amount
          FROM resolved r WHERE accounts.id = r.account
        )
        SELECT * FROM resolved`
      if (released !== undefined) {
        holdAccounts.delete(input.hold)
        return toHold(released)
      }
      const existing = yield* findHold(input.hold)
      if (existing === undefined) return yield* new HoldNotFound({ hold: input.hold })
      switch (existing.status) {
        case "released":
        case "expired":
          return toHold(existing)
        case "settled":
          return yield* new HoldAlreadyResolved({ hold: existing.id, status: existing.status })
        case "pending":
          return yield* release(input)
      }
    }))

  const refund: Store["refund"] = (input) => {
    const attempt = sql.withTransaction(Effect.gen(function*() {
      // Claim the id; the original must be a settlement, whose payer the refund credits.
      const [claimed] = yield* sql<TransferRow>`
        INSERT INTO transfers (id, kind, debit, credit, amount, at, reason, refund_of)
        SELECT ${input.id}, 'refund', ${RevenueAccount}, o.debit, ${input.amount}, ${input.at}, ${input.reason}, o.id
        FROM transfers o WHERE o.id = ${input.transfer} AND o.kind = 'settle'
        ON CONFLICT (id) DO NOTHING
        RETURNING ${TRANSFER}`
      if (claimed === undefined) return undefined
      const counted = yield* sql`
        INSERT INTO refund_totals AS r (transfer, amount, refunded)
        SELECT id, amount, ${input.amount} FROM transfers WHERE id = ${input.transfer} AND amount >= ${input.amount}
        ON CONFLICT (transfer) DO UPDATE SET refunded = r.refunded + EXCLUDED.refunded
        WHERE r.refunded + EXCLUDED.refunded <= r.amount
        RETURNING transfer`
      if (counted.length === 0) {
        const [left] = yield* sql<{ refundable: number }>`
          SELECT o.amount - COALESCE(r.refunded, 0) AS refundable
          FROM transfers o LEFT JOIN refund_totals r ON r.transfer = o.id
          WHERE o.id = ${input.transfer}`
        return yield* new RefundExceedsTransfer({
          transfer: input.transfer,
          refundable: left?.refundable ?? 0,
          requested: input.amount
        })
      }
      if (!isSystemAccount(claimed.credit as AccountId)) {
        yield* sql`UPDATE accounts SET posted = posted + ${input.amount} WHERE id = ${claimed.credit}`
      }
      return toTransfer(claimed)
    }))
    return orDie(Effect.gen(function*() {
      const posted = yield* attempt
      if (posted !== undefined) return posted
      const existing = yield* findTransfer(input.id)
      if (existing === undefined) return yield* new TransferNotFound({ transfer: input.transfer })
      if (existing.kind === "refund" && existing.refundOf === input.transfer && existing.amount === input.amount) {
        return existing
      }
      return yield* conflict(input.id)
    }))
  }

  const expireBatch = (now: number) =>
    sql.withTransaction(Effect.gen(function*() {
      // SKIP LOCKED: concurrent sweepers take disjoint holds, and a hold being settled is left alone.
      const due = yield* sql<{ id: string }>`
        SELECT id FROM holds WHERE status = 'pending' AND expires_at <= ${now}
        ORDER BY expires_at LIMIT ${EXPIRY_BATCH}
        FOR NO KEY UPDATE SKIP LOCKED`
      if (due.length === 0) return 0
      const ids = due.map((h) => h.id)
      // Payers are locked in id order, so sweepers touching the same payers cannot deadlock
      // (and with NO KEY UPDATE, as in reserve, so as not to wait for foreign-key checks).
      yield* sql`
        SELECT 1 FROM accounts WHERE id IN (SELECT account FROM holds WHERE id = ANY(${ids}))
        ORDER BY id FOR NO KEY UPDATE`
      yield* sql`
        WITH expired AS (
          UPDATE holds SET status = 'expired', resolved_at = ${now}
          WHERE id = ANY(${ids}) AND status = 'pending'
          RETURNING account, amount
        ), per_payer AS (
          SELECT account, SUM(amount)::bigint AS amount FROM expired GROUP BY account
        )
        UPDATE accounts SET pending = accounts.pending - p.amount
        FROM per_payer p WHERE accounts.id = p.account`
      return due.length
    }))

  const expireHolds: Store["expireHolds"] = (now) => {
    const loop = (total: number): Effect.Effect<number, SqlError> =>
      Effect.flatMap(expireBatch(now), (n) => n < EXPIRY_BATCH ? Effect.succeed(total + n) : loop(total + n))
    return orDie(loop(0))
  }

  const balance: Store["balance"] = (account) =>
    orDie(
      isSystemAccount(account)
        ? Effect.map(journalBalance(account), (posted) => balanceOf(account, posted, 0))
        : Effect.map(
          sql<{ posted: number; pending: number }>`SELECT posted, pending FROM accounts WHERE id = ${account}`,
          (rows) => balanceOf(account, rows[0]?.posted ?? 0, rows[0]?.pending ?? 0)
        )
    )

  // An administrative read: the system accounts' part scans the journal.
  const balances: Store["balances"] = orDie(Effect.map(
    sql<{ account: string; posted: number; pending: number }>`
      SELECT id AS account, posted, pending FROM accounts
      UNION ALL
      SELECT account, SUM(delta)::bigint AS posted, 0::bigint AS pending FROM (
        SELECT credit AS account, amount AS delta FROM transfers WHERE credit LIKE 'system:%'
        UNION ALL
        SELECT debit AS account, -amount AS delta FROM transfers WHERE debit LIKE 'system:%'
      ) journal GROUP BY account
      ORDER BY account`,
    (rows) => rows.map((r) => balanceOf(r.account as AccountId, r.posted, r.pending))
  ))

  const hold: Store["hold"] = (id) => orDie(Effect.map(findHold(id), (r) => Option.map(Option.fromUndefinedOr(r), toHold)))

  const transfers: Store["transfers"] = (filter) =>
    orDie(Effect.map(
      sql<TransferRow>`
        SELECT ${TRANSFER} FROM transfers
        ${filter.account === undefined ? sql.literal("") : sql`WHERE debit = ${filter.account} OR credit = ${filter.account}`}
        ORDER BY seq DESC
        ${filter.limit === undefined ? sql.literal("") : sql`LIMIT ${filter.limit}`}`,
      (rows) => rows.map(toTransfer)
    ))

  const spentSince: Store["spentSince"] = (account, since) =>
    orDie(Effect.map(
      sql<{ spent: number }>`SELECT ${spentExpression(account, since)} AS spent`,
      (rows) => rows[0]?.spent ?? 0
    ))

  return LedgerStore.of({
    grant,
    reserve,
    settle,
    release,
    refund,
    expireHolds,
    balance,
    balances,
    hold,
    transfers,
    spentSince
  })
})

export const PgLedgerStoreLayer = Layer.effect(LedgerStore, makePgLedgerStore)
