import { Effect, Exit, Option } from "effect"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import { makeMemoryLedgerStore, type MemoryLedgerLimits } from "../../src/adapters/memory/MemoryLedgerStore.ts"
import type { AccountId, HoldId, TransferId } from "../../src/domain/Ids.ts"
import { settleTransferId, type Transfer } from "../../src/domain/Ledger.ts"
import { expectBalancesAsModelled } from "../properties/LedgerChecks.ts"

const ACCOUNTS = ["org_p", "org_q", "5b1e9c2a-3d4f-4a5b-8c6d-7e8f9a0b1c2d"] as ReadonlyArray<string> as ReadonlyArray<AccountId>
const T0 = Date.UTC(2030, 0, 1)
const DAY = 86_400_000
const LIMITS: MemoryLedgerLimits = { journal: 5, resolvedHolds: 3, resolvedHoldGraceMs: 2 * DAY }

/** Start of the calendar month (UTC) that `at` falls in. */
const monthOf = (at: number) => {
  const d = new Date(at)
  return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
}

interface ModelHold {
  readonly id: string
  readonly account: string
  readonly amount: number
  status: "pending" | "settled" | "released" | "expired"
  settled: number
  readonly expiresAt: number
}
interface ModelTransfer {
  readonly id: string
  readonly kind: "grant" | "settle" | "refund"
  readonly debit: string
  readonly credit: string
  readonly amount: number
  readonly at: number
  readonly refundOf?: string
  refunded: number
}

/**
 * The bounded ledger restated: the whole history (for exact balances and spending), and which
 * part of it the store is meant to keep — the newest `journal` entries; pending holds and the
 * newest `resolvedHolds` resolved ones (minus those a sweep found long expired); settlements by
 * id while their entry is in the journal; grants and refunds by id always.
 */
class Model {
  posted = new Map<string, number>()
  pending = new Map<string, number>()
  pendingHolds = new Map<string, ModelHold>()
  resolvedHolds = new Map<string, ModelHold>()
  history: Array<ModelTransfer> = []
  byId = new Map<string, ModelTransfer>() // grants and refunds
  readonly limits: MemoryLedgerLimits
  constructor(limits: MemoryLedgerLimits) {
    this.limits = limits
  }

  available(a: string) {
    return (this.posted.get(a) ?? 0) - (this.pending.get(a) ?? 0)
  }
  journal() {
    return this.history.slice(Math.max(0, this.history.length - this.limits.journal))
  }
  settlement(id: string) {
    return this.journal().filter((t) => t.kind === "settle" && t.id === id).at(-1)
  }
  hold(id: string) {
    return this.pendingHolds.get(id) ?? this.resolvedHolds.get(id)
  }
  post(t: Omit<ModelTransfer, "refunded">) {
    const transfer = { ...t, refunded: 0 }
    this.posted.set(t.debit, (this.posted.get(t.debit) ?? 0) - t.amount)
    this.posted.set(t.credit, (this.posted.get(t.credit) ?? 0) + t.amount)
    this.history.push(transfer)
    if (t.kind !== "settle") this.byId.set(t.id, transfer)
    return transfer
  }
  resolve(h: ModelHold, status: ModelHold["status"], settled: number) {
    h.status = status
    h.settled = settled
    this.pending.set(h.account, (this.pending.get(h.account) ?? 0) - h.amount)
    this.pendingHolds.delete(h.id)
    this.resolvedHolds.set(h.id, h)
    while (this.resolvedHolds.size > this.limits.resolvedHolds) this.resolvedHolds.delete(this.resolvedHolds.keys().next().value!)
  }
  /** Exactly what was spent since `since`: every settlement and refund ever, plus pending. */
  spent(a: string, since: number) {
    let total = this.pending.get(a) ?? 0
    for (const t of this.history) {
      if (t.at < since) continue
      if (t.kind === "settle" && t.debit === a) total += t.amount
      if (t.kind === "refund" && t.credit === a) total -= t.amount
    }
    return total
  }
}

type Op =
  | { readonly _tag: "grant"; readonly id: string; readonly account: AccountId; readonly amount: number }
  | { readonly _tag: "reserve"; readonly id: string; readonly account: AccountId; readonly amount: number; readonly ttl: number }
  | { readonly _tag: "settle"; readonly id: string; readonly amount: number }
  | { readonly _tag: "release"; readonly id: string }
  | { readonly _tag: "refund"; readonly id: string; readonly hold: string; readonly amount: number }
  | { readonly _tag: "sweep" }

const opArb: fc.Arbitrary<Op> = fc.oneof(
  fc.record({
    _tag: fc.constant("grant" as const),
    id: fc.integer({ min: 0, max: 5 }).map((i) => `g${i}`),
    account: fc.constantFrom(...ACCOUNTS),
    amount: fc.integer({ min: 1, max: 500 })
  }),
  {
    arbitrary: fc.record({
      _tag: fc.constant("reserve" as const),
      id: fc.integer({ min: 0, max: 7 }).map((i) => `h${i}`),
      account: fc.constantFrom(...ACCOUNTS),
      amount: fc.integer({ min: 1, max: 300 }),
      ttl: fc.constantFrom(-1, 3_600_000, 3 * DAY)
    }),
    weight: 4
  },
  {
    arbitrary: fc.record({
      _tag: fc.constant("settle" as const),
      id: fc.integer({ min: 0, max: 7 }).map((i) => `h${i}`),
      amount: fc.integer({ min: 0, max: 300 })
    }),
    weight: 3
  },
  fc.record({ _tag: fc.constant("release" as const), id: fc.integer({ min: 0, max: 7 }).map((i) => `h${i}`) }),
  {
    arbitrary: fc.record({
      _tag: fc.constant("refund" as const),
      id: fc.integer({ min: 0, max: 5 }).map((i) => `r${i}`),
      hold: fc.integer({ min: 0, max: 7 }).map((i) => `h${i}`),
      amount: fc.integer({ min: 1, max: 200 })
    }),
    weight: 2
  },
  fc.constant({ _tag: "sweep" as const })
)

/** What the model says an operation does at `at`: the error tag, or undefined for success. */
const expectOf = (m: Model, op: Op, at: number): string | undefined => {
  switch (op._tag) {
    case "grant": {
      const g = m.byId.get(op.id)
      if (g !== undefined) return g.kind === "grant" && g.credit === op.account && g.amount === op.amount ? undefined : "IdempotencyConflict"
      m.post({ id: op.id, kind: "grant", debit: "system:issuance", credit: op.account, amount: op.amount, at })
      return undefined
    }
    case "reserve": {
      const h = m.hold(op.id)
      if (h !== undefined) return h.account === op.account && h.amount === op.amount ? undefined : "IdempotencyConflict"
      if (m.available(op.account) < op.amount) return "InsufficientCredits"
      m.pendingHolds.set(op.id, { id: op.id, account: op.account, amount: op.amount, status: "pending", settled: 0, expiresAt: at + op.ttl })
      m.pending.set(op.account, (m.pending.get(op.account) ?? 0) + op.amount)
      return undefined
    }
    case "settle": {
      const h = m.hold(op.id)
      if (h === undefined) return "HoldNotFound"
      if (h.status === "settled") return h.settled === op.amount ? undefined : "IdempotencyConflict"
      if (h.status !== "pending") return "HoldAlreadyResolved"
      if (op.amount > h.amount) return "SettleExceedsHold"
      if (op.amount > 0) {
        m.post({ id: settleTransferId(op.id as HoldId), kind: "settle", debit: h.account, credit: "system:revenue", amount: op.amount, at })
      }
      m.resolve(h, "settled", op.amount)
      return undefined
    }
    case "release": {
      const h = m.hold(op.id)
      if (h === undefined) return "HoldNotFound"
      if (h.status === "settled") return "HoldAlreadyResolved"
      if (h.status === "pending") m.resolve(h, "released", 0)
      return undefined
    }
    case "refund": {
      const transfer = settleTransferId(op.hold as HoldId)
      const r = m.byId.get(op.id)
      if (r !== undefined) return r.kind === "refund" && r.refundOf === transfer && r.amount === op.amount ? undefined : "IdempotencyConflict"
      const s = m.settlement(transfer)
      if (s === undefined) return "TransferNotFound"
      if (op.amount > s.amount - s.refunded) return "RefundExceedsTransfer"
      s.refunded += op.amount
      m.post({ id: op.id, kind: "refund", debit: "system:revenue", credit: s.debit, amount: op.amount, at, refundOf: transfer })
      return undefined
    }
    case "sweep":
      for (const h of [...m.resolvedHolds.values()]) {
        if (h.expiresAt + m.limits.resolvedHoldGraceMs < at) m.resolvedHolds.delete(h.id)
      }
      for (const h of [...m.pendingHolds.values()]) if (h.expiresAt <= at) m.resolve(h, "expired", 0)
      return undefined
  }
}

const perform = (store: ReturnType<typeof makeMemoryLedgerStore>, op: Op, at: number): Effect.Effect<void, unknown> => {
  switch (op._tag) {
    case "grant":
      return Effect.asVoid(store.grant({ id: op.id as TransferId, account: op.account, amount: op.amount, reason: "test", at }))
    case "reserve":
      return Effect.asVoid(store.reserve({ id: op.id as HoldId, account: op.account, amount: op.amount, at, expiresAt: at + op.ttl }))
    case "settle":
      return Effect.asVoid(store.settle({ hold: op.id as HoldId, amount: op.amount, at }))
    case "release":
      return Effect.asVoid(store.release({ hold: op.id as HoldId, at }))
    case "refund":
      return Effect.asVoid(store.refund({ id: op.id as TransferId, transfer: settleTransferId(op.hold as HoldId), amount: op.amount, reason: "test", at }))
    case "sweep":
      return Effect.asVoid(store.expireHolds(at))
  }
}

describe("MemoryLedgerStore bounds", () => {
  it("keeps balances and monthly spending exact while it forgets history beyond its limits, exactly as a model of the bounds says", () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(opArb, fc.integer({ min: 0, max: 12 * DAY })), { minLength: 10, maxLength: 80 }),
        fc.array(fc.integer({ min: 0, max: 400 * DAY }), { minLength: 1, maxLength: 4 }),
        (ops, sinceOffsets) => {
          const store = makeMemoryLedgerStore(LIMITS)
          const model = new Model(LIMITS)
          let at = T0
          for (const account of ACCOUNTS) {
            const funding: Op = { _tag: "grant", id: `fund-${account}`, account, amount: 2_000 }
            expectOf(model, funding, at)
            Effect.runSync(perform(store, funding, at))
          }
          for (const [op, step] of ops) {
            at += step
            const expected = expectOf(model, op, at)
            const exit = Effect.runSyncExit(perform(store, op, at))
            const actual = Exit.isSuccess(exit) ? undefined : (exit.cause.reasons[0] as { error?: { _tag?: string } })?.error?._tag
            expect(actual, `${op._tag} ${JSON.stringify(op)}`).toBe(expected)

            // Balances are running totals: exact, never below zero for customers, summing to zero.
            expectBalancesAsModelled(Effect.runSync(store.balances), model)

            // The journal is the newest `journal` entries, newest first.
            const journal = Effect.runSync(store.transfers({}))
            expect(journal.map((t) => t.id)).toEqual(model.journal().map((t) => t.id).reverse())
            // Each entry keeps its place in the whole history as its seq, and pages of two, each
            // before the last seq of the one before, put the journal back together.
            const seqOf = (t: ModelTransfer) => model.history.indexOf(t) + 1
            expect(journal.map((t) => t.seq)).toEqual(model.journal().map(seqOf).reverse())
            const paged: Array<Transfer> = []
            let page = Effect.runSync(store.transfers({ limit: 2 }))
            while (page.length > 0) {
              paged.push(...page)
              page = Effect.runSync(store.transfers({ limit: 2, beforeSeq: page.at(-1)!.seq }))
            }
            expect(paged).toEqual(journal)
            // By id: grants and refunds always, settlements while in the journal, each with its seq.
            for (const id of new Set(model.history.map((t) => t.id))) {
              const known = model.byId.get(id) ?? model.settlement(id)
              expect(Option.map(Effect.runSync(store.transfer(id as TransferId)), (t) => t.seq), id).toEqual(
                known === undefined ? Option.none() : Option.some(seqOf(known))
              )
            }
            const retained = store.retained()
            expect(retained.journal).toBeLessThanOrEqual(LIMITS.journal)
            expect(retained.resolvedHolds).toBeLessThanOrEqual(LIMITS.resolvedHolds)
            expect(retained.resolvedHolds).toBe(model.resolvedHolds.size)
            expect(retained.pendingHolds).toBe(model.pendingHolds.size)
            // Known by id: grants and refunds, and the settlements still in the journal.
            const settlements = new Set(model.journal().filter((t) => t.kind === "settle").map((t) => t.id))
            expect(retained.transfersById).toBe(model.byId.size + settlements.size)
            expect(retained.refundedSettlements).toBeLessThanOrEqual(settlements.size)
          }

          // Every hold id: kept exactly when the model keeps it, with its status.
          for (let i = 0; i < 8; i++) {
            const held = Effect.runSync(store.hold(`h${i}` as HoldId))
            const h = model.hold(`h${i}`)
            expect(Option.map(held, (x) => [x.status, x.settled, x.amount])).toEqual(
              h === undefined ? Option.none() : Option.some([h.status, h.settled, h.amount])
            )
          }

          // Monthly spending: exact from whole months; inside a month, exact while the journal
          // still holds that part, the whole month otherwise.
          for (const account of ACCOUNTS) {
            for (const offset of sinceOffsets) {
              const month = monthOf(T0 + offset)
              expect(Effect.runSync(store.spentSince(account, month))).toBe(model.spent(account, month))
              const since = T0 + offset
              const kept = model.journal()
              const covered = model.history.length === kept.length ||
                model.history.slice(0, model.history.length - kept.length).every((t) => t.at < since)
              const expected = covered ? model.spent(account, since) : model.spent(account, month)
              expect(Effect.runSync(store.spentSince(account, since))).toBe(expected)
            }
          }
        }
      ),
      { numRuns: 1_000 }
    )
  })

  it("holds its defaults under 100,000 billed generations: journal, resolved holds and settlements by id stay at their limits", () => {
    const store = makeMemoryLedgerStore()
    const payer = "org_load" as AccountId
    Effect.runSync(store.grant({ id: "load-funding" as TransferId, account: payer, amount: 1e9, reason: "load", at: T0 }))
    for (let i = 0; i < 100_000; i++) {
      const hold = `hold_${i}` as HoldId
      Effect.runSync(store.reserve({ id: hold, account: payer, amount: 1_200, at: T0 + i, expiresAt: T0 + i + 600_000, cap: { limit: 1e12, since: T0 } }))
      Effect.runSync(store.settle({ hold, amount: 1_200, at: T0 + i }))
    }
    expect(store.retained()).toEqual({ journal: 10_000, pendingHolds: 0, resolvedHolds: 10_000, transfersById: 10_001, refundedSettlements: 0 })
    expect(Effect.runSync(store.balance(payer))).toEqual({ account: payer, posted: 1e9 - 1_200 * 100_000, pending: 0, available: 1e9 - 1_200 * 100_000 })
    expect(Effect.runSync(store.spentSince(payer, T0))).toBe(1_200 * 100_000)
    // The newest settlement can still be refunded; one that has left the journal cannot, and nothing moves.
    const newest = settleTransferId("hold_99999" as HoldId)
    expect(Effect.runSync(store.refund({ id: "r-new" as TransferId, transfer: newest, amount: 1_200, reason: "x", at: T0 + 1e6 })).amount).toBe(1_200)
    const gone = Effect.runSyncExit(store.refund({ id: "r-old" as TransferId, transfer: settleTransferId("hold_0" as HoldId), amount: 1, reason: "x", at: T0 + 1e6 }))
    expect(Exit.isFailure(gone) && (gone.cause.reasons[0] as { error?: { _tag?: string } }).error?._tag).toBe("TransferNotFound")
    expect(Effect.runSync(store.balance(payer)).posted).toBe(1e9 - 1_200 * 99_999)
    // The grant is still known by id: replaying it posts nothing.
    Effect.runSync(store.grant({ id: "load-funding" as TransferId, account: payer, amount: 1e9, reason: "load", at: T0 + 2e6 }))
    expect(Effect.runSync(store.balance(payer)).posted).toBe(1e9 - 1_200 * 99_999)
  })

  it("a hold id reserved again once forgotten is a new hold: its settlement is refundable in full", () => {
    const store = makeMemoryLedgerStore({ ...LIMITS, resolvedHolds: 1 })
    const payer = "org_reuse" as AccountId
    const h1 = "h1" as HoldId
    Effect.runSync(store.grant({ id: "g" as TransferId, account: payer, amount: 10_000, reason: "x", at: T0 }))
    Effect.runSync(store.reserve({ id: h1, account: payer, amount: 500, at: T0, expiresAt: T0 + DAY }))
    Effect.runSync(store.settle({ hold: h1, amount: 500, at: T0 }))
    Effect.runSync(store.refund({ id: "r1" as TransferId, transfer: settleTransferId(h1), amount: 400, reason: "x", at: T0 }))
    // Another resolved hold pushes h1 out; h1 is then unknown, and reserved afresh.
    Effect.runSync(store.reserve({ id: "h2" as HoldId, account: payer, amount: 1, at: T0, expiresAt: T0 + DAY }))
    Effect.runSync(store.release({ hold: "h2" as HoldId, at: T0 }))
    expect(Effect.runSync(store.hold(h1))).toEqual(Option.none())
    expect(Effect.runSync(store.reserve({ id: h1, account: payer, amount: 300, at: T0, expiresAt: T0 + DAY })).status).toBe("pending")
    Effect.runSync(store.settle({ hold: h1, amount: 300, at: T0 }))
    // The new settlement carries none of the first one's refunds.
    expect(Effect.runSync(store.refund({ id: "r2" as TransferId, transfer: settleTransferId(h1), amount: 300, reason: "x", at: T0 })).amount).toBe(300)
    expect(Effect.runSync(store.balance(payer)).posted).toBe(10_000 - 500 + 400 - 300 + 300)
  })

  it("a sweep forgets resolved holds long past their expiry, keeping those that just expired", () => {
    const store = makeMemoryLedgerStore({ ...LIMITS, resolvedHolds: 100 })
    const payer = "org_sweep" as AccountId
    Effect.runSync(store.grant({ id: "g" as TransferId, account: payer, amount: 10_000, reason: "x", at: T0 }))
    Effect.runSync(store.reserve({ id: "settled" as HoldId, account: payer, amount: 100, at: T0, expiresAt: T0 + 1_000 }))
    Effect.runSync(store.settle({ hold: "settled" as HoldId, amount: 100, at: T0 }))
    Effect.runSync(store.reserve({ id: "stale" as HoldId, account: payer, amount: 100, at: T0, expiresAt: T0 + 1_000 }))
    expect(Effect.runSync(store.expireHolds(T0 + 1_000))).toBe(1)
    // Just expired: still there, and a late settle is refused for what it is.
    expect(Option.map(Effect.runSync(store.hold("stale" as HoldId)), (h) => h.status)).toEqual(Option.some("expired"))
    expect(Effect.runSync(store.expireHolds(T0 + 1_000 + LIMITS.resolvedHoldGraceMs))).toBe(0)
    expect(store.retained().resolvedHolds).toBe(2)
    // Past the grace: both forgotten.
    expect(Effect.runSync(store.expireHolds(T0 + 1_001 + LIMITS.resolvedHoldGraceMs))).toBe(0)
    expect(store.retained().resolvedHolds).toBe(0)
    expect(Effect.runSync(store.hold("settled" as HoldId))).toEqual(Option.none())
    expect(Effect.runSync(store.balance(payer))).toEqual({ account: payer, posted: 9_900, pending: 0, available: 9_900 })
  })
})
