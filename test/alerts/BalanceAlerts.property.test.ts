import { Effect, Option } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { makeMemoryAlertStore } from "../../src/adapters/memory/MemoryAlertStore.ts"
import { makeMemoryLedgerStore } from "../../src/adapters/memory/MemoryLedgerStore.ts"
import type { AccountId, HoldId, TransferId } from "../../src/domain/Ids.ts"

const ACCOUNT = "org_alerts" as AccountId
const THRESHOLD = 1_000_000

type Op =
  | { readonly _tag: "grant"; readonly amount: number }
  | { readonly _tag: "reserve"; readonly amount: number }
  | { readonly _tag: "settle"; readonly fraction: number }
  | { readonly _tag: "release" }

const op: fc.Arbitrary<Op> = fc.oneof(
  fc.record({ _tag: fc.constant("grant" as const), amount: fc.integer({ min: 1, max: 800_000 }) }),
  fc.record({ _tag: fc.constant("reserve" as const), amount: fc.integer({ min: 1, max: 900_000 }) }),
  fc.record({ _tag: fc.constant("settle" as const), fraction: fc.double({ min: 0, max: 1, noNaN: true }) }),
  fc.record({ _tag: fc.constant("release" as const) })
)

/** A ledger and an alert store in memory, and the balance check the gateway runs after each change. */
const world = (start: number) => {
  const ledger = makeMemoryLedgerStore()
  const alerts = makeMemoryAlertStore()
  const holds: Array<HoldId> = []
  let n = 0
  const check = alerts.checkBalance({
    account: ACCOUNT,
    available: Effect.map(ledger.balance(ACCOUNT), (b) => b.available),
    defaultThreshold: THRESHOLD,
    at: 0
  })
  const available = Effect.map(ledger.balance(ACCOUNT), (b) => b.available)
  /** Applies one operation (refusals change nothing); returns the available balance after it. */
  const apply = (o: Op) =>
    Effect.gen(function*() {
      const id = `op${++n}`
      switch (o._tag) {
        case "grant":
          yield* ledger.grant({ id: id as TransferId, account: ACCOUNT, amount: o.amount, reason: "test", at: 0 })
          break
        case "reserve": {
          const held = yield* Effect.result(
            ledger.reserve({ id: id as HoldId, account: ACCOUNT, amount: o.amount, at: 0, expiresAt: 1e12 })
          )
          if (held._tag === "Success") holds.push(held.success.id)
          break
        }
        case "settle": {
          const hold = holds.shift()
          if (hold === undefined) break
          const h = Option.getOrThrow(yield* ledger.hold(hold))
          yield* Effect.ignore(ledger.settle({ hold, amount: Math.floor(h.amount * o.fraction), at: 0 }))
          break
        }
        case "release": {
          const hold = holds.shift()
          if (hold !== undefined) yield* Effect.ignore(ledger.release({ hold, at: 0 }))
          break
        }
      }
      return yield* available
    })
  const setup = start > 0
    ? Effect.asVoid(ledger.grant({ id: "start" as TransferId, account: ACCOUNT, amount: start, reason: "start", at: 0 }))
    : Effect.void
  return { ledger, alerts, apply, check, available, setup }
}

/** Downward crossings of the threshold in a sequence of available balances, from `start`. */
const downwardCrossings = (start: number, balances: ReadonlyArray<number>) => {
  let above = start >= THRESHOLD
  let crossings = 0
  for (const b of balances) {
    if (above && b < THRESHOLD) crossings++
    above = b >= THRESHOLD
  }
  return crossings
}

describe("balance alerts on memory", () => {
  it("fire exactly once per downward crossing of the threshold when each change is checked before the next", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 0, max: 3_000_000 }), fc.array(op, { maxLength: 40 }), async (start, ops) => {
        const w = world(start)
        const fired = await Effect.runPromise(Effect.gen(function*() {
          yield* w.setup
          // The state starts armed: an account that starts below the threshold alerts at its first check.
          const seen: Array<number> = []
          let fired = 0
          if (Option.isSome(yield* w.check)) fired++
          for (const o of ops) {
            seen.push(yield* w.apply(o))
            if (Option.isSome(yield* w.check)) fired++
          }
          return { fired, seen }
        }))
        const initial = start < THRESHOLD ? 1 : 0
        expect(fired.fired).toBe(initial + downwardCrossings(start, fired.seen))
        const listed = await Effect.runPromise(w.alerts.list({ limit: 1000 }))
        expect(listed.length).toBe(fired.fired)
      }),
      { numRuns: 200 }
    )
  })

  it("never fire more than the downward crossings, and end armed exactly when the balance is at or above the threshold, for any interleaving of concurrent changes and checks", async () => {
    await fc.assert(
      fc.asyncProperty(fc.scheduler(), fc.integer({ min: 0, max: 3_000_000 }), fc.array(op, { minLength: 1, maxLength: 25 }), async (s, start, ops) => {
        const w = world(start)
        await Effect.runPromise(w.setup)
        const seen: Array<number> = [] // every available balance the ledger went through, in order
        const tasks = ops.map((o, i) =>
          s.schedule(Promise.resolve(i), `op ${i} ${o._tag}`).then(() => Effect.runPromise(w.apply(o))).then((b) => {
            seen.push(b)
            return s.schedule(Promise.resolve(i), `check ${i}`)
          }).then(() => Effect.runPromise(w.check))
        )
        await s.waitFor(Promise.all(tasks))
        const all = await Effect.runPromise(w.alerts.list({ limit: 1000 }))
        const initial = start < THRESHOLD ? 1 : 0
        expect(all.length).toBeLessThanOrEqual(initial + downwardCrossings(start, seen))
        // One more check settles the state: fired iff the balance is below the threshold now.
        const final = await Effect.runPromise(w.available)
        const more = await Effect.runPromise(w.check)
        expect(Option.isSome(more) ? 1 : 0).toBeLessThanOrEqual(final < THRESHOLD ? 1 : 0)
        const again = await Effect.runPromise(w.check)
        expect(Option.isNone(again)).toBe(true)
        // A dip that lasted until a check was alerted: below now means some alert was fired.
        if (final < THRESHOLD) expect(all.length + (Option.isSome(more) ? 1 : 0)).toBeGreaterThanOrEqual(1)
      }),
      { numRuns: 150 }
    )
  })
})
