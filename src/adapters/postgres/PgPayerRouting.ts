/**
 * Which batch of the ledger's group commit an item joins. A payer's items share one of a few
 * process-wide stripes, whose statements skip rows locked elsewhere; a payer contended by
 * another process gets a lane of its own, whose statements wait for its row lock. A settlement
 * finds its payer through the holds this process made.
 */
import { Effect } from "effect"
import type { SqlError } from "effect/sql/SqlError"
import type { AccountId, HoldId } from "../../domain/Ids.ts"
import { makeGroupCommit } from "./GroupCommit.ts"
import { batchIdentity, type BatchItem, type BatchOutcome, MAX_BATCH, type RunBatch } from "./PgLedgerBatch.ts"

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

/** This process's stripes and payer lanes, each running its batches with `runBatch`. */
export const makePayerRouting = (runBatch: RunBatch) => {
  /** The process-wide batches: a few stripes, so that several statements can be in flight. */
  const stripes = makeGroupCommit<number, BatchItem, BatchOutcome, SqlError>({
    maxBatch: MAX_BATCH,
    identity: batchIdentity,
    run: (_, items) => runBatch(true, items)
  })

  /** A contended payer's own batches, which wait for its row lock (as single statements would). */
  const payerLanes = makeGroupCommit<AccountId, BatchItem, BatchOutcome, SqlError>({
    maxBatch: MAX_BATCH,
    identity: batchIdentity,
    run: (_, items) => runBatch(false, items)
  })

  /**
   * A payer's items share a stripe, so that its reserves and settlements meet in one statement
   * rather than skip each other; while the payer has a lane of its own, they go there.
   */
  const enqueue = (account: AccountId | undefined, route: string, item: BatchItem) => {
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

  return {
    /** Into its payer's stripe or lane: a settlement's payer is its hold's, if this process made the hold. */
    submit: (item: BatchItem): Effect.Effect<BatchOutcome, SqlError> =>
      item._tag === "reserve"
        ? enqueue(item.account, item.account, item)
        : enqueue(holdAccounts.get(item.hold), item.hold, item),
    remember,
    /** The hold is resolved: its settlement needs no route. */
    forget: (hold: HoldId) => {
      holdAccounts.delete(hold)
    }
  }
}
