import { PgTypes } from "@effect/sql-pg"
import { Effect, Layer, Option } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import type { SqlError } from "effect/sql/SqlError"
import { LedgerStore, type SettlementCompletes } from "../../application/ports/LedgerStore.ts"
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
import { type AccountId, type HoldId, IssuanceAccount, isSystemAccount, RevenueAccount } from "../../domain/Ids.ts"
import { type Hold, settleTransferId, type Transfer } from "../../domain/Ledger.ts"
import { held, makeLedgerBatch } from "./PgLedgerBatch.ts"
import {
  balanceOf,
  HOLD_COLUMNS,
  type HoldRow,
  toHold,
  toTransfer,
  TRANSFER_COLUMNS,
  type TransferRow
} from "./PgLedgerRows.ts"
import { makePayerRouting } from "./PgPayerRouting.ts"
import { orDie } from "./PgSql.ts"
import { toRow as usageRow, USAGE_COLUMNS, USAGE_RECORD_TYPE } from "./PgUsageLog.ts"

export { batchedReserves, batchedSettles, batchStatements, contendedStatements } from "./PgLedgerMetrics.ts"

type Store = LedgerStore["Service"]

const conflict = (id: string) => new IdempotencyConflict({ id, reason: "different_content" })

/** Expired holds are released in batches, each one short transaction. */
const EXPIRY_BATCH = 500

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
 * locks decide, as before. The statement is PgLedgerBatch.ts; which batch an item joins,
 * PgPayerRouting.ts; the rows, PgLedgerRows.ts.
 */
export const makePgLedgerStore = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient

  const HOLD = sql.literal(HOLD_COLUMNS)
  const TRANSFER = sql.literal(TRANSFER_COLUMNS)
  const USAGE = sql.literal(USAGE_COLUMNS)
  const USAGE_RECORD = sql.literal(USAGE_RECORD_TYPE)
  const routing = makePayerRouting(yield* makeLedgerBatch)

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

  const accountBalance = (account: AccountId) =>
    isSystemAccount(account)
      ? Effect.map(journalBalance(account), (posted) => balanceOf(account, posted, 0))
      : Effect.map(
        sql<{ posted: number; pending: number }>`SELECT posted, pending FROM accounts WHERE id = ${account}`,
        (rows) => balanceOf(account, rows[0]?.posted ?? 0, rows[0]?.pending ?? 0)
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

  const exists = { _tag: "Exists" } as const

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
      routing.submit({ _tag: "reserve", id: input.id, account, amount, at: input.at, expiresAt: input.expiresAt }),
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
          routing.remember(input.id, account)
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
            if (existing.status === "pending") routing.remember(input.id, account)
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

  /** A settlement just made: its hold, its transfer at journal position `seq` (none for 0), the payer's row after it. */
  const settled = (
    row: HoldRow,
    seq: number | null,
    payer: { readonly posted: number; readonly pending: number },
    input: { readonly hold: HoldId; readonly amount: number; readonly at: number }
  ) => {
    routing.forget(input.hold)
    const hold = toHold(row)
    const transfer: Option.Option<Transfer> = seq === null ? Option.none() : Option.some({
      id: settleTransferId(input.hold),
      kind: "settle",
      debit: hold.account,
      credit: RevenueAccount,
      amount: input.amount,
      at: input.at,
      reason: "image generation",
      hold: hold.id,
      seq
    })
    return { hold, transfer, balance: balanceOf(hold.account, payer.posted, payer.pending) }
  }

  /** One hold on its own: every case a batch leaves unsettled (replays, refusals, unknown holds). */
  const settleOne: Store["settle"] = (input) =>
    orDie(Effect.gen(function*() {
      const transferId = settleTransferId(input.hold)
      const usage = input.usage === undefined ? null : JSON.stringify(usageRow(input.usage))
      const [row] = yield* sql<
        HoldRow & { readonly transfer_seq: number | null; readonly payer_posted: number; readonly payer_pending: number }
      >`
        WITH resolved AS (
          UPDATE holds SET status = 'settled', settled = ${input.amount}, resolved_at = ${input.at}
          WHERE id = ${input.hold} AND status = 'pending' AND amount >= ${input.amount}
          RETURNING ${HOLD}
        ), payer AS (
          UPDATE accounts SET pending = accounts.pending - r.amount, posted = accounts.posted - ${input.amount}
          FROM resolved r WHERE accounts.id = r.account
          RETURNING accounts.posted, accounts.pending
        ), posted AS (
          INSERT INTO transfers (id, kind, debit, credit, amount, at, reason, hold)
          SELECT ${transferId}, 'settle', r.account, ${RevenueAccount}, ${input.amount}, ${input.at}, 'image generation', r.id
          FROM resolved r WHERE ${input.amount}::bigint > 0
          RETURNING seq
        ), logged AS (
          INSERT INTO usage_events (${USAGE})
          SELECT u.* FROM resolved, jsonb_to_record(${usage}::jsonb) AS u(${USAGE_RECORD})
          WHERE ${usage}::jsonb IS NOT NULL
        )
        SELECT ${HOLD}, (SELECT seq FROM posted) AS transfer_seq,
          (SELECT posted FROM payer) AS payer_posted, (SELECT pending FROM payer) AS payer_pending
        FROM resolved`
      if (row !== undefined) {
        return settled(row, row.transfer_seq, { posted: row.payer_posted, pending: row.payer_pending }, input)
      }
      const existing = yield* findHold(input.hold)
      if (existing === undefined) return yield* new HoldNotFound({ hold: input.hold })
      switch (existing.status) {
        case "settled":
          if (existing.settled !== input.amount) return yield* conflict(input.hold)
          return {
            hold: toHold(existing),
            transfer: Option.fromUndefinedOr(yield* findTransfer(transferId)),
            balance: yield* accountBalance(existing.account as AccountId)
          }
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

  /**
   * A settlement that completes its request's idempotency claim: in one transaction, the claim's
   * row locked (a takeover waits, then finds it done), the settlement, then the record completed
   * with the response made from the balance after it. No claim of this attempt: nothing moves.
   */
  const settleClaimed = (input: Parameters<Store["settle"]>[0], completes: SettlementCompletes) =>
    sql.withTransaction(Effect.gen(function*() {
      const owned = yield* orDie(sql`
        SELECT 1 FROM idempotency_records
        WHERE scope = ${completes.scope} AND key = ${completes.key} AND attempt = ${completes.attempt} AND NOT done
        FOR UPDATE`)
      if (owned.length === 0) return yield* new IdempotencyConflict({ id: completes.key, reason: "in_progress" })
      const outcome = yield* settleOne(input)
      yield* orDie(sql`
        UPDATE idempotency_records SET done = true, response = ${PgTypes.json(completes.response(outcome.balance))}
        WHERE scope = ${completes.scope} AND key = ${completes.key}`)
      return outcome
    })).pipe(Effect.catchTag("SqlError", (e) => Effect.die(e)))

  const settle: Store["settle"] = (input) =>
    input.completes !== undefined ? settleClaimed(input, input.completes) : Effect.flatMap(
      orDie(routing.submit({ _tag: "settle", hold: input.hold, amount: input.amount, at: input.at, usage: input.usage })),
      (outcome) =>
        outcome._tag === "Settled" ? Effect.succeed(settled(outcome.hold, outcome.seq, outcome, input)) : settleOne(input)
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
        routing.forget(input.hold)
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

  const balance: Store["balance"] = (account) => orDie(accountBalance(account))

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

  // Reads the holds_status_expiry index; pending holds are the few requests in flight.
  const pendingHolds: Store["pendingHolds"] = orDie(Effect.map(
    sql<{ count: number; amount: number }>`
      SELECT count(*)::bigint AS count, COALESCE(SUM(amount), 0)::bigint AS amount FROM holds WHERE status = 'pending'`,
    (rows) => ({ count: rows[0]?.count ?? 0, amount: rows[0]?.amount ?? 0 })
  ))

  const hold: Store["hold"] = (id) => orDie(Effect.map(findHold(id), (r) => Option.map(Option.fromUndefinedOr(r), toHold)))

  // A page walks the seq index backwards from the cursor; an account's page reads its debit and
  // credit entries through their indexes, then sorts them by seq.
  const transfers: Store["transfers"] = (filter) => {
    const where = [
      ...(filter.account === undefined ? [] : [sql`(debit = ${filter.account} OR credit = ${filter.account})`]),
      ...(filter.beforeSeq === undefined ? [] : [sql`seq < ${filter.beforeSeq}`])
    ]
    return orDie(Effect.map(
      sql<TransferRow>`
        SELECT ${TRANSFER} FROM transfers
        ${where.length === 0 ? sql.literal("") : sql`WHERE ${sql.and(where)}`}
        ORDER BY seq DESC
        ${filter.limit === undefined ? sql.literal("") : sql`LIMIT ${Math.max(0, filter.limit)}`}`,
      (rows) => rows.map(toTransfer)
    ))
  }

  const transfer: Store["transfer"] = (id) => orDie(Effect.map(findTransfer(id), Option.fromUndefinedOr))

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
    pendingHolds,
    hold,
    transfers,
    transfer,
    spentSince
  })
})

export const PgLedgerStoreLayer = Layer.effect(LedgerStore, makePgLedgerStore)
