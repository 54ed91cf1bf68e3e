import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { LedgerStore } from "../../src/application/ports/LedgerStore.ts"
import { type UsageEvent, UsageLog } from "../../src/application/ports/UsageLog.ts"
import { IdempotencyStore } from "../../src/application/ports/IdempotencyStore.ts"
import type { AccountId, HoldId, TransferId } from "../../src/domain/Ids.ts"
import { settleTransferId, type Transfer } from "../../src/domain/Ledger.ts"
import { type PortAdapter, portTest } from "./PortAdapter.ts"

/** Epoch ms in 2100: beyond 32 bits. */
const T0 = 4_102_444_800_000
const alice = "7a6bfd31-0120-4a30-9e21-0fc3b8006579" as AccountId
const org = "org_presenton_service" as AccountId
const tid = (s: string) => s as TransferId
const hid = (s: string) => s as HoldId

type Store = LedgerStore["Service"]

const grant = (store: Store, id: string, account: AccountId, amount: number, at = T0) =>
  store.grant({ id: tid(id), account, amount, reason: "top-up", at })

/** Reserves and settles `amount` on a new hold: the settlement's transfer. */
const charge = (store: Store, hold: string, account: AccountId, amount: number, at = T0) =>
  Effect.gen(function*() {
    yield* store.reserve({ id: hid(hold), account, amount, at, expiresAt: at + 60_000 })
    const { transfer } = yield* store.settle({ hold: hid(hold), amount, at })
    return Option.getOrThrow(transfer)
  })

/** Every page of `limit`, each before the previous page's last seq, concatenated. */
const allPages = (store: Store, filter: { readonly account?: AccountId; readonly limit: number }) =>
  Effect.gen(function*() {
    const out: Array<Transfer> = []
    let page = yield* store.transfers(filter)
    while (page.length > 0) {
      expect(page.length).toBeLessThanOrEqual(filter.limit)
      out.push(...page)
      page = yield* store.transfers({ ...filter, beforeSeq: page.at(-1)!.seq })
    }
    return out
  })

const seqs = (transfers: ReadonlyArray<Transfer>) => transfers.map((t) => t.seq)

/** The LedgerStore port's history: journal order (`seq`), pages newest first, a transfer by id. */
export const ledgerStoreSuite = (adapter: PortAdapter<LedgerStore>) =>
  describe(`LedgerStore history [${adapter.name}]`, () => {
    const test = portTest(LedgerStore, adapter)

    test("gives every transfer its journal position, rising in posting order, from every operation and its replay", (store) =>
      Effect.gen(function*() {
        const granted = yield* grant(store, "g1", alice, 10_000)
        const settled = yield* charge(store, "h1", alice, 1_200)
        const refunded = yield* store.refund({ id: tid("r1"), transfer: settled.id, amount: 200, reason: "bad image", at: T0 })
        const second = yield* grant(store, "g2", org, 5_000)
        const posted = [granted, settled, refunded, second]
        for (const t of posted) expect(Number.isSafeInteger(t.seq)).toBe(true)
        expect(seqs(posted)).toEqual([...seqs(posted)].sort((a, b) => a! - b!))
        expect(new Set(seqs(posted)).size).toBe(4)

        // Replays answer the first transfer, its seq included.
        expect(yield* grant(store, "g1", alice, 10_000, T0 + 5)).toStrictEqual(granted)
        expect(Option.getOrThrow((yield* store.settle({ hold: hid("h1"), amount: 1_200, at: T0 + 5 })).transfer))
          .toStrictEqual(settled)
        expect(yield* store.refund({ id: tid("r1"), transfer: settled.id, amount: 200, reason: "bad image", at: T0 + 5 }))
          .toStrictEqual(refunded)

        // The journal lists exactly these, newest first, as they were returned.
        expect(yield* store.transfers({})).toStrictEqual([...posted].reverse())
      }))

    test("finds a transfer by id as posted, and nothing for an unknown id or a settlement of nothing", (store) =>
      Effect.gen(function*() {
        expect(yield* store.transfer(tid("g1"))).toEqual(Option.none())
        const granted = yield* grant(store, "g1", alice, 10_000)
        const settled = yield* charge(store, "h1", alice, 700)
        const refunded = yield* store.refund({ id: tid("r1"), transfer: settled.id, amount: 100, reason: "support", at: T0 })
        expect(yield* store.transfer(tid("g1"))).toStrictEqual(Option.some(granted))
        expect(yield* store.transfer(settleTransferId(hid("h1")))).toStrictEqual(Option.some(settled))
        expect(yield* store.transfer(tid("r1"))).toStrictEqual(Option.some(refunded))
        expect(refunded).toMatchObject({ kind: "refund", refundOf: settled.id, credit: alice, amount: 100 })

        yield* store.reserve({ id: hid("h0"), account: alice, amount: 50, at: T0, expiresAt: T0 + 60_000 })
        const nothing = yield* store.settle({ hold: hid("h0"), amount: 0, at: T0 })
        expect(nothing.transfer).toEqual(Option.none())
        expect(yield* store.transfer(settleTransferId(hid("h0")))).toEqual(Option.none())
        expect(yield* store.transfer(tid("nope"))).toEqual(Option.none())
      }))

    test("pages the journal newest first: each page before the previous page's last seq, none missed or repeated", (store) =>
      Effect.gen(function*() {
        expect(yield* store.transfers({ limit: 3 })).toEqual([])
        yield* grant(store, "g-alice", alice, 100_000)
        yield* grant(store, "g-org", org, 100_000)
        for (let i = 0; i < 5; i++) {
          yield* charge(store, `a${i}`, alice, 100 + i, T0 + i)
          yield* charge(store, `o${i}`, org, 200 + i, T0 + i)
        }
        yield* store.refund({ id: tid("r-org"), transfer: settleTransferId(hid("o2")), amount: 50, reason: "x", at: T0 + 9 })
        const journal = yield* store.transfers({})
        expect(journal).toHaveLength(13)
        const descending = seqs(journal)
        expect(descending).toEqual([...descending].sort((a, b) => b! - a!))

        for (const limit of [1, 3, 5, 13, 20]) expect(yield* allPages(store, { limit })).toStrictEqual(journal)
        const first = yield* store.transfers({ limit: 4 })
        expect(first).toStrictEqual(journal.slice(0, 4))
        expect(yield* store.transfers({ limit: 4, beforeSeq: first[3]!.seq })).toStrictEqual(journal.slice(4, 8))
        // A cursor before the oldest entry ends the walk; a cursor beyond the newest starts at it.
        expect(yield* store.transfers({ beforeSeq: journal.at(-1)!.seq })).toEqual([])
        expect(yield* store.transfers({ limit: 2, beforeSeq: journal[0]!.seq! + 1_000 })).toStrictEqual(journal.slice(0, 2))
        expect(yield* store.transfers({ limit: 0 })).toEqual([])
      }))

    test("pages one account's entries only, debits and credits alike, newest first", (store) =>
      Effect.gen(function*() {
        yield* grant(store, "g-alice", alice, 100_000)
        yield* grant(store, "g-org", org, 100_000)
        for (let i = 0; i < 4; i++) {
          yield* charge(store, `a${i}`, alice, 100 + i, T0 + i)
          yield* charge(store, `o${i}`, org, 200 + i, T0 + i)
        }
        yield* store.refund({ id: tid("r-alice"), transfer: settleTransferId(hid("a1")), amount: 10, reason: "x", at: T0 + 9 })
        const journal = yield* store.transfers({})
        const alices = journal.filter((t) => t.debit === alice || t.credit === alice)
        expect(alices.map((t) => t.id)).toEqual(["r-alice", "settle:a3", "settle:a2", "settle:a1", "settle:a0", "g-alice"])
        expect(yield* store.transfers({ account: alice })).toStrictEqual(alices)
        for (const limit of [1, 2, 4]) expect(yield* allPages(store, { account: alice, limit })).toStrictEqual(alices)
        // A cursor taken from the whole journal cuts an account's entries at the same place.
        const cut = journal.findIndex((t) => t.id === "settle:o2")
        expect(yield* store.transfers({ account: alice, beforeSeq: journal[cut]!.seq }))
          .toStrictEqual(alices.filter((t) => t.seq! < journal[cut]!.seq!))
        expect(yield* store.transfers({ account: "org_nobody" as AccountId, limit: 5 })).toEqual([])
      }))

    test("gives concurrent settlements distinct positions, each the one its transfer is listed and found with", (store) =>
      Effect.gen(function*() {
        yield* grant(store, "g-alice", alice, 1_000_000)
        yield* grant(store, "g-org", org, 1_000_000)
        const holds = Array.from({ length: 40 }, (_, i) => ({ id: hid(`c${i}`), account: i % 2 === 0 ? alice : org }))
        yield* Effect.forEach(
          holds,
          (h) => store.reserve({ id: h.id, account: h.account, amount: 10, at: T0, expiresAt: T0 + 60_000 }),
          { concurrency: "unbounded" }
        )
        const settled = yield* Effect.forEach(
          holds,
          (h) => Effect.map(store.settle({ hold: h.id, amount: 7, at: T0 }), (s) => Option.getOrThrow(s.transfer)),
          { concurrency: "unbounded" }
        )
        expect(new Set(seqs(settled)).size).toBe(40)
        const listed = new Map((yield* store.transfers({})).map((t) => [t.id, t]))
        for (const t of settled) {
          expect(listed.get(t.id)).toStrictEqual(t)
          expect(yield* store.transfer(t.id)).toStrictEqual(Option.some(t))
        }
      }))
  })

/** A settlement's usage event: every field, the optional ones too. */
const usageOf = (requestId: string, payer: AccountId, cost: number, at = T0): UsageEvent => ({
  requestId,
  at,
  actorKind: "service",
  actor: "presenton-service",
  service: "presenton-service",
  onBehalfOf: payer,
  authMethod: "service_key",
  payer,
  model: "dall-e-3",
  provider: "openai",
  n: 1,
  images: 1,
  costMillicredits: cost,
  mode: "billed",
  outcome: "success",
  latencyMs: 12,
  providerCostMicroUsd: 39_000
})

/** Alice funded with 10,000, key `k1` claimed by `attempt`, and hold `h1` of 4,000: the idempotency store. */
const claimedAndHeld = (store: Store, attempt: string) =>
  Effect.gen(function*() {
    const claims = yield* IdempotencyStore
    yield* grant(store, "g1", alice, 10_000)
    yield* claims.begin({ scope: alice, key: "k1", fingerprint: "fp", now: T0, expiresAt: T0 + 86_400_000, attempt })
    yield* store.reserve({ id: hid("h1"), account: alice, amount: 4_000, at: T0, expiresAt: T0 + 60_000 })
    return claims
  })

/**
 * A settlement that carries a generation's usage event writes it in the same atomic step (on
 * PostgreSQL, the same statement), once; and answers the payer's balance just after it.
 */
export const settlementUsageSuite = (adapter: PortAdapter<LedgerStore | UsageLog | IdempotencyStore>) =>
  describe(`LedgerStore settlement with its usage event [${adapter.name}]`, () => {
    const test = <E>(name: string, body: (store: Store, usage: UsageLog["Service"]) => Effect.Effect<void, E, IdempotencyStore>) =>
      it.effect(name, () =>
        Effect.provide(
          Effect.flatMap(Effect.all([Effect.service(LedgerStore), Effect.service(UsageLog)]), ([s, u]) => body(s, u)),
          adapter.fresh()
        ))

    test("writes the event once with the settlement and answers the balance after it; a replay writes nothing", (store, usage) =>
      Effect.gen(function*() {
        yield* grant(store, "g1", alice, 10_000)
        yield* store.reserve({ id: hid("h1"), account: alice, amount: 4_000, at: T0, expiresAt: T0 + 60_000 })
        const event = usageOf("req_1", alice, 3_000)
        const settled = yield* store.settle({ hold: hid("h1"), amount: 3_000, at: T0 + 1, usage: event })
        expect(settled.balance).toStrictEqual({ account: alice, posted: 7_000, pending: 0, available: 7_000 })
        expect(settled.balance).toStrictEqual(yield* store.balance(alice))
        expect(yield* usage.list({ payer: alice })).toStrictEqual([event])

        const replay = yield* store.settle({ hold: hid("h1"), amount: 3_000, at: T0 + 2, usage: event })
        expect(replay.balance).toStrictEqual(settled.balance)
        expect(replay.transfer).toStrictEqual(settled.transfer)
        expect(yield* usage.list({ payer: alice })).toHaveLength(1)
      }))

    test("writes nothing when the settlement is refused", (store, usage) =>
      Effect.gen(function*() {
        yield* grant(store, "g1", alice, 10_000)
        yield* store.reserve({ id: hid("h1"), account: alice, amount: 1_000, at: T0, expiresAt: T0 + 60_000 })
        const over = yield* Effect.flip(store.settle({ hold: hid("h1"), amount: 1_001, at: T0, usage: usageOf("r_over", alice, 1_001) }))
        expect(over._tag).toBe("SettleExceedsHold")
        const unknown = yield* Effect.flip(store.settle({ hold: hid("nope"), amount: 1, at: T0, usage: usageOf("r_unknown", alice, 1) }))
        expect(unknown._tag).toBe("HoldNotFound")
        yield* store.release({ hold: hid("h1"), at: T0 })
        const released = yield* Effect.flip(store.settle({ hold: hid("h1"), amount: 0, at: T0, usage: usageOf("r_rel", alice, 0) }))
        expect(released._tag).toBe("HoldAlreadyResolved")
        expect(yield* usage.list({ payer: alice })).toStrictEqual([])
        expect(yield* store.balance(alice)).toMatchObject({ posted: 10_000, pending: 0 })
      }))

    test("completes the request's idempotency claim with the settlement, the response made from the balance after it", (store, usage) =>
      Effect.gen(function*() {
        const claims = yield* claimedAndHeld(store, "a1")
        const settled = yield* store.settle({
          hold: hid("h1"),
          amount: 3_000,
          at: T0 + 1,
          usage: usageOf("req_k1", alice, 3_000),
          completes: { scope: alice, key: "k1", attempt: "a1", response: (b) => ({ remaining: b.available }) }
        })
        expect(settled.balance.available).toBe(7_000)
        expect(yield* claims.begin({ scope: alice, key: "k1", fingerprint: "fp", now: T0 + 2, expiresAt: T0 + 86_400_000 }))
          .toEqual({ _tag: "Replay", response: { remaining: 7_000 } })
        expect(yield* usage.list({ payer: alice })).toHaveLength(1)
      }))

    test("settles nothing for an attempt whose claim was taken over", (store, usage) =>
      Effect.gen(function*() {
        const claims = yield* claimedAndHeld(store, "late")
        // A retry takes the stale claim over while the first attempt is still on its way.
        yield* claims.begin({ scope: alice, key: "k1", fingerprint: "fp", now: T0 + 1, expiresAt: T0 + 86_400_000, attempt: "retry", staleBefore: T0 })
        const refused = yield* Effect.flip(store.settle({
          hold: hid("h1"),
          amount: 3_000,
          at: T0 + 2,
          usage: usageOf("req_late", alice, 3_000),
          completes: { scope: alice, key: "k1", attempt: "late", response: () => ({ from: "late" }) }
        }))
        expect(refused).toMatchObject({ _tag: "IdempotencyConflict", id: "k1", reason: "in_progress" })
        // Nothing moved: the hold still pending, no usage event, the retry still owns the claim.
        expect(Option.getOrThrow(yield* store.hold(hid("h1"))).status).toBe("pending")
        expect(yield* store.balance(alice)).toMatchObject({ posted: 10_000, pending: 4_000 })
        expect(yield* usage.list({ payer: alice })).toEqual([])
        expect(yield* claims.complete({ scope: alice, key: "k1", attempt: "retry", response: { from: "retry" } })).toBe(true)
      }))

    test("concurrent settlements of two payers (one batch on PostgreSQL) each write their own event and see their own payer", (store, usage) =>
      Effect.gen(function*() {
        yield* grant(store, "g-alice", alice, 100_000)
        yield* grant(store, "g-org", org, 100_000)
        const holds = Array.from({ length: 40 }, (_, i) => ({ hold: hid(`h${i}`), payer: i % 2 === 0 ? alice : org }))
        yield* Effect.forEach(holds, (h) => store.reserve({ id: h.hold, account: h.payer, amount: 1_000, at: T0, expiresAt: T0 + 60_000 }), {
          concurrency: "unbounded"
        })
        const answers = yield* Effect.forEach(
          holds,
          (h, i) => store.settle({ hold: h.hold, amount: 500, at: T0 + 1, usage: usageOf(`req_${i}`, h.payer, 500) }),
          { concurrency: "unbounded" }
        )
        answers.forEach((a, i) => {
          expect(a.balance.account).toBe(holds[i]!.payer)
          // Whatever the batches, the balance answered is one the payer really went through.
          expect(a.balance.posted).toBeLessThanOrEqual(100_000 - 500)
          expect(a.balance.posted).toBeGreaterThanOrEqual(100_000 - 20 * 500)
        })
        for (const payer of [alice, org]) {
          expect(yield* store.balance(payer)).toStrictEqual({ account: payer, posted: 90_000, pending: 0, available: 90_000 })
          const events = yield* usage.list({ payer, limit: 100 })
          expect(events.map((e) => e.requestId).sort()).toStrictEqual(
            holds.flatMap((h, i) => (h.payer === payer ? [`req_${i}`] : [])).sort()
          )
        }
      }))
  })
