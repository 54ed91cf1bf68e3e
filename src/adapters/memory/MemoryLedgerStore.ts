import { Effect, Layer, Option } from "effect"
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
import { type AccountId, type HoldId, IssuanceAccount, RevenueAccount, type TransferId } from "../../domain/Ids.ts"
import { type Balance, type Hold, settleTransferId, type Transfer } from "../../domain/Ledger.ts"
import { LedgerStore } from "../../application/ports/LedgerStore.ts"

type Store = LedgerStore["Service"]

interface Account {
  posted: number
  pending: number
}

/**
 * The ledger in process memory. Each operation decides and writes inside one synchronous
 * block (`Effect.sync` / `Effect.suspend` with no yield in between), so no other fiber can
 * observe or change the state half-way: the same atomicity a row-locked transaction gives.
 */
export const makeMemoryLedgerStore = () => {
  const accounts = new Map<AccountId, Account>()
  const holds = new Map<HoldId, Hold>()
  const transfers = new Map<TransferId, Transfer>()
  const journal: Array<Transfer> = []
  const refunded = new Map<TransferId, number>()

  const account = (id: AccountId): Account => {
    let a = accounts.get(id)
    if (a === undefined) {
      a = { posted: 0, pending: 0 }
      accounts.set(id, a)
    }
    return a
  }

  const post = (t: Transfer): Transfer => {
    account(t.debit).posted -= t.amount
    account(t.credit).posted += t.amount
    transfers.set(t.id, t)
    journal.push(t)
    return t
  }

  const balanceOf = (id: AccountId): Balance => {
    const a = accounts.get(id) ?? { posted: 0, pending: 0 }
    return { account: id, posted: a.posted, pending: a.pending, available: a.posted - a.pending }
  }

  /** Settled minus refunded since `since`, plus what is still held. */
  const spent = (id: AccountId, since: number): number => {
    let total = accounts.get(id)?.pending ?? 0
    for (const t of journal) {
      if (t.at < since) continue
      if (t.kind === "settle" && t.debit === id) total += t.amount
      if (t.kind === "refund" && t.credit === id) total -= t.amount
    }
    return total
  }

  const resolveHold = (hold: Hold, status: Hold["status"], settled: number): Hold => {
    const next: Hold = { ...hold, status, settled }
    account(hold.account).pending -= hold.amount
    holds.set(hold.id, next)
    return next
  }

  return LedgerStore.of({
    grant: (input): ReturnType<Store["grant"]> =>
      Effect.suspend((): ReturnType<Store["grant"]> => {
        const existing = transfers.get(input.id)
        if (existing !== undefined) {
          return existing.kind === "grant" && existing.credit === input.account && existing.amount === input.amount
            ? Effect.succeed(existing)
            : Effect.fail(new IdempotencyConflict({ id: input.id, reason: "different_content" }))
        }
        return Effect.succeed(post({
          id: input.id,
          kind: "grant",
          debit: IssuanceAccount,
          credit: input.account,
          amount: input.amount,
          at: input.at,
          reason: input.reason
        }))
      }),

    reserve: (input): ReturnType<Store["reserve"]> =>
      Effect.suspend((): ReturnType<Store["reserve"]> => {
        const existing = holds.get(input.id)
        if (existing !== undefined) {
          return existing.account === input.account && existing.amount === input.amount
            ? Effect.succeed(existing)
            : Effect.fail(new IdempotencyConflict({ id: input.id, reason: "different_content" }))
        }
        const a = account(input.account)
        const available = a.posted - a.pending
        if (available < input.amount) {
          return Effect.fail(new InsufficientCredits({ account: input.account, required: input.amount, available }))
        }
        if (input.cap !== undefined) {
          const already = spent(input.account, input.cap.since)
          if (already + input.amount > input.cap.limit) {
            return Effect.fail(
              new MonthlyCapExceeded({ account: input.account, cap: input.cap.limit, spent: already, required: input.amount })
            )
          }
        }
        const hold: Hold = {
          id: input.id,
          account: input.account,
          amount: input.amount,
          status: "pending",
          settled: 0,
          createdAt: input.at,
          expiresAt: input.expiresAt
        }
        a.pending += input.amount
        holds.set(hold.id, hold)
        return Effect.succeed(hold)
      }),

    settle: (input): ReturnType<Store["settle"]> =>
      Effect.suspend((): ReturnType<Store["settle"]> => {
        const hold = holds.get(input.hold)
        if (hold === undefined) return Effect.fail(new HoldNotFound({ hold: input.hold }))
        if (hold.status === "settled") {
          return hold.settled === input.amount
            ? Effect.succeed({ hold, transfer: Option.fromUndefinedOr(transfers.get(settleTransferId(hold.id))) })
            : Effect.fail(new IdempotencyConflict({ id: input.hold, reason: "different_content" }))
        }
        if (hold.status !== "pending") return Effect.fail(new HoldAlreadyResolved({ hold: hold.id, status: hold.status }))
        if (input.amount > hold.amount) {
          return Effect.fail(new SettleExceedsHold({ hold: hold.id, reserved: hold.amount, requested: input.amount }))
        }
        const settled = resolveHold(hold, "settled", input.amount)
        const transfer = input.amount === 0 ? Option.none<Transfer>() : Option.some(post({
          id: settleTransferId(hold.id),
          kind: "settle",
          debit: hold.account,
          credit: RevenueAccount,
          amount: input.amount,
          at: input.at,
          reason: "image generation",
          hold: hold.id
        }))
        return Effect.succeed({ hold: settled, transfer })
      }),

    release: (input): ReturnType<Store["release"]> =>
      Effect.suspend((): ReturnType<Store["release"]> => {
        const hold = holds.get(input.hold)
        if (hold === undefined) return Effect.fail(new HoldNotFound({ hold: input.hold }))
        if (hold.status === "released" || hold.status === "expired") return Effect.succeed(hold)
        if (hold.status === "settled") return Effect.fail(new HoldAlreadyResolved({ hold: hold.id, status: hold.status }))
        return Effect.succeed(resolveHold(hold, "released", 0))
      }),

    refund: (input): ReturnType<Store["refund"]> =>
      Effect.suspend((): ReturnType<Store["refund"]> => {
        const existing = transfers.get(input.id)
        if (existing !== undefined) {
          return existing.kind === "refund" && existing.refundOf === input.transfer && existing.amount === input.amount
            ? Effect.succeed(existing)
            : Effect.fail(new IdempotencyConflict({ id: input.id, reason: "different_content" }))
        }
        const original = transfers.get(input.transfer)
        if (original === undefined || original.kind !== "settle") {
          return Effect.fail(new TransferNotFound({ transfer: input.transfer }))
        }
        const refundable = original.amount - (refunded.get(original.id) ?? 0)
        if (input.amount > refundable) {
          return Effect.fail(new RefundExceedsTransfer({ transfer: original.id, refundable, requested: input.amount }))
        }
        refunded.set(original.id, original.amount - refundable + input.amount)
        return Effect.succeed(post({
          id: input.id,
          kind: "refund",
          debit: RevenueAccount,
          credit: original.debit,
          amount: input.amount,
          at: input.at,
          reason: input.reason,
          refundOf: original.id
        }))
      }),

    expireHolds: (now) =>
      Effect.sync(() => {
        let count = 0
        for (const hold of holds.values()) {
          if (hold.status === "pending" && hold.expiresAt <= now) {
            resolveHold(hold, "expired", 0)
            count++
          }
        }
        return count
      }),

    balance: (id) => Effect.sync(() => balanceOf(id)),
    balances: Effect.sync(() => [...accounts.keys()].map(balanceOf)),
    hold: (id) => Effect.sync(() => Option.fromUndefinedOr(holds.get(id))),
    transfers: (filter) =>
      Effect.sync(() => {
        const out: Array<Transfer> = []
        for (let i = journal.length - 1; i >= 0 && out.length < (filter.limit ?? Infinity); i--) {
          const t = journal[i]!
          if (filter.account === undefined || t.debit === filter.account || t.credit === filter.account) out.push(t)
        }
        return out
      }),
    spentSince: (id, since) => Effect.sync(() => spent(id, since))
  })
}

export const MemoryLedgerStoreLayer = Layer.sync(LedgerStore, makeMemoryLedgerStore)
