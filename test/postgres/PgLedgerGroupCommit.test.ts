import { Effect, Metric } from "effect"
import { describe, expect, it } from "vitest"
import type { LedgerStore } from "../../src/application/ports/LedgerStore.ts"
import {
  batchedReserves,
  batchedSettles,
  batchStatements,
  contendedStatements,
  makePgLedgerStore
} from "../../src/adapters/postgres/PgLedgerStore.ts"
import { type AccountId, type HoldId, RevenueAccount, type TransferId } from "../../src/domain/Ids.ts"
import { run, useLedgerDatabase } from "./support/LedgerDatabase.ts"

const account = (s: string) => s as AccountId
const holdId = (s: string) => s as HoldId

const ledger = useLedgerDatabase()
const { runSql, journalMatchesBalances, sumOfPosted, fund } = ledger

/** The group-commit counters of this process, read before and after a burst. */
const counters = () =>
  run(Effect.all({
    statements: Metric.value(batchStatements),
    contended: Metric.value(contendedStatements),
    reserves: Metric.value(batchedReserves),
    settles: Metric.value(batchedSettles)
  }).pipe(Effect.map((c) => ({
    statements: c.statements.count,
    contended: c.contended.count,
    reserves: c.reserves.count,
    settles: c.settles.count
  }))))

const since = async (before: Awaited<ReturnType<typeof counters>>) => {
  const after = await counters()
  return {
    statements: after.statements - before.statements,
    contended: after.contended - before.contended,
    reserves: after.reserves - before.reserves,
    settles: after.settles - before.settles
  }
}

const reserveAll = (
  on: LedgerStore["Service"],
  requests: ReadonlyArray<{ readonly id: string; readonly account: AccountId; readonly amount: number }>
) =>
  run(Effect.forEach(
    requests,
    (r) => Effect.result(on.reserve({ id: holdId(r.id), account: r.account, amount: r.amount, at: 2, expiresAt: 600_000 })),
    { concurrency: "unbounded" }
  ))

describe("PgLedgerStore group commit", () => {
  it("carries 1,000 concurrent reserves on one payer in a few statements, and still holds exactly K", async () => {
    const K = 137
    const payer = account("org_hot_payer")
    await fund(payer, K * 7)
    const before = await counters()
    const outcomes = await reserveAll(ledger.store, Array.from({ length: 1000 }, (_, i) => ({ id: `b-${i}`, account: payer, amount: 7 })))
    const batching = await since(before)
    console.log(`1,000 concurrent reserves on one payer: ${JSON.stringify(batching)}`)

    expect(outcomes.filter((o) => o._tag === "Success")).toHaveLength(K)
    const refusals = outcomes.flatMap((o) => o._tag === "Failure" ? [o.failure] : [])
    expect(refusals).toHaveLength(1000 - K)
    for (const e of refusals) expect(e).toMatchObject({ _tag: "InsufficientCredits", required: 7, available: 0 })
    // One statement per reserve would be 1,000.
    expect(batching.reserves).toBe(1000)
    expect(batching.statements).toBeGreaterThanOrEqual(1)
    expect(batching.statements).toBeLessThanOrEqual(20)
    expect(await run(ledger.store.balance(payer))).toEqual({ account: payer, posted: K * 7, pending: K * 7, available: 0 })
    await journalMatchesBalances()
  })

  it("decides a batch as sequential reserves would: a later, smaller hold still fits after a refused one", async () => {
    const payer = account("org_greedy")
    await fund(payer, 100)
    const amounts = [60, 50, 30, 10, 5]
    const outcomes = await reserveAll(ledger.store, amounts.map((amount, i) => ({ id: `g-${i}`, account: payer, amount })))
    expect(outcomes.map((o) => o._tag === "Success" ? "held" : o.failure)).toEqual([
      "held",
      expect.objectContaining({ _tag: "InsufficientCredits", required: 50, available: 40 }),
      "held",
      "held",
      expect.objectContaining({ _tag: "InsufficientCredits", required: 5, available: 0 })
    ])
    expect(await run(ledger.store.balance(payer))).toMatchObject({ posted: 100, pending: 100, available: 0 })
  })

  it("answers replays and conflicting replays inside one burst as it would one by one", async () => {
    const payer = account("org_replays")
    await fund(payer, 1000)
    const outcomes = await reserveAll(ledger.store, [
      { id: "r-1", account: payer, amount: 300 },
      { id: "r-1", account: payer, amount: 300 },
      { id: "r-1", account: payer, amount: 301 },
      { id: "r-2", account: payer, amount: 800 },
      { id: "r-3", account: payer, amount: 700 },
      { id: "r-1", account: account("org_other"), amount: 300 }
    ])
    const tags = outcomes.map((o) => o._tag === "Success" ? o.success.id : o.failure._tag)
    expect(tags.slice(0, 5)).toEqual(["r-1", "r-1", "IdempotencyConflict", "InsufficientCredits", "r-3"])
    // Another payer's lane runs beside this one: seen before r-1's commit, org_other simply has nothing.
    expect(["IdempotencyConflict", "InsufficientCredits"]).toContain(tags[5])
    expect(outcomes[0]).toEqual(outcomes[1])
    expect(outcomes[3]).toMatchObject({ failure: { available: 700, required: 800 } })
    expect(await run(ledger.store.balance(payer))).toMatchObject({ pending: 1000, available: 0 })
  })

  it("settles 500 concurrent holds of one payer in a few statements, keeping double entry", async () => {
    const payer = account("org_hot_settler")
    await fund(payer, 500 * 10)
    const holds = await reserveAll(ledger.store, Array.from({ length: 500 }, (_, i) => ({ id: `s-${i}`, account: payer, amount: 10 })))
    expect(holds.every((h) => h._tag === "Success")).toBe(true)
    const before = await counters()
    const settled = await run(Effect.forEach(
      Array.from({ length: 500 }, (_, i) => i),
      // Every third one settles nothing: the hold resolves and no transfer is posted.
      (i) => ledger.store.settle({ hold: holdId(`s-${i}`), amount: i % 3 === 0 ? 0 : 4, at: 3 }),
      { concurrency: "unbounded" }
    ))
    const batching = await since(before)
    console.log(`500 concurrent settlements on one payer: ${JSON.stringify(batching)}`)
    expect(batching.settles).toBe(500)
    expect(batching.statements).toBeLessThanOrEqual(20)
    const charged = settled.reduce((sum, s) => sum + s.hold.settled, 0)
    expect(charged).toBe(4 * (500 - 167))
    expect(settled.filter((s) => s.transfer._tag === "Some")).toHaveLength(500 - 167)
    expect(await run(ledger.store.balance(payer))).toEqual({ account: payer, posted: 5000 - charged, pending: 0, available: 5000 - charged })
    expect(await run(ledger.store.balance(RevenueAccount))).toMatchObject({ posted: charged })
    expect(await sumOfPosted()).toBe(0)
    await journalMatchesBalances()

    // Replays and refusals in a burst fall back to the one-hold path with its usual answers.
    const again = await run(Effect.forEach(
      [{ hold: "s-1", amount: 4 }, { hold: "s-2", amount: 5 }, { hold: "nope", amount: 1 }],
      (s) => Effect.result(ledger.store.settle({ hold: holdId(s.hold), amount: s.amount, at: 4 })),
      { concurrency: "unbounded" }
    ))
    expect(again.map((r) => r._tag === "Success" ? "ok" : r.failure._tag)).toEqual(["ok", "IdempotencyConflict", "HoldNotFound"])
  })

  it("settles the right hold when the payer this process remembered for it is stale", async () => {
    const first = account("org_first")
    const second = account("org_second")
    await fund(first, 100)
    await run(ledger.store.reserve({ id: holdId("moved"), account: first, amount: 50, at: 2, expiresAt: 600_000 }))
    // The same hold id, recreated for another payer by someone else (another process).
    await run(ledger.db.truncate)
    const other = await ledger.db.run(makePgLedgerStore)
    await run(other.grant({ id: "fund-second" as TransferId, account: second, amount: 100, reason: "x", at: 1 }))
    await run(other.reserve({ id: holdId("moved"), account: second, amount: 50, at: 2, expiresAt: 600_000 }))
    const { hold } = await run(ledger.store.settle({ hold: holdId("moved"), amount: 20, at: 3 }))
    expect(hold).toMatchObject({ account: second, status: "settled", settled: 20 })
    expect(await run(ledger.store.balance(second))).toEqual({ account: second, posted: 80, pending: 0, available: 80 })
    await journalMatchesBalances()
  })

  it("holds each id once when two processes' batches race for the same ids on different payers", async () => {
    const a = account("org_race_a")
    const b = account("org_race_b")
    await fund(a, 10_000)
    await fund(b, 10_000)
    const other = await ledger.db.run(makePgLedgerStore)
    const ids = Array.from({ length: 300 }, (_, i) => `x-${i}`)
    const [fromA, fromB] = await Promise.all([
      reserveAll(ledger.store, ids.map((id) => ({ id, account: a, amount: 10 }))),
      reserveAll(other, ids.map((id) => ({ id, account: b, amount: 10 })))
    ])
    ids.forEach((_, i) => {
      const pair = [fromA[i]!, fromB[i]!]
      expect(pair.filter((o) => o._tag === "Success")).toHaveLength(1)
      expect(pair.find((o) => o._tag === "Failure")).toMatchObject({ failure: { _tag: "IdempotencyConflict" } })
    })
    const heldByA = fromA.filter((o) => o._tag === "Success").length
    expect(await run(ledger.store.balance(a))).toMatchObject({ pending: heldByA * 10 })
    expect(await run(ledger.store.balance(b))).toMatchObject({ pending: (300 - heldByA) * 10 })
    await journalMatchesBalances()
  })

  it("keeps serving other payers while another transaction holds one payer's row, then serves that payer in its own lane", async () => {
    const hot = account("org_locked_elsewhere")
    const others = [0, 1, 2, 3, 4].map((n) => account(`org_free_${n}`))
    for (const p of [hot, ...others]) await fund(p, 1000)
    const locked = Promise.withResolvers<void>()
    const unlock = Promise.withResolvers<void>()
    // Another process in the middle of a transaction on the hot payer.
    const blocker = runSql((sql) =>
      sql.withTransaction(Effect.gen(function*() {
        yield* sql`SELECT 1 FROM accounts WHERE id = ${hot} FOR NO KEY UPDATE`
        locked.resolve()
        yield* Effect.promise(() => unlock.promise)
      }))
    )
    await locked.promise
    const before = await counters()
    let hotDone = false
    const hotBurst = reserveAll(ledger.store, Array.from({ length: 20 }, (_, i) => ({ id: `hot-${i}`, account: hot, amount: 10 })))
      .then((outcomes) => {
        hotDone = true
        return outcomes
      })
    const freeOutcomes = await reserveAll(
      ledger.store,
      Array.from({ length: 50 }, (_, i) => ({ id: `free-${i}`, account: others[i % others.length]!, amount: 10 }))
    )
    expect(freeOutcomes.every((o) => o._tag === "Success")).toBe(true)
    expect(hotDone).toBe(false)

    unlock.resolve()
    await blocker
    const hotOutcomes = await hotBurst
    expect(hotOutcomes.every((o) => o._tag === "Success")).toBe(true)
    const batching = await since(before)
    console.log(`a payer locked elsewhere: ${JSON.stringify(batching)}`)
    // The hot payer's 20 reserves waited in its own lane, together.
    expect(batching.contended).toBeGreaterThanOrEqual(1)
    expect(batching.contended).toBeLessThanOrEqual(3)
    expect(await run(ledger.store.balance(hot))).toMatchObject({ pending: 200 })
    for (const p of others) expect(await run(ledger.store.balance(p))).toMatchObject({ pending: 100 })

    // Its settlements follow the same way, and the journal still balances.
    await run(Effect.forEach(
      Array.from({ length: 20 }, (_, i) => holdId(`hot-${i}`)),
      (hold) => ledger.store.settle({ hold, amount: 5, at: 3 }),
      { concurrency: "unbounded", discard: true }
    ))
    expect(await run(ledger.store.balance(hot))).toEqual({ account: hot, posted: 900, pending: 0, available: 900 })
    expect(await sumOfPosted()).toBe(0)
    await journalMatchesBalances()
  })

  it("keeps to the balance when reserves, settlements and releases of one payer interleave (300 rounds)", async () => {
    // A release commits between a batch's snapshot and its lock on the payer: the batch must
    // work from the locked balance, not from the older one its snapshot saw.
    for (let round = 0; round < 300; round++) {
      const payer = account(`org_interleaved_${round}`)
      await fund(payer, 500_000)
      const outcomes = await Promise.all(Array.from({ length: 8 }, async (_, i) => {
        const id = holdId(`i-${round}-${i}`)
        const amount = (i * 7 + round) % 3 === 0 ? 96_000 : 48_000
        await new Promise((r) => setTimeout(r, (i * 13 + round) % 3))
        const held = await run(Effect.exit(ledger.store.reserve({ id, account: payer, amount, at: 2, expiresAt: 600_000 })))
        if (held._tag === "Failure") return held
        await new Promise((r) => setTimeout(r, (i * 5 + round) % 3))
        return (i + round) % 2 === 0
          ? run(Effect.exit(ledger.store.settle({ hold: id, amount, at: 3 })))
          : run(Effect.exit(ledger.store.release({ hold: id, at: 3 })))
      }))
      for (const exit of outcomes) {
        if (exit._tag === "Failure") expect(exit.cause.reasons.map((r) => r._tag)).toEqual(["Fail"])
      }
      const balance = await run(ledger.store.balance(payer))
      expect(balance.pending).toBe(0)
      expect(balance.available).toBeGreaterThanOrEqual(0)
    }
    await journalMatchesBalances()
  })

  it("runs a batch again when another transaction commits one of its ids while it waits", async () => {
    const a = account("org_waiting")
    const b = account("org_committing")
    await fund(a, 1000)
    await fund(b, 1000)
    const inserted = Promise.withResolvers<void>()
    const commit = Promise.withResolvers<void>()
    // Another writer claims "w-5" and keeps its transaction open.
    const blocker = runSql((sql) =>
      sql.withTransaction(Effect.gen(function*() {
        yield* sql`INSERT INTO holds (id, account, amount, status, created_at, expires_at) VALUES ('w-5', ${b}, 10, 'pending', 2, 600000)`
        yield* sql`UPDATE accounts SET pending = pending + 10 WHERE id = ${b}`
        inserted.resolve()
        yield* Effect.promise(() => commit.promise)
      }))
    )
    await inserted.promise
    const before = await counters()
    const burst = reserveAll(ledger.store, Array.from({ length: 10 }, (_, i) => ({ id: `w-${i}`, account: a, amount: 10 })))
    // Commit only once the batch is waiting on that uncommitted id.
    for (let i = 0; i < 500; i++) {
      const [waiting] = await runSql((sql) =>
        sql<{ n: number }>`SELECT count(*)::int AS n FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%unnest%'`
      )
      if ((waiting?.n ?? 0) > 0) break
      await new Promise((r) => setTimeout(r, 10))
    }
    commit.resolve()
    await blocker
    const outcomes = await burst
    expect(outcomes.map((o) => o._tag === "Success" ? "held" : o.failure._tag)).toEqual(
      Array.from({ length: 10 }, (_, i) => i === 5 ? "IdempotencyConflict" : "held")
    )
    // The first statement was undone by the duplicate id; the second saw it taken.
    expect((await since(before)).statements).toBe(2)
    expect(await run(ledger.store.balance(a))).toMatchObject({ pending: 90 })
    expect(await run(ledger.store.balance(b))).toMatchObject({ pending: 10 })
    await journalMatchesBalances()
  })
})
