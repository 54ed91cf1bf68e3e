import { Clock, Context, Effect, Layer, type Option, References } from "effect"
import {
  type HoldAlreadyResolved,
  type HoldNotFound,
  type IdempotencyConflict,
  type InsufficientCredits,
  InvalidAmount,
  type MonthlyCapExceeded,
  type RefundExceedsTransfer,
  type SettleExceedsHold,
  type TransferNotFound
} from "../domain/Errors.ts"
import type { AccountId, HoldId, TransferId } from "../domain/Ids.ts"
import type { Balance, Hold, Transfer } from "../domain/Ledger.ts"
import { LedgerStore, type SettlementCompletes } from "./ports/LedgerStore.ts"
import type { UsageEvent } from "./ports/UsageLog.ts"

const isPositive = (amount: number) => Number.isSafeInteger(amount) && amount > 0
const isNonNegative = (amount: number) => Number.isSafeInteger(amount) && amount >= 0

/** `operation` at the current time when `amount` is valid, `InvalidAmount` otherwise. */
const ifValid = <A, E>(
  valid: boolean,
  amount: number,
  operation: (at: number) => Effect.Effect<A, E>
): Effect.Effect<A, E | InvalidAmount> =>
  valid ? Effect.flatMap(Clock.currentTimeMillis, operation) : Effect.fail(new InvalidAmount({ amount }))

/** Start of the calendar month (UTC) that `now` falls in: the period monthly caps apply to. */
export const monthStart = (now: number): number => {
  const d = new Date(now)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
}

/**
 * `ledger` with a span around each operation of a generation: the hold, its amount and payer; no
 * secrets. No stack is captured for these spans (an Error per call): their names say where they are.
 */
const withSpans = (ledger: CreditLedger["Service"]): CreditLedger["Service"] => ({
  ...ledger,
  reserve: (input) =>
    Effect.withSpan(ledger.reserve(input), "CreditLedger.reserve", {
      captureStackTrace: false,
      attributes: { "ledger.hold": input.id, "ledger.account": input.account, "ledger.amount_millicredits": input.amount }
    }),
  settle: (hold, amount, along) =>
    Effect.withSpan(ledger.settle(hold, amount, along), "CreditLedger.settle", {
      captureStackTrace: false,
      attributes: { "ledger.hold": hold, "ledger.amount_millicredits": amount }
    }),
  release: (hold) => Effect.withSpan(ledger.release(hold), "CreditLedger.release", {
    captureStackTrace: false,
    attributes: { "ledger.hold": hold }
  })
})

/**
 * The prepaid credit ledger: double-entry transfers between accounts, with two-phase holds.
 * Amounts are whole millicredits; every operation is idempotent by its id.
 */
export class CreditLedger extends Context.Service<CreditLedger, {
  readonly grant: (input: {
    readonly id: TransferId
    readonly account: AccountId
    readonly amount: number
    readonly reason: string
  }) => Effect.Effect<Transfer, InvalidAmount | IdempotencyConflict>
  readonly reserve: (input: {
    readonly id: HoldId
    readonly account: AccountId
    readonly amount: number
    readonly ttlMs: number
    readonly monthlyCap?: number | undefined
  }) => Effect.Effect<Hold, InvalidAmount | InsufficientCredits | MonthlyCapExceeded | IdempotencyConflict>
  /**
   * Posts `amount` (≤ the hold) from the payer to revenue; the rest of the hold is released.
   * `usage` is written, and `completes` (an idempotency claim) completed, with the settlement,
   * atomically (see `LedgerStore.settle`); the answer carries the payer's balance just after it.
   */
  readonly settle: (
    hold: HoldId,
    amount: number,
    along?: { readonly usage?: UsageEvent | undefined; readonly completes?: SettlementCompletes | undefined }
  ) => Effect.Effect<
    { readonly hold: Hold; readonly transfer: Option.Option<Transfer>; readonly balance: Balance },
    InvalidAmount | HoldNotFound | HoldAlreadyResolved | SettleExceedsHold | IdempotencyConflict
  >
  readonly release: (hold: HoldId) => Effect.Effect<Hold, HoldNotFound | HoldAlreadyResolved>
  readonly refund: (input: {
    readonly id: TransferId
    readonly transfer: TransferId
    readonly amount: number
    readonly reason: string
  }) => Effect.Effect<Transfer, InvalidAmount | TransferNotFound | RefundExceedsTransfer | IdempotencyConflict>
  /** Releases holds past their expiry; safe to run anywhere, any number of times. */
  readonly sweep: Effect.Effect<number>
  readonly balance: (account: AccountId) => Effect.Effect<Balance>
  /** Newest first; `beforeSeq` continues after the previous page's last entry. */
  readonly history: (account: AccountId, limit?: number, beforeSeq?: number) => Effect.Effect<ReadonlyArray<Transfer>>
  readonly transfer: (id: TransferId) => Effect.Effect<Option.Option<Transfer>>
  readonly spentThisMonth: (account: AccountId) => Effect.Effect<number>
}>()("image-gateway/CreditLedger") {
  static readonly layer: Layer.Layer<CreditLedger, never, LedgerStore> = Layer.effect(
    CreditLedger,
    Effect.gen(function*() {
      const store = yield* LedgerStore
      // Plain combinators rather than generators: reserve and settle run on every billed
      // generation, inside the span of `ImageGeneration.generate`.
      const ledger = CreditLedger.of({
        grant: (input) => ifValid(isPositive(input.amount), input.amount, (at) => store.grant({ ...input, at })),
        reserve: (input) =>
          ifValid(isPositive(input.amount), input.amount, (at) =>
            store.reserve({
              id: input.id,
              account: input.account,
              amount: input.amount,
              at,
              expiresAt: at + input.ttlMs,
              cap: input.monthlyCap === undefined ? undefined : { limit: input.monthlyCap, since: monthStart(at) }
            })),
        settle: (hold, amount, along) =>
          ifValid(isNonNegative(amount), amount, (at) =>
            store.settle({ hold, amount, at, usage: along?.usage, completes: along?.completes })),
        release: (hold) => Effect.flatMap(Clock.currentTimeMillis, (at) => store.release({ hold, at })),
        refund: (input) => ifValid(isPositive(input.amount), input.amount, (at) => store.refund({ ...input, at })),
        sweep: Effect.flatMap(Clock.currentTimeMillis, store.expireHolds),
        balance: store.balance,
        history: (account, limit, beforeSeq) => store.transfers({ account, limit, beforeSeq }),
        transfer: store.transfer,
        spentThisMonth: (account) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => store.spentSince(account, monthStart(now)))
      })
      // With a tracer on, the operations of a generation get spans of their own (decided once:
      // off, nothing is added to any call).
      return (yield* References.TracerEnabled) ? withSpans(ledger) : ledger
    })
  )
}
