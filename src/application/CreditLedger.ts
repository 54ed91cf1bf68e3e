import { Clock, Context, Effect, Layer, type Option } from "effect"
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
import type { Balance, Hold, MonthlyCap, Transfer } from "../domain/Ledger.ts"
import { LedgerStore } from "./ports/LedgerStore.ts"

const positive = (amount: number) =>
  Number.isSafeInteger(amount) && amount > 0 ? Effect.void : Effect.fail(new InvalidAmount({ amount }))

const nonNegative = (amount: number) =>
  Number.isSafeInteger(amount) && amount >= 0 ? Effect.void : Effect.fail(new InvalidAmount({ amount }))

/** Start of the calendar month (UTC) that `now` falls in: the period monthly caps apply to. */
export const monthStart = (now: number): number => {
  const d = new Date(now)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
}

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
  /** Posts `amount` (≤ the hold) from the payer to revenue; the rest of the hold is released. */
  readonly settle: (hold: HoldId, amount: number) => Effect.Effect<
    { readonly hold: Hold; readonly transfer: Option.Option<Transfer> },
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
  readonly history: (account: AccountId, limit?: number) => Effect.Effect<ReadonlyArray<Transfer>>
  readonly spentThisMonth: (account: AccountId) => Effect.Effect<number>
}>()("image-gateway/CreditLedger") {
  static readonly layer: Layer.Layer<CreditLedger, never, LedgerStore> = Layer.effect(
    CreditLedger,
    Effect.gen(function*() {
      const store = yield* LedgerStore
      // Untraced, as in PrincipalResolver: reserve and settle run on every billed generation,
      // inside the span of `ImageGeneration.generate`.
      return CreditLedger.of({
        grant: Effect.fnUntraced(function*(input) {
          yield* positive(input.amount)
          return yield* store.grant({ ...input, at: yield* Clock.currentTimeMillis })
        }),
        reserve: Effect.fnUntraced(function*(input) {
          yield* positive(input.amount)
          const at = yield* Clock.currentTimeMillis
          const cap: MonthlyCap | undefined = input.monthlyCap === undefined
            ? undefined
            : { limit: input.monthlyCap, since: monthStart(at) }
          return yield* store.reserve({
            id: input.id,
            account: input.account,
            amount: input.amount,
            at,
            expiresAt: at + input.ttlMs,
            cap
          })
        }),
        settle: Effect.fnUntraced(function*(hold, amount) {
          yield* nonNegative(amount)
          return yield* store.settle({ hold, amount, at: yield* Clock.currentTimeMillis })
        }),
        release: Effect.fnUntraced(function*(hold) {
          return yield* store.release({ hold, at: yield* Clock.currentTimeMillis })
        }),
        refund: Effect.fnUntraced(function*(input) {
          yield* positive(input.amount)
          return yield* store.refund({ ...input, at: yield* Clock.currentTimeMillis })
        }),
        sweep: Effect.flatMap(Clock.currentTimeMillis, store.expireHolds),
        balance: store.balance,
        history: (account, limit) => store.transfers({ account, limit }),
        spentThisMonth: (account) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => store.spentSince(account, monthStart(now)))
      })
    })
  )
}
