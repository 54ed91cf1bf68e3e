import { Effect, Option } from "effect"
import { describe, expect, it } from "vitest"
import { CreditLedger } from "../src/application/CreditLedger.ts"
import { LedgerStore } from "../src/application/ports/LedgerStore.ts"
import { type AccountId, type HoldId, IssuanceAccount, RevenueAccount, type TransferId } from "../src/domain/Ids.ts"
import { settleTransferId } from "../src/domain/Ledger.ts"
import type { AdapterSet } from "./support/AdapterSet.ts"
import { makeGateway } from "./support/Harness.ts"

const A = "8d3c2b1a-0f9e-4d8c-b7a6-958473625140" as AccountId
const B = "org_ledger_spec" as AccountId
const hold = (s: string) => s as HoldId
const tid = (s: string) => s as TransferId

const sumOfPosted = LedgerStore.use((s) => Effect.map(s.balances, (bs) => bs.reduce((sum, b) => sum + b.posted, 0)))

/** The ledger's operations and invariants (SPEC §5), on one adapter set. */
export const creditLedgerSuite = (adapters: AdapterSet) =>
  describe(`CreditLedger [${adapters.name}]`, () => {
    const run = <A2, E>(effect: Effect.Effect<A2, E, CreditLedger | LedgerStore>) =>
      Effect.runPromise(Effect.provide(effect, makeGateway(adapters).layer))

    it("grants credits from issuance, keeping the sum of all posted balances at zero", () =>
      run(Effect.gen(function*() {
        const ledger = yield* CreditLedger
        const t = yield* ledger.grant({ id: tid("g1"), account: A, amount: 5000, reason: "top-up" })
        expect(t).toMatchObject({ kind: "grant", debit: IssuanceAccount, credit: A, amount: 5000 })
        expect(yield* ledger.balance(A)).toEqual({ account: A, posted: 5000, pending: 0, available: 5000 })
        expect(yield* sumOfPosted).toBe(0)
      })))

    it("holds credits on reserve, lowering available but not posted", () =>
      run(Effect.gen(function*() {
        const ledger = yield* CreditLedger
        yield* ledger.grant({ id: tid("g1"), account: A, amount: 5000, reason: "top-up" })
        const h = yield* ledger.reserve({ id: hold("h1"), account: A, amount: 1200, ttlMs: 60_000 })
        expect(h).toMatchObject({ status: "pending", amount: 1200, settled: 0 })
        expect(yield* ledger.balance(A)).toEqual({ account: A, posted: 5000, pending: 1200, available: 3800 })
      })))

    it("refuses a reserve beyond the available balance, stating balance and cost", () =>
      run(Effect.gen(function*() {
        const ledger = yield* CreditLedger
        yield* ledger.grant({ id: tid("g1"), account: A, amount: 1000, reason: "top-up" })
        yield* ledger.reserve({ id: hold("h1"), account: A, amount: 600, ttlMs: 60_000 })
        const e = yield* Effect.flip(ledger.reserve({ id: hold("h2"), account: A, amount: 401, ttlMs: 60_000 }))
        expect(e).toMatchObject({ _tag: "InsufficientCredits", account: A, required: 401, available: 400 })
        const exact = yield* ledger.reserve({ id: hold("h3"), account: A, amount: 400, ttlMs: 60_000 })
        expect(exact.status).toBe("pending")
        expect((yield* ledger.balance(A)).available).toBe(0)
        const none = yield* Effect.flip(ledger.reserve({ id: hold("h4"), account: B, amount: 1, ttlMs: 60_000 }))
        expect(none).toMatchObject({ _tag: "InsufficientCredits", available: 0 })
      })))

    it("settles part of a hold to revenue and releases the rest", () =>
      run(Effect.gen(function*() {
        const ledger = yield* CreditLedger
        yield* ledger.grant({ id: tid("g1"), account: A, amount: 1000, reason: "top-up" })
        yield* ledger.reserve({ id: hold("h1"), account: A, amount: 600, ttlMs: 60_000 })
        const { hold: h, transfer } = yield* ledger.settle(hold("h1"), 250)
        expect(h).toMatchObject({ status: "settled", settled: 250 })
        expect(Option.getOrThrow(transfer)).toMatchObject({ kind: "settle", debit: A, credit: RevenueAccount, amount: 250 })
        expect(yield* ledger.balance(A)).toEqual({ account: A, posted: 750, pending: 0, available: 750 })
        expect((yield* ledger.balance(RevenueAccount)).posted).toBe(250)
        expect(yield* sumOfPosted).toBe(0)
      })))

    it("never settles more than was reserved", () =>
      run(Effect.gen(function*() {
        const ledger = yield* CreditLedger
        yield* ledger.grant({ id: tid("g1"), account: A, amount: 1000, reason: "top-up" })
        yield* ledger.reserve({ id: hold("h1"), account: A, amount: 600, ttlMs: 60_000 })
        const e = yield* Effect.flip(ledger.settle(hold("h1"), 601))
        expect(e).toMatchObject({ _tag: "SettleExceedsHold", reserved: 600, requested: 601 })
        expect((yield* ledger.balance(A)).pending).toBe(600)
      })))

    it("releases a hold, returning the credits to available", () =>
      run(Effect.gen(function*() {
        const ledger = yield* CreditLedger
        yield* ledger.grant({ id: tid("g1"), account: A, amount: 1000, reason: "top-up" })
        yield* ledger.reserve({ id: hold("h1"), account: A, amount: 600, ttlMs: 60_000 })
        expect((yield* ledger.release(hold("h1"))).status).toBe("released")
        expect(yield* ledger.balance(A)).toEqual({ account: A, posted: 1000, pending: 0, available: 1000 })
        expect(yield* ledger.history(A)).toHaveLength(1)
      })))

    it("resolves a hold at most once", () =>
      run(Effect.gen(function*() {
        const ledger = yield* CreditLedger
        yield* ledger.grant({ id: tid("g1"), account: A, amount: 1000, reason: "top-up" })
        yield* ledger.reserve({ id: hold("h1"), account: A, amount: 600, ttlMs: 60_000 })
        yield* ledger.settle(hold("h1"), 600)
        expect(yield* Effect.flip(ledger.release(hold("h1")))).toMatchObject({ _tag: "HoldAlreadyResolved", status: "settled" })
        yield* ledger.reserve({ id: hold("h2"), account: A, amount: 100, ttlMs: 60_000 })
        yield* ledger.release(hold("h2"))
        expect(yield* Effect.flip(ledger.settle(hold("h2"), 100))).toMatchObject({ _tag: "HoldAlreadyResolved", status: "released" })
        expect(yield* Effect.flip(ledger.settle(hold("nope"), 1))).toMatchObject({ _tag: "HoldNotFound" })
        expect((yield* ledger.balance(A)).posted).toBe(400)
      })))

    it("answers a repeated release with the first outcome: a released hold stays released, a settled one is refused, and nothing moves", () =>
      run(Effect.gen(function*() {
        const ledger = yield* CreditLedger
        yield* ledger.grant({ id: tid("g1"), account: A, amount: 1000, reason: "top-up" })
        yield* ledger.reserve({ id: hold("h1"), account: A, amount: 600, ttlMs: 60_000 })
        yield* ledger.reserve({ id: hold("h2"), account: A, amount: 300, ttlMs: 60_000 })
        const released = yield* ledger.release(hold("h1"))
        expect(released).toMatchObject({ id: "h1", status: "released", amount: 600, settled: 0 })
        yield* ledger.settle(hold("h2"), 200)
        const snapshot = Effect.all({
          balance: ledger.balance(A),
          revenue: ledger.balance(RevenueAccount),
          history: ledger.history(A),
          balances: LedgerStore.use((s) => s.balances)
        })
        const before = yield* snapshot
        expect(before.balance).toEqual({ account: A, posted: 800, pending: 0, available: 800 })
        for (let i = 0; i < 2; i++) {
          // An identical replay returns the first outcome (LedgerStore: idempotent by id).
          expect(yield* ledger.release(hold("h1"))).toEqual(released)
          expect(yield* LedgerStore.use((s) => s.hold(hold("h1")))).toEqual(Option.some(released))
          // A settled hold is resolved: releasing it is refused, every time.
          expect(yield* Effect.flip(ledger.release(hold("h2")))).toMatchObject({ _tag: "HoldAlreadyResolved", hold: "h2", status: "settled" })
          expect(yield* LedgerStore.use((s) => s.hold(hold("h2")))).toEqual(Option.some(expect.objectContaining({ status: "settled", settled: 200 })))
          expect(yield* snapshot).toEqual(before)
        }
        // Concurrent releases of one pending hold: all answer released, the credits return once.
        yield* ledger.reserve({ id: hold("h3"), account: A, amount: 800, ttlMs: 60_000 })
        const all = yield* Effect.all(Array.from({ length: 5 }, () => ledger.release(hold("h3"))), { concurrency: "unbounded" })
        expect(all.map((h) => h.status)).toEqual(Array(5).fill("released"))
        expect(yield* ledger.balance(A)).toEqual({ account: A, posted: 800, pending: 0, available: 800 })
        expect(yield* sumOfPosted).toBe(0)
      })))

    it("treats an identical replay of any operation as ok, and different content as a conflict", () =>
      run(Effect.gen(function*() {
        const ledger = yield* CreditLedger
        const g = yield* ledger.grant({ id: tid("g1"), account: A, amount: 1000, reason: "top-up" })
        expect(yield* ledger.grant({ id: tid("g1"), account: A, amount: 1000, reason: "top-up" })).toEqual(g)
        expect(yield* Effect.flip(ledger.grant({ id: tid("g1"), account: A, amount: 999, reason: "top-up" })))
          .toMatchObject({ _tag: "IdempotencyConflict", reason: "different_content" })
        const h = yield* ledger.reserve({ id: hold("h1"), account: A, amount: 300, ttlMs: 60_000 })
        expect(yield* ledger.reserve({ id: hold("h1"), account: A, amount: 300, ttlMs: 60_000 })).toEqual(h)
        expect(yield* Effect.flip(ledger.reserve({ id: hold("h1"), account: A, amount: 301, ttlMs: 60_000 })))
          .toMatchObject({ _tag: "IdempotencyConflict" })
        const s = yield* ledger.settle(hold("h1"), 200)
        expect(yield* ledger.settle(hold("h1"), 200)).toEqual(s)
        expect(yield* Effect.flip(ledger.settle(hold("h1"), 100))).toMatchObject({ _tag: "IdempotencyConflict" })
        const r = yield* ledger.refund({ id: tid("r1"), transfer: settleTransferId(hold("h1")), amount: 50, reason: "bad image" })
        expect(yield* ledger.refund({ id: tid("r1"), transfer: settleTransferId(hold("h1")), amount: 50, reason: "bad image" })).toEqual(r)
        expect(yield* Effect.flip(ledger.refund({ id: tid("r1"), transfer: settleTransferId(hold("h1")), amount: 60, reason: "x" })))
          .toMatchObject({ _tag: "IdempotencyConflict" })
        expect(yield* ledger.balance(A)).toEqual({ account: A, posted: 850, pending: 0, available: 850 })
        expect(yield* sumOfPosted).toBe(0)
      })))

    it("refunds a settlement with a reversing entry, never more than was settled", () =>
      run(Effect.gen(function*() {
        const ledger = yield* CreditLedger
        yield* ledger.grant({ id: tid("g1"), account: A, amount: 1000, reason: "top-up" })
        yield* ledger.reserve({ id: hold("h1"), account: A, amount: 400, ttlMs: 60_000 })
        yield* ledger.settle(hold("h1"), 400)
        const settle = settleTransferId(hold("h1"))
        const r = yield* ledger.refund({ id: tid("r1"), transfer: settle, amount: 300, reason: "operator" })
        expect(r).toMatchObject({ kind: "refund", debit: RevenueAccount, credit: A, amount: 300, refundOf: settle })
        expect(yield* Effect.flip(ledger.refund({ id: tid("r2"), transfer: settle, amount: 101, reason: "again" })))
          .toMatchObject({ _tag: "RefundExceedsTransfer", refundable: 100 })
        yield* ledger.refund({ id: tid("r3"), transfer: settle, amount: 100, reason: "rest" })
        expect(yield* Effect.flip(ledger.refund({ id: tid("r4"), transfer: tid("g1"), amount: 1, reason: "grant" })))
          .toMatchObject({ _tag: "TransferNotFound" })
        expect((yield* ledger.balance(A)).posted).toBe(1000)
        expect(yield* sumOfPosted).toBe(0)
      })))

    it("releases expired holds in a sweep, exactly once, and refuses to settle them", () =>
      run(Effect.gen(function*() {
        const ledger = yield* CreditLedger
        yield* ledger.grant({ id: tid("g1"), account: A, amount: 1000, reason: "top-up" })
        yield* ledger.reserve({ id: hold("old"), account: A, amount: 300, ttlMs: -1 })
        yield* ledger.reserve({ id: hold("new"), account: A, amount: 200, ttlMs: 60_000 })
        const swept = yield* Effect.all([ledger.sweep, ledger.sweep, ledger.sweep], { concurrency: "unbounded" })
        expect(swept.reduce((a, b) => a + b, 0)).toBe(1)
        expect(yield* ledger.balance(A)).toEqual({ account: A, posted: 1000, pending: 200, available: 800 })
        expect(yield* Effect.flip(ledger.settle(hold("old"), 300))).toMatchObject({ _tag: "HoldAlreadyResolved", status: "expired" })
        expect((yield* ledger.release(hold("old"))).status).toBe("expired")
      })))

    it("rejects amounts that are not positive whole millicredits", () =>
      run(Effect.gen(function*() {
        const ledger = yield* CreditLedger
        for (const amount of [0, -5, 1.5, Number.NaN, 2 ** 60]) {
          expect(yield* Effect.flip(ledger.grant({ id: tid(`g${amount}`), account: A, amount, reason: "x" })))
            .toMatchObject({ _tag: "InvalidAmount" })
        }
        expect(yield* LedgerStore.use((s) => s.balances)).toEqual([])
      })))

    it("enforces a monthly cap on what an account spends, holds included", () =>
      run(Effect.gen(function*() {
        const ledger = yield* CreditLedger
        yield* ledger.grant({ id: tid("g1"), account: A, amount: 10_000, reason: "top-up" })
        yield* ledger.reserve({ id: hold("h1"), account: A, amount: 600, ttlMs: 60_000, monthlyCap: 1000 })
        yield* ledger.settle(hold("h1"), 600)
        yield* ledger.reserve({ id: hold("h2"), account: A, amount: 300, ttlMs: 60_000, monthlyCap: 1000 })
        const e = yield* Effect.flip(ledger.reserve({ id: hold("h3"), account: A, amount: 101, ttlMs: 60_000, monthlyCap: 1000 }))
        expect(e).toMatchObject({ _tag: "MonthlyCapExceeded", cap: 1000, spent: 900, required: 101 })
        expect(yield* ledger.spentThisMonth(A)).toBe(900)
      })))

    it("lets 1,000 concurrent reserves on a payer funded for exactly K holds succeed exactly K times", () =>
      run(Effect.gen(function*() {
        const ledger = yield* CreditLedger
        const K = 137
        yield* ledger.grant({ id: tid("g1"), account: A, amount: K * 7, reason: "top-up" })
        const results = yield* Effect.all(
          Array.from({ length: 1000 }, (_, i) =>
            Effect.result(ledger.reserve({ id: hold(`c${i}`), account: A, amount: 7, ttlMs: 60_000 }))),
          { concurrency: "unbounded" }
        )
        const ok = results.filter((r) => r._tag === "Success").length
        const insufficient = results.filter((r) => r._tag === "Failure" && r.failure._tag === "InsufficientCredits").length
        expect(ok).toBe(K)
        expect(insufficient).toBe(1000 - K)
        expect(yield* ledger.balance(A)).toEqual({ account: A, posted: K * 7, pending: K * 7, available: 0 })
        expect(yield* sumOfPosted).toBe(0)
      })))
  })
