import { describe, expect } from "@effect/vitest"
import { Effect, Option } from "effect"
import { type Alert, AlertStore } from "../../src/application/ports/AlertStore.ts"
import type { AccountId } from "../../src/domain/Ids.ts"
import { type PortAdapter, portTest } from "./PortAdapter.ts"

/** Epoch ms in 2100: beyond 32 bits, as every time the store keeps is. */
const T0 = 4_102_444_800_000
/** The default threshold of these tests: 1,000 credits. */
const DEFAULT = 1_000_000
const ACCOUNT = "org_alerts_spec" as AccountId
const accountOf = (i: number) => `org_alerts_${i}` as AccountId

type Store = AlertStore["Service"]

/** One balance check of `account` that reads `available` under the account's lock. */
const check = (store: Store, available: number, options: { readonly account?: AccountId; readonly at?: number } = {}) =>
  store.checkBalance({
    account: options.account ?? ACCOUNT,
    available: Effect.succeed(available),
    defaultThreshold: DEFAULT,
    at: options.at ?? T0
  })

const fired = (result: Option.Option<Alert>) => Option.isSome(result)

/** `n` alerts in the outbox, one per account, fired in order one second apart. */
const fireMany = (store: Store, n: number) =>
  Effect.forEach(Array.from({ length: n }, (_, i) => i), (i) =>
    Effect.map(check(store, 0, { account: accountOf(i), at: T0 + i * 1_000 }), Option.getOrThrow))

/** One evaluation of the rate episode `key` (above its threshold or not) at `at`. */
const rate = (store: Store, above: boolean, at: number, key = "generation_401") =>
  store.checkRate({
    key,
    above,
    at,
    alert: { type: "generation_401.rate_exceeded", data: { count: above ? 6 : 5, threshold: 5, window_end: Math.floor(at / 1000) } }
  })

const ids = (records: ReadonlyArray<{ readonly id: string }>) => records.map((r) => r.id)
const everything = { limit: 1_000 }

/**
 * The AlertStore port's contract: a balance alert fires once per downward crossing and re-arms
 * at or above the threshold, however many checks run at once; per-account thresholds; an
 * outbox whose claims lease alerts (two claimers at once never get the same alert), whose
 * attempts record delivered, retry and failed; listed newest first in pages. A rate episode
 * raises one alert from going above to coming back, however many evaluations run at once, and an
 * evaluation older than the last applied changes nothing; an alert raised once per key is
 * queued once, however many raise it at once.
 */
export const alertStoreSuite = (adapter: PortAdapter<AlertStore>) =>
  describe(`AlertStore [${adapter.name}]`, () => {
    const test = portTest(AlertStore, adapter)

    test("fires once when the balance goes below the threshold, with the payload delivered, and queues it due at once", (store) =>
      Effect.gen(function*() {
        expect(fired(yield* check(store, DEFAULT))).toBe(false) // at the threshold: not below
        const alert = Option.getOrThrow(yield* check(store, DEFAULT - 1, { at: T0 + 5 }))
        expect(alert).toEqual({
          id: expect.stringMatching(/^alert_[0-9a-f-]{36}$/),
          type: "balance.low",
          createdAt: T0 + 5,
          data: { account: ACCOUNT, available_millicredits: DEFAULT - 1, threshold_millicredits: DEFAULT }
        })
        const listed = yield* store.list(everything)
        expect(listed).toHaveLength(1)
        expect(listed[0]).toMatchObject({ ...alert, status: "pending", attempts: 0, nextAttemptAt: T0 + 5 })
        expect(listed[0]!.lastError).toBeUndefined()
        expect(listed[0]!.deliveredAt).toBeUndefined()
        expect(Number.isSafeInteger(listed[0]!.seq) && listed[0]!.seq > 0).toBe(true)
      }))

    test("fires once per crossing: further checks below stay quiet; at or above the threshold re-arms; the next crossing fires again", (store) =>
      Effect.gen(function*() {
        const outcomes: Array<boolean> = []
        for (const available of [5_000_000, 900_000, 10, 0, 999_999, DEFAULT, 999_999, 999_998, 2_000_000, 1]) {
          outcomes.push(fired(yield* check(store, available)))
        }
        expect(outcomes).toEqual([false, true, false, false, false, false, true, false, false, true])
        expect((yield* store.list(everything)).map((r) => r.data["available_millicredits"])).toEqual([1, 999_999, 900_000])
      }))

    test("many checks of one account at once, all below the threshold, fire exactly one alert", (store) =>
      Effect.gen(function*() {
        const results = yield* Effect.all(
          Array.from({ length: 40 }, (_, i) => check(store, 500_000 - i)),
          { concurrency: "unbounded" }
        )
        expect(results.filter(fired)).toHaveLength(1)
        expect(yield* store.list(everything)).toHaveLength(1)
        // Re-armed by one check at the threshold, then again many at once: one more.
        expect(fired(yield* check(store, DEFAULT))).toBe(false)
        const again = yield* Effect.all(Array.from({ length: 40 }, () => check(store, 1)), { concurrency: "unbounded" })
        expect(again.filter(fired)).toHaveLength(1)
        expect(yield* store.list(everything)).toHaveLength(2)
      }))

    test("accounts are independent: one account's fired state neither fires nor silences another's", (store) =>
      Effect.gen(function*() {
        expect(fired(yield* check(store, 0, { account: accountOf(1) }))).toBe(true)
        expect(fired(yield* check(store, 0, { account: accountOf(2) }))).toBe(true)
        expect(fired(yield* check(store, 0, { account: accountOf(1) }))).toBe(false)
        expect(fired(yield* check(store, DEFAULT, { account: accountOf(2) }))).toBe(false)
        expect(fired(yield* check(store, 0, { account: accountOf(1) }))).toBe(false)
        expect(fired(yield* check(store, 0, { account: accountOf(2) }))).toBe(true)
      }))

    test("an account's own threshold replaces the default; null goes back to it; its state shows threshold and fired; setting it keeps the fired state", (store) =>
      Effect.gen(function*() {
        expect(yield* store.state(ACCOUNT)).toStrictEqual({ fired: false })
        yield* store.setThreshold(ACCOUNT, 5_000_000_000) // beyond 32 bits
        expect(yield* store.state(ACCOUNT)).toStrictEqual({ threshold: 5_000_000_000, fired: false })
        const alert = Option.getOrThrow(yield* check(store, 4_999_999_999))
        expect(alert.data["threshold_millicredits"]).toBe(5_000_000_000)
        expect(yield* store.state(ACCOUNT)).toStrictEqual({ threshold: 5_000_000_000, fired: true })
        // Lowered below the balance: the state stays fired until a check sees the balance at or above.
        yield* store.setThreshold(ACCOUNT, 0)
        expect(yield* store.state(ACCOUNT)).toStrictEqual({ threshold: 0, fired: true })
        expect(fired(yield* check(store, 0))).toBe(false) // 0 is not below 0, and re-arms
        expect(yield* store.state(ACCOUNT)).toStrictEqual({ threshold: 0, fired: false })
        yield* store.setThreshold(ACCOUNT, null)
        expect(yield* store.state(ACCOUNT)).toStrictEqual({ fired: false })
        const back = Option.getOrThrow(yield* check(store, DEFAULT - 1))
        expect(back.data["threshold_millicredits"]).toBe(DEFAULT)
        expect(yield* store.state(ACCOUNT)).toStrictEqual({ fired: true })
        // A threshold set on an account never checked, and another account left alone.
        yield* store.setThreshold(accountOf(9), 7)
        expect(yield* store.state(accountOf(9))).toStrictEqual({ threshold: 7, fired: false })
        expect(yield* store.state(accountOf(8))).toStrictEqual({ fired: false })
      }))

    test("claims due alerts oldest first, at most the limit, and leases them until leaseUntil", (store) =>
      Effect.gen(function*() {
        const alerts = yield* fireMany(store, 5)
        const now = T0 + 10_000
        const first = yield* store.claimDue({ now, limit: 3, leaseUntil: now + 30_000 })
        expect(ids(first)).toEqual(ids(alerts).slice(0, 3))
        expect(first.every((r) => r.status === "pending" && r.attempts === 0)).toBe(true)
        // The leased ones are not claimed again before their lease ends; the rest are.
        expect(ids(yield* store.claimDue({ now, limit: 10, leaseUntil: now + 30_000 }))).toEqual(ids(alerts).slice(3))
        expect(yield* store.claimDue({ now: now + 29_999, limit: 10, leaseUntil: now + 60_000 })).toEqual([])
        // A lease that ran out (its holder lost): every one comes due again.
        expect(ids(yield* store.claimDue({ now: now + 30_000, limit: 10, leaseUntil: now + 90_000 })).sort())
          .toEqual(ids(alerts).sort())
      }))

    test("an alert is not claimed before it is due", (store) =>
      Effect.gen(function*() {
        yield* check(store, 0, { at: T0 + 1_000 })
        expect(yield* store.claimDue({ now: T0 + 999, limit: 10, leaseUntil: T0 + 60_000 })).toEqual([])
        expect(yield* store.claimDue({ now: T0 + 1_000, limit: 10, leaseUntil: T0 + 60_000 })).toHaveLength(1)
      }))

    test("claimers at once never get the same alert, and between them get every due one", (store) =>
      Effect.gen(function*() {
        const alerts = yield* fireMany(store, 30)
        const now = T0 + 60_000
        const claims = yield* Effect.all(
          Array.from({ length: 8 }, () => store.claimDue({ now, limit: 5, leaseUntil: now + 30_000 })),
          { concurrency: "unbounded" }
        )
        const claimed = claims.flatMap(ids)
        expect(new Set(claimed).size).toBe(claimed.length)
        expect(claimed.sort()).toEqual(ids(alerts).sort())
        expect(yield* store.claimDue({ now, limit: 50, leaseUntil: now + 30_000 })).toEqual([])
      }))

    test("a delivered attempt ends the alert's delivery: counted, time kept, never claimed again", (store) =>
      Effect.gen(function*() {
        const alert = Option.getOrThrow(yield* check(store, 0))
        const [claimed] = yield* store.claimDue({ now: T0, limit: 1, leaseUntil: T0 + 30_000 })
        expect(claimed!.id).toBe(alert.id)
        yield* store.recordAttempt(alert.id, { _tag: "Delivered" }, T0 + 7)
        const [listed] = yield* store.list(everything)
        expect(listed).toMatchObject({ id: alert.id, status: "delivered", attempts: 1, deliveredAt: T0 + 7 })
        expect(listed!.nextAttemptAt).toBeUndefined()
        expect(yield* store.claimDue({ now: T0 + 10_000_000, limit: 10, leaseUntil: T0 + 20_000_000 })).toEqual([])
      }))

    test("a retry keeps it pending with its error, due again at nextAttemptAt (the lease no longer holds it)", (store) =>
      Effect.gen(function*() {
        const alert = Option.getOrThrow(yield* check(store, 0))
        yield* store.claimDue({ now: T0, limit: 1, leaseUntil: T0 + 60_000 })
        yield* store.recordAttempt(alert.id, { _tag: "Retry", error: "receiver answered 503", nextAttemptAt: T0 + 30_000 }, T0 + 1)
        const [listed] = yield* store.list(everything)
        expect(listed).toMatchObject({ status: "pending", attempts: 1, lastError: "receiver answered 503", nextAttemptAt: T0 + 30_000 })
        expect(yield* store.claimDue({ now: T0 + 29_999, limit: 10, leaseUntil: T0 + 90_000 })).toEqual([])
        const [again] = yield* store.claimDue({ now: T0 + 30_000, limit: 10, leaseUntil: T0 + 90_000 })
        expect(again).toMatchObject({ id: alert.id, attempts: 1 })
        yield* store.recordAttempt(alert.id, { _tag: "Retry", error: "request failed: TransportError", nextAttemptAt: T0 + 90_000 }, T0 + 30_001)
        expect((yield* store.list(everything))[0]).toMatchObject({ attempts: 2, lastError: "request failed: TransportError" })
      }))

    test("a failed attempt ends it as failed with its error, never claimed again", (store) =>
      Effect.gen(function*() {
        const alert = Option.getOrThrow(yield* check(store, 0))
        yield* store.claimDue({ now: T0, limit: 1, leaseUntil: T0 + 60_000 })
        yield* store.recordAttempt(alert.id, { _tag: "Failed", error: "receiver answered 410" }, T0 + 1)
        const [listed] = yield* store.list(everything)
        expect(listed).toMatchObject({ status: "failed", attempts: 1, lastError: "receiver answered 410" })
        expect(listed!.nextAttemptAt).toBeUndefined()
        expect(listed!.deliveredAt).toBeUndefined()
        expect(yield* store.claimDue({ now: T0 + 10_000_000, limit: 10, leaseUntil: T0 + 20_000_000 })).toEqual([])
      }))

    test("a rate episode fires once when above, stays quiet while above, re-arms at or below, and fires again; keys are independent", (store) =>
      Effect.gen(function*() {
        const outcomes: Array<boolean> = []
        for (const [i, above] of [false, true, true, true, false, false, true, true].entries()) {
          outcomes.push(fired(yield* rate(store, above, T0 + i * 60_000)))
        }
        expect(outcomes).toEqual([false, true, false, false, false, false, true, false])
        const listed = yield* store.list(everything)
        expect(listed.map((r) => [r.type, r.createdAt])).toEqual([
          ["generation_401.rate_exceeded", T0 + 6 * 60_000],
          ["generation_401.rate_exceeded", T0 + 60_000]
        ])
        expect(listed[1]).toMatchObject({ status: "pending", nextAttemptAt: T0 + 60_000, data: { count: 6, threshold: 5 } })
        expect(yield* store.firedRates).toEqual(["generation_401"])
        // Another key has its own episode.
        expect(fired(yield* rate(store, true, T0 + 10 * 60_000, "auth_failures:bolt-diy-service"))).toBe(true)
        expect([...(yield* store.firedRates)].sort()).toEqual(["auth_failures:bolt-diy-service", "generation_401"])
        expect(fired(yield* rate(store, false, T0 + 11 * 60_000))).toBe(false)
        expect(yield* store.firedRates).toEqual(["auth_failures:bolt-diy-service"])
      }))

    test("a rate evaluation not later than the last applied changes nothing: a stale count neither re-arms nor fires again", (store) =>
      Effect.gen(function*() {
        expect(fired(yield* rate(store, true, T0 + 2_000))).toBe(true)
        // A slower instance's count from before: below, but older; it must not re-arm.
        expect(fired(yield* rate(store, false, T0 + 1_000))).toBe(false)
        expect(fired(yield* rate(store, false, T0 + 2_000))).toBe(false)
        expect(yield* store.firedRates).toEqual(["generation_401"])
        expect(fired(yield* rate(store, true, T0 + 3_000))).toBe(false)
        expect(yield* store.list(everything)).toHaveLength(1)
      }))

    test("many rate evaluations of one key at once, all above, raise exactly one alert; after a re-arm, many again raise one more", (store) =>
      Effect.gen(function*() {
        const results = yield* Effect.all(
          Array.from({ length: 40 }, (_, i) => rate(store, true, T0 + 1 + (i % 4))),
          { concurrency: "unbounded" }
        )
        expect(results.filter(fired)).toHaveLength(1)
        expect(fired(yield* rate(store, false, T0 + 100))).toBe(false)
        const again = yield* Effect.all(
          Array.from({ length: 40 }, (_, i) => rate(store, true, T0 + 200 + i)),
          { concurrency: "unbounded" }
        )
        expect(again.filter(fired)).toHaveLength(1)
        expect(yield* store.list(everything)).toHaveLength(2)
      }))

    test("an alert raised once per key is queued once, however many raise it at once, and stays raised once delivered", (store) =>
      Effect.gen(function*() {
        const KEY = "report.weekly:4102272000000"
        const report = { type: "report.weekly" as const, data: { week_start: 4_102_272_000, total: { requests: 3 }, top_models: [{ model: "dall-e-3" }] } }
        expect(yield* store.raised(KEY)).toBe(false)
        const results = yield* Effect.all(Array.from({ length: 20 }, () => store.raiseOnce(KEY, report, T0)), { concurrency: "unbounded" })
        expect(results.filter(Option.isSome)).toHaveLength(1)
        expect(yield* store.raised(KEY)).toBe(true)
        const [listed] = yield* store.list(everything)
        expect(listed).toMatchObject({ type: "report.weekly", data: report.data, status: "pending", createdAt: T0 })
        const [claimed] = yield* store.claimDue({ now: T0, limit: 10, leaseUntil: T0 + 60_000 })
        yield* store.recordAttempt(claimed!.id, { _tag: "Delivered" }, T0 + 1)
        expect(Option.isNone(yield* store.raiseOnce(KEY, report, T0 + 2))).toBe(true)
        // Another key is its own.
        expect(Option.isSome(yield* store.raiseOnce("report.weekly:4102876800000", report, T0 + 3))).toBe(true)
        expect(yield* store.list(everything)).toHaveLength(2)
      }))

    test("lists newest first in pages cut at seq, each alert once, none after the last", (store) =>
      Effect.gen(function*() {
        expect(yield* store.list(everything)).toEqual([])
        const alerts = yield* fireMany(store, 7)
        const newestFirst = ids(alerts).reverse()
        const all = yield* store.list(everything)
        expect(ids(all)).toEqual(newestFirst)
        expect(all.every((r, i) => i === 0 || r.seq < all[i - 1]!.seq)).toBe(true)
        const pages: Array<ReadonlyArray<string>> = []
        let before: number | undefined
        for (;;) {
          const page = yield* store.list({ limit: 3, beforeSeq: before })
          if (page.length === 0) break
          pages.push(ids(page))
          before = page.at(-1)!.seq
        }
        expect(pages.map((p) => p.length)).toEqual([3, 3, 1])
        expect(pages.flat()).toEqual(newestFirst)
      }))
  })
