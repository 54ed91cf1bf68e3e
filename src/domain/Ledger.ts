import type { AccountId, HoldId, TransferId } from "./Ids.ts"

export type HoldStatus = "pending" | "settled" | "released" | "expired"

/** A pending two-phase transfer from a payer, resolved at most once. */
export interface Hold {
  readonly id: HoldId
  readonly account: AccountId
  readonly amount: number
  readonly status: HoldStatus
  /** What was posted when the hold was settled; 0 otherwise. */
  readonly settled: number
  readonly createdAt: number
  readonly expiresAt: number
}

export type TransferKind = "grant" | "settle" | "refund"

/** An immutable, balanced journal record: `amount` moves from `debit` to `credit`. */
export interface Transfer {
  readonly id: TransferId
  readonly kind: TransferKind
  readonly debit: AccountId
  readonly credit: AccountId
  readonly amount: number
  readonly at: number
  readonly reason: string
  readonly hold?: HoldId | undefined
  readonly refundOf?: TransferId | undefined
  /** The journal's order (set by the store); pages of history are cut at it. */
  readonly seq?: number | undefined
}

/** `posted` is credits minus debits; `available = posted − pending`. */
export interface Balance {
  readonly account: AccountId
  readonly posted: number
  readonly pending: number
  readonly available: number
}

export interface MonthlyCap {
  readonly limit: number
  /** Start of the period the cap applies to (epoch ms). */
  readonly since: number
}

export const settleTransferId = (hold: HoldId): TransferId => `settle:${hold}` as TransferId
