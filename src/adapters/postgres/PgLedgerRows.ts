/** The ledger's table rows as PostgreSQL returns them, and their domain values. */
import type { AccountId, HoldId, TransferId } from "../../domain/Ids.ts"
import type { Balance, Hold, HoldStatus, Transfer, TransferKind } from "../../domain/Ledger.ts"

export interface HoldRow {
  readonly id: string
  readonly account: string
  readonly amount: number
  readonly status: HoldStatus
  readonly settled: number
  readonly created_at: number
  readonly expires_at: number
}

export interface TransferRow {
  readonly id: string
  readonly kind: TransferKind
  readonly debit: string
  readonly credit: string
  readonly amount: number
  readonly at: number
  readonly reason: string
  readonly hold: string | null
  readonly refund_of: string | null
  readonly seq: number
}

/** The columns of `HoldRow` and `TransferRow`, in that order. */
export const HOLD_COLUMNS = "id, account, amount, status, settled, created_at, expires_at"
export const TRANSFER_COLUMNS = "id, kind, debit, credit, amount, at, reason, hold, refund_of, seq"

export const toHold = (r: HoldRow): Hold => ({
  id: r.id as HoldId,
  account: r.account as AccountId,
  amount: r.amount,
  status: r.status,
  settled: r.settled,
  createdAt: r.created_at,
  expiresAt: r.expires_at
})

export const toTransfer = (r: TransferRow): Transfer => ({
  id: r.id as TransferId,
  kind: r.kind,
  debit: r.debit as AccountId,
  credit: r.credit as AccountId,
  amount: r.amount,
  at: r.at,
  reason: r.reason,
  ...(r.hold === null ? {} : { hold: r.hold as HoldId }),
  ...(r.refund_of === null ? {} : { refundOf: r.refund_of as TransferId }),
  seq: r.seq
})

export const balanceOf = (account: AccountId, posted: number, pending: number): Balance => ({
  account,
  posted,
  pending,
  available: posted - pending
})
