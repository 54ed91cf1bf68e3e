import { Context, type Effect, type Option } from "effect"
import type {
  HoldAlreadyResolved,
  HoldNotFound,
  IdempotencyConflict,
  InsufficientCredits,
  MonthlyCapExceeded,
  RefundExceedsTransfer,
  SettleExceedsHold,
  TransferNotFound
} from "../../domain/Errors.ts"
import type { AccountId, HoldId, TransferId } from "../../domain/Ids.ts"
import type { Balance, Hold, MonthlyCap, Transfer } from "../../domain/Ledger.ts"
import type { StoredResponse } from "./IdempotencyStore.ts"
import type { UsageEvent } from "./UsageLog.ts"

/** The idempotency claim a settlement completes (see `LedgerStore.settle`). */
export interface SettlementCompletes {
  readonly scope: string
  readonly key: string
  readonly attempt: string
  readonly response: (balance: Balance) => StoredResponse
}

/**
 * The ledger's storage. Every operation is atomic on its own: an adapter decides and writes in
 * one indivisible step (one statement, or one transaction holding the row locks), so that
 * no interleaving can take an available balance below zero. Every operation is idempotent by
 * its id: an identical replay returns the first outcome; different content is a conflict.
 */
export class LedgerStore extends Context.Service<LedgerStore, {
  readonly grant: (input: {
    readonly id: TransferId
    readonly account: AccountId
    readonly amount: number
    readonly reason: string
    readonly at: number
  }) => Effect.Effect<Transfer, IdempotencyConflict>
  readonly reserve: (input: {
    readonly id: HoldId
    readonly account: AccountId
    readonly amount: number
    readonly at: number
    readonly expiresAt: number
    readonly cap?: MonthlyCap | undefined
  }) => Effect.Effect<Hold, InsufficientCredits | MonthlyCapExceeded | IdempotencyConflict>
  /**
   * Posts `amount` of the hold and releases the rest. `usage`, when given, is the generation's
   * usage event: written in the same atomic step as the settlement (the same transaction on a
   * database), once, when the settlement is made; an identical replay writes nothing. `balance`
   * is the payer's balance just after the settlement, read in the same step.
   *
   * `completes`, when given, is the request's idempotency claim: its record is completed with
   * `response(balance)` in the same atomic step. If `attempt` no longer holds the claim (it was
   * taken over), nothing is settled and the settlement fails with `IdempotencyConflict`
   * (`in_progress`): a request is never charged without its response being kept for a replay.
   */
  readonly settle: (input: {
    readonly hold: HoldId
    readonly amount: number
    readonly at: number
    readonly usage?: UsageEvent | undefined
    readonly completes?: SettlementCompletes | undefined
  }) => Effect.Effect<
    { readonly hold: Hold; readonly transfer: Option.Option<Transfer>; readonly balance: Balance },
    HoldNotFound | HoldAlreadyResolved | SettleExceedsHold | IdempotencyConflict
  >
  readonly release: (input: { readonly hold: HoldId; readonly at: number }) => Effect.Effect<
    Hold,
    HoldNotFound | HoldAlreadyResolved
  >
  readonly refund: (input: {
    readonly id: TransferId
    readonly transfer: TransferId
    readonly amount: number
    readonly reason: string
    readonly at: number
  }) => Effect.Effect<Transfer, TransferNotFound | RefundExceedsTransfer | IdempotencyConflict>
  /** Releases every pending hold whose expiry is at or before `now`; returns how many. */
  readonly expireHolds: (now: number) => Effect.Effect<number>
  readonly balance: (account: AccountId) => Effect.Effect<Balance>
  readonly balances: Effect.Effect<ReadonlyArray<Balance>>
  /** Every pending hold, on every account: how many, and the millicredits they hold. */
  readonly pendingHolds: Effect.Effect<{ readonly count: number; readonly amount: number }>
  readonly hold: (id: HoldId) => Effect.Effect<Option.Option<Hold>>
  /** Newest first; each carries its `seq`, the cursor for the next page (`beforeSeq`). */
  readonly transfers: (filter: {
    readonly account?: AccountId | undefined
    readonly limit?: number | undefined
    readonly beforeSeq?: number | undefined
  }) => Effect.Effect<ReadonlyArray<Transfer>>
  /** What the account has spent (settled, net of refunds) since `since`, plus its pending holds. */
  readonly transfer: (id: TransferId) => Effect.Effect<Option.Option<Transfer>>
  readonly spentSince: (account: AccountId, since: number) => Effect.Effect<number>
}>()("image-gateway/LedgerStore") {}
