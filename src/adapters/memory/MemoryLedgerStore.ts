import { Context, Effect, Layer, Option } from "effect"
import { IdempotencyStore } from "../../application/ports/IdempotencyStore.ts"
import { makeMemoryIdempotencyStore } from "./MemoryIdempotencyStore.ts"
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
import { type UsageEvent, UsageLog } from "../../application/ports/UsageLog.ts"

type Store = LedgerStore["Service"]

/**
 * What the in-memory ledger keeps besides balances, so that a long `STORAGE=memory` run stays
 * bounded (PostgreSQL keeps everything). Balances, pending holds and monthly spending are running
 * totals and always exact; only history is dropped, oldest first.
 */
export interface MemoryLedgerLimits {
  /**
   * Journal entries kept, newest first (`transfers`, an account's history). A settlement that
   * has left the journal can no longer be refunded (`TransferNotFound`: nothing moves). Grants
   * and refunds (operator actions, not one per request) stay known by id, so that a replay of
   * one is never posted twice.
   */
  readonly journal: number
  /**
   * Resolved (settled, released, expired) holds kept for `hold` look-ups and idempotent replays
   * of settle and release, the most recently resolved. Pending holds are always kept.
   */
  readonly resolvedHolds: number
  /**
   * A sweep (`expireHolds(now)`) also forgets resolved holds whose expiry is more than this long
   * before `now`: by then the request that held one has long finished.
   */
  readonly resolvedHoldGraceMs: number
}

export const MEMORY_LEDGER_LIMITS: MemoryLedgerLimits = {
  journal: 10_000,
  resolvedHolds: 10_000,
  resolvedHoldGraceMs: 60 * 60_000
}

interface Account {
  posted: number
  pending: number
  /** Settled minus refunded, per calendar month (UTC, by the entry's time): what monthly caps read. */
  readonly monthly: Map<number, number>
}

/** A resolved hold, with the settlement it posted (kept with it for replays of settle). */
interface Resolved {
  readonly hold: Hold
  readonly transfer: Transfer | undefined
}

/** Start of the calendar month (UTC) that `at` falls in. */
const monthOf = (at: number): number => {
  const d = new Date(at)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
}

/** How much the in-memory ledger holds right now, for tests of its bounds. */
export interface MemoryLedgerRetained {
  readonly journal: number
  readonly pendingHolds: number
  readonly resolvedHolds: number
  /** Transfers known by id: settlements still in the journal, every grant and refund. */
  readonly transfersById: number
  readonly refundedSettlements: number
}

/**
 * The ledger in process memory. Each operation decides and writes inside one synchronous
 * block (`Effect.sync` / `Effect.suspend` with no yield in between), so no other fiber can
 * observe or change the state half-way: the same atomicity a row-locked transaction gives.
 * History is bounded by `limits` (see `MemoryLedgerLimits`); balances never depend on it.
 */
export const makeMemoryLedgerStore = (
  limits: MemoryLedgerLimits = MEMORY_LEDGER_LIMITS,
  /** Where a settlement's usage event goes (the memory usage log); a store without one refuses such settlements. */
  recordUsage?: (event: UsageEvent) => Effect.Effect<void>,
  /** The memory idempotency store's claims, which a settlement completes in the same step. */
  claims?: Pick<ReturnType<typeof makeMemoryIdempotencyStore>, "owns" | "completeNow">
) => {
  const accounts = new Map<AccountId, Account>()
  const pending = new Map<HoldId, Hold>()
  // In the order they were resolved: the first is the next to go.
  const resolved = new Map<HoldId, Resolved>()
  const transfers = new Map<TransferId, Transfer>()
  const refunded = new Map<TransferId, number>()
  // The journal: a ring of the newest `limits.journal` transfers.
  const journal: Array<Transfer> = []
  let next = 0 // where the next entry goes once the ring is full
  // The latest time of any entry that has left the journal: entries at or after a later time are all still there.
  let droppedUpTo = -Infinity
  // The last journal position given out: every transfer posted gets the next (`Transfer.seq`).
  let seq = 0

  const account = (id: AccountId): Account => {
    let a = accounts.get(id)
    if (a === undefined) {
      a = { posted: 0, pending: 0, monthly: new Map() }
      accounts.set(id, a)
    }
    return a
  }

  const spend = (id: AccountId, at: number, amount: number) => {
    const monthly = account(id).monthly
    const month = monthOf(at)
    monthly.set(month, (monthly.get(month) ?? 0) + amount)
  }

  const append = (t: Transfer) => {
    if (journal.length < limits.journal) {
      journal.push(t)
      return
    }
    if (limits.journal <= 0) return forget(t)
    const old = journal[next]!
    journal[next] = t
    next = (next + 1) % limits.journal
    forget(old)
  }

  /** A transfer leaves the journal: a settlement is no longer known by id (nor refundable). */
  const forget = (t: Transfer) => {
    if (t.at > droppedUpTo) droppedUpTo = t.at
    // Unless a later settlement took its id (its hold was forgotten, and the id reserved again).
    if (t.kind === "settle" && transfers.get(t.id) === t) {
      transfers.delete(t.id)
      refunded.delete(t.id)
    }
  }

  const post = (entry: Omit<Transfer, "seq">): Transfer => {
    const t: Transfer = { ...entry, seq: ++seq }
    account(t.debit).posted -= t.amount
    account(t.credit).posted += t.amount
    if (t.kind === "settle") {
      spend(t.debit, t.at, t.amount)
      refunded.delete(t.id)
    }
    if (t.kind === "refund") spend(t.credit, t.at, -t.amount)
    transfers.set(t.id, t)
    append(t)
    return t
  }

  const balanceOf = (id: AccountId): Balance => {
    const a = accounts.get(id)
    const posted = a?.posted ?? 0
    const held = a?.pending ?? 0
    return { account: id, posted, pending: held, available: posted - held }
  }

  /** Newest first. */
  const entries = function*(): Generator<Transfer> {
    for (let k = 1; k <= journal.length; k++) yield journal[(next - k + journal.length) % journal.length]!
  }

  /**
   * Settled minus refunded since `since`, plus what is still held. Whole months come from the
   * running monthly totals (exact whatever the journal still holds); a `since` inside a month
   * adds that month's part from the journal when it still holds every entry from `since` on,
   * and the whole month otherwise (never less than was spent: a cap errs towards refusing).
   */
  const spent = (id: AccountId, since: number): number => {
    const a = accounts.get(id)
    if (a === undefined) return 0
    let total = a.pending
    const first = monthOf(since)
    for (const [month, amount] of a.monthly) if (month > first) total += amount
    if (since === first || droppedUpTo >= since) return total + (a.monthly.get(first) ?? 0)
    for (const t of entries()) {
      if (t.at < since || monthOf(t.at) !== first) continue
      if (t.kind === "settle" && t.debit === id) total += t.amount
      if (t.kind === "refund" && t.credit === id) total -= t.amount
    }
    return total
  }

  const findHold = (id: HoldId): Hold | undefined => pending.get(id) ?? resolved.get(id)?.hold

  const resolve = (hold: Hold, status: Hold["status"], settled: number, transfer?: Transfer): Hold => {
    const next: Hold = { ...hold, status, settled }
    account(hold.account).pending -= hold.amount
    pending.delete(hold.id)
    resolved.set(hold.id, { hold: next, transfer })
    if (resolved.size > limits.resolvedHolds) {
      for (const id of resolved.keys()) {
        resolved.delete(id)
        if (resolved.size <= limits.resolvedHolds) break
      }
    }
    return next
  }

  const store = LedgerStore.of({
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
        const existing = findHold(input.id)
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
        pending.set(hold.id, hold)
        return Effect.succeed(hold)
      }),

    settle: (input): ReturnType<Store["settle"]> =>
      Effect.suspend((): ReturnType<Store["settle"]> => {
        const done = resolved.get(input.hold)
        if (done !== undefined) {
          const hold = done.hold
          if (hold.status !== "settled") return Effect.fail(new HoldAlreadyResolved({ hold: hold.id, status: hold.status }))
          return hold.settled === input.amount
            ? Effect.succeed({ hold, transfer: Option.fromUndefinedOr(done.transfer), balance: balanceOf(hold.account) })
            : Effect.fail(new IdempotencyConflict({ id: input.hold, reason: "different_content" }))
        }
        const hold = pending.get(input.hold)
        if (hold === undefined) return Effect.fail(new HoldNotFound({ hold: input.hold }))
        if (input.amount > hold.amount) {
          return Effect.fail(new SettleExceedsHold({ hold: hold.id, reserved: hold.amount, requested: input.amount }))
        }
        if (input.usage !== undefined && recordUsage === undefined) {
          return Effect.die(new Error("this memory ledger has no usage log to record a settlement's usage in"))
        }
        const completes = input.completes
        if (completes !== undefined) {
          if (claims === undefined) return Effect.die(new Error("this memory ledger has no idempotency store to complete"))
          if (!claims.owns(completes.scope, completes.key, completes.attempt)) {
            return Effect.fail(new IdempotencyConflict({ id: completes.key, reason: "in_progress" }))
          }
        }
        const transfer = input.amount === 0 ? undefined : post({
          id: settleTransferId(hold.id),
          kind: "settle",
          debit: hold.account,
          credit: RevenueAccount,
          amount: input.amount,
          at: input.at,
          reason: "image generation",
          hold: hold.id
        })
        const outcome = {
          hold: resolve(hold, "settled", input.amount, transfer),
          transfer: Option.fromUndefinedOr(transfer),
          balance: balanceOf(hold.account)
        }
        if (completes !== undefined) {
          claims!.completeNow({ ...completes, response: completes.response(outcome.balance) })
        }
        // Nothing can come between: the event is in the log in the same synchronous step.
        return input.usage === undefined ? Effect.succeed(outcome) : Effect.as(recordUsage!(input.usage), outcome)
      }),

    release: (input): ReturnType<Store["release"]> =>
      Effect.suspend((): ReturnType<Store["release"]> => {
        const hold = findHold(input.hold)
        if (hold === undefined) return Effect.fail(new HoldNotFound({ hold: input.hold }))
        if (hold.status === "released" || hold.status === "expired") return Effect.succeed(hold)
        if (hold.status === "settled") return Effect.fail(new HoldAlreadyResolved({ hold: hold.id, status: hold.status }))
        return Effect.succeed(resolve(hold, "released", 0))
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
        // Resolved holds long past their expiry first, so that those expired now are kept.
        for (const [id, { hold }] of resolved) {
          if (hold.expiresAt + limits.resolvedHoldGraceMs < now) resolved.delete(id)
        }
        let count = 0
        for (const hold of pending.values()) {
          if (hold.expiresAt <= now) {
            resolve(hold, "expired", 0)
            count++
          }
        }
        return count
      }),

    balance: (id) => Effect.sync(() => balanceOf(id)),
    balances: Effect.sync(() => [...accounts.keys()].map(balanceOf)),
    pendingHolds: Effect.sync(() => {
      let amount = 0
      for (const hold of pending.values()) amount += hold.amount
      return { count: pending.size, amount }
    }),
    hold: (id) => Effect.sync(() => Option.fromUndefinedOr(findHold(id))),
    transfers: (filter) =>
      Effect.sync(() => {
        const out: Array<Transfer> = []
        const limit = filter.limit ?? Infinity
        if (out.length >= limit) return out
        const before = filter.beforeSeq ?? Infinity
        // The journal is in seq order: newest first, the entries at or after the cursor come first.
        for (const t of entries()) {
          if (t.seq! >= before) continue
          if (filter.account === undefined || t.debit === filter.account || t.credit === filter.account) out.push(t)
          if (out.length >= limit) break
        }
        return out
      }),
    // Settlements while their entry is in the journal; grants and refunds always (see MemoryLedgerLimits).
    transfer: (id) => Effect.sync(() => Option.fromUndefinedOr(transfers.get(id))),
    spentSince: (id, since) => Effect.sync(() => spent(id, since))
  })

  const retained = (): MemoryLedgerRetained => ({
    journal: journal.length,
    pendingHolds: pending.size,
    resolvedHolds: resolved.size,
    transfersById: transfers.size,
    refundedSettlements: refunded.size
  })

  return Object.assign(store, { retained })
}

/**
 * The memory ledger and the memory idempotency store it completes claims of (`idempotency`, or
 * a new one), writing settlements' usage events into the memory usage log.
 */
export const memoryLedgerStoreLayer = (
  idempotency?: ReturnType<typeof makeMemoryIdempotencyStore>
): Layer.Layer<LedgerStore | IdempotencyStore, never, UsageLog> =>
  Layer.effectContext(
    Effect.gen(function*() {
      const usage = yield* UsageLog
      const claims = idempotency ?? makeMemoryIdempotencyStore()
      return Context.make(LedgerStore, makeMemoryLedgerStore(MEMORY_LEDGER_LIMITS, usage.record, claims)).pipe(
        Context.add(IdempotencyStore, claims)
      )
    })
  )
