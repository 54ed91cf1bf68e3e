import { Effect, Option } from "effect"
import { type ChildProcessWithoutNullStreams, spawn } from "node:child_process"
import { once } from "node:events"
import { join } from "node:path"
import { createInterface } from "node:readline"
import { describe, expect, it } from "vitest"
import { type AccountId, type HoldId, IssuanceAccount, RevenueAccount, type TransferId } from "../../src/domain/Ids.ts"
import { run, useLedgerDatabase } from "./support/LedgerDatabase.ts"

const account = (s: string) => s as AccountId
const holdId = (s: string) => s as HoldId
const transferId = (s: string) => s as TransferId

const ledger = useLedgerDatabase()
const { runSql, journalMatchesBalances, sumOfPosted, fund } = ledger

describe("PgLedgerStore on a real PostgreSQL", () => {
  const K = 137
  const AMOUNT = 7

  it(`lets exactly ${K} of 1,000 concurrent reserves through on a payer funded for ${K} holds`, async () => {
    const payer = account("org_concurrent_payer")
    await fund(payer, K * AMOUNT)
    const started = Date.now()
    const outcomes = await run(Effect.forEach(
      Array.from({ length: 1000 }, (_, i) => i),
      (i) =>
        Effect.result(ledger.store.reserve({ id: holdId(`c-${i}`), account: payer, amount: AMOUNT, at: 2, expiresAt: 600_000 })),
      { concurrency: "unbounded" }
    ))
    const elapsed = Date.now() - started
    const held = outcomes.filter((o) => o._tag === "Success").length
    const refusals = outcomes.flatMap((o) => o._tag === "Failure" ? [o.failure._tag] : [])
    console.log(`1,000 concurrent reserves in one process: ${held} held, ${refusals.length} refused, ${elapsed} ms`)

    expect(held).toBe(K)
    expect(new Set(refusals)).toEqual(new Set(["InsufficientCredits"]))
    expect(refusals).toHaveLength(1000 - K)
    expect(await run(ledger.store.balance(payer))).toEqual({ account: payer, posted: K * AMOUNT, pending: K * AMOUNT, available: 0 })
    const [holds] = await runSql((sql) => sql<{ n: number }>`SELECT count(*) AS n FROM holds WHERE account = ${payer}`)
    expect(holds?.n).toBe(K)
    expect(await sumOfPosted()).toBe(0)
    await journalMatchesBalances()

    // Settling every hold keeps double entry: the payer's loss is revenue's gain.
    await run(Effect.forEach(
      outcomes.flatMap((o) => o._tag === "Success" ? [o.success.id] : []),
      (hold) => ledger.store.settle({ hold, amount: AMOUNT - 2, at: 3 }),
      { concurrency: 20 }
    ))
    expect(await run(ledger.store.balance(payer))).toMatchObject({ posted: K * 2, pending: 0, available: K * 2 })
    expect(await run(ledger.store.balance(RevenueAccount))).toMatchObject({ posted: K * (AMOUNT - 2) })
    expect(await sumOfPosted()).toBe(0)
    await journalMatchesBalances()
  })

  it(`lets exactly ${K} reserves through when three OS processes share the database`, async () => {
    const payer = account("org_three_processes")
    await fund(payer, K * AMOUNT)
    const worker = join(import.meta.dirname, "reserveWorker.ts")
    // process.execPath is the Node 24 that runs this test (the one `npx node` resolves to).
    const children: Array<ChildProcessWithoutNullStreams> = [0, 1, 2].map((n) =>
      spawn(process.execPath, [worker], {
        env: {
          ...process.env,
          DATABASE_URL: ledger.db.url,
          PG_SCHEMA: ledger.db.schema,
          ACCOUNT: payer,
          COUNT: "400",
          AMOUNT: String(AMOUNT),
          PREFIX: `p${n}`
        }
      })
    )
    try {
      const lines = children.map((child) => {
        const stderr: Array<string> = []
        child.stderr.on("data", (chunk) => stderr.push(String(chunk)))
        const reader = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
        return async () => {
          const next = await reader.next()
          if (next.done) throw new Error(`worker exited early: ${stderr.join("")}`)
          return next.value
        }
      })
      expect(await Promise.all(lines.map((next) => next()))).toEqual(["ready", "ready", "ready"])
      for (const child of children) child.stdin.write("go\n")
      const results = (await Promise.all(lines.map((next) => next()))).map((line) =>
        JSON.parse(line) as { tally: Record<string, number>; ms: number }
      )
      await Promise.all(children.map((child) => child.exitCode === null ? once(child, "exit") : undefined))
      console.log(`3 processes × 400 reserves: ${JSON.stringify(results)}`)

      const held = results.reduce((sum, r) => sum + (r.tally.held ?? 0), 0)
      const insufficient = results.reduce((sum, r) => sum + (r.tally.InsufficientCredits ?? 0), 0)
      expect(held).toBe(K)
      expect(insufficient).toBe(3 * 400 - K)
      expect(children.map((child) => child.exitCode)).toEqual([0, 0, 0])
      expect(await run(ledger.store.balance(payer))).toMatchObject({ pending: K * AMOUNT, available: 0 })
      expect(await sumOfPosted()).toBe(0)
      await journalMatchesBalances()
    } finally {
      for (const child of children) if (child.exitCode === null) child.kill()
    }
  })

  it("keeps a monthly cap under 200 concurrent capped reserves", async () => {
    const payer = account("org_capped")
    await fund(payer, 1_000_000)
    // 30 already spent this period: the cap of 730 leaves room for exactly 100 holds of 7.
    await run(ledger.store.reserve({ id: holdId("earlier"), account: payer, amount: 30, at: 1, expiresAt: 600_000 }))
    await run(ledger.store.settle({ hold: holdId("earlier"), amount: 30, at: 1 }))
    const cap = { limit: 730, since: 0 }
    const outcomes = await run(Effect.forEach(
      Array.from({ length: 200 }, (_, i) => i),
      (i) => Effect.result(ledger.store.reserve({ id: holdId(`cap-${i}`), account: payer, amount: AMOUNT, at: 2, expiresAt: 600_000, cap })),
      { concurrency: "unbounded" }
    ))
    const refusals = outcomes.flatMap((o) => o._tag === "Failure" ? [o.failure._tag] : [])
    expect(outcomes.length - refusals.length).toBe(100)
    expect(new Set(refusals)).toEqual(new Set(["MonthlyCapExceeded"]))
    expect(await run(ledger.store.spentSince(payer, 0))).toBe(730)
    await journalMatchesBalances()
  })

  describe("replays", () => {
    const payer = account("8d3c2b1a-0f9e-4d8c-b7a6-958473625140")

    it("answers an identical grant replay with the first transfer, and a different one with a conflict", async () => {
      const first = await run(ledger.store.grant({ id: transferId("g1"), account: payer, amount: 500, reason: "a", at: 1 }))
      const replay = await run(ledger.store.grant({ id: transferId("g1"), account: payer, amount: 500, reason: "a", at: 99 }))
      expect(replay).toEqual(first)
      for (const different of [{ amount: 501, account: payer }, { amount: 500, account: account("org_other") }]) {
        const e = await run(Effect.flip(ledger.store.grant({ id: transferId("g1"), reason: "a", at: 1, ...different })))
        expect(e).toMatchObject({ _tag: "IdempotencyConflict", id: "g1", reason: "different_content" })
      }
      expect(await run(ledger.store.balance(payer))).toMatchObject({ posted: 500 })
      expect(await run(ledger.store.balance(account("org_other")))).toMatchObject({ posted: 0 })
    })

    it("answers an identical reserve replay with the hold, and a different one with a conflict", async () => {
      await fund(payer, 1000)
      const first = await run(ledger.store.reserve({ id: holdId("h1"), account: payer, amount: 300, at: 2, expiresAt: 100 }))
      const replay = await run(ledger.store.reserve({ id: holdId("h1"), account: payer, amount: 300, at: 5, expiresAt: 200 }))
      expect(replay).toEqual(first)
      const e = await run(Effect.flip(ledger.store.reserve({ id: holdId("h1"), account: payer, amount: 301, at: 2, expiresAt: 100 })))
      expect(e).toMatchObject({ _tag: "IdempotencyConflict", id: "h1", reason: "different_content" })
      expect(await run(ledger.store.balance(payer))).toMatchObject({ pending: 300 })
    })

    it("holds once when twenty identical reserves race", async () => {
      await fund(payer, 1000)
      const holds = await run(Effect.all(
        Array.from({ length: 20 }, () => ledger.store.reserve({ id: holdId("race"), account: payer, amount: 300, at: 2, expiresAt: 100 })),
        { concurrency: "unbounded" }
      ))
      expect(new Set(holds.map((h) => JSON.stringify(h))).size).toBe(1)
      expect(await run(ledger.store.balance(payer))).toMatchObject({ posted: 1000, pending: 300 })
    })

    it("answers an identical settle replay with the first outcome, and a different amount with a conflict", async () => {
      await fund(payer, 1000)
      await run(ledger.store.reserve({ id: holdId("h1"), account: payer, amount: 300, at: 2, expiresAt: 100 }))
      const settles = await run(Effect.all(
        Array.from({ length: 10 }, () => ledger.store.settle({ hold: holdId("h1"), amount: 120, at: 3 })),
        { concurrency: "unbounded" }
      ))
      const first = settles[0]!
      expect(first.hold).toMatchObject({ status: "settled", settled: 120 })
      expect(Option.getOrThrow(first.transfer)).toMatchObject({ kind: "settle", amount: 120, hold: "h1" })
      for (const s of settles) expect(s).toEqual(first)
      const e = await run(Effect.flip(ledger.store.settle({ hold: holdId("h1"), amount: 121, at: 3 })))
      expect(e).toMatchObject({ _tag: "IdempotencyConflict", id: "h1" })
      expect(await run(ledger.store.balance(payer))).toEqual({ account: payer, posted: 880, pending: 0, available: 880 })
      expect(await run(ledger.store.transfers({ account: payer }))).toHaveLength(2)
    })

    it("answers an identical refund replay with the first transfer, and different content with a conflict", async () => {
      await fund(payer, 1000)
      await run(ledger.store.reserve({ id: holdId("h1"), account: payer, amount: 300, at: 2, expiresAt: 100 }))
      await run(ledger.store.settle({ hold: holdId("h1"), amount: 300, at: 3 }))
      const refund = { id: transferId("r1"), transfer: transferId("settle:h1"), amount: 100, reason: "support", at: 4 }
      const refunds = await run(Effect.all(Array.from({ length: 10 }, () => ledger.store.refund(refund)), { concurrency: "unbounded" }))
      for (const r of refunds) expect(r).toEqual(refunds[0])
      expect(refunds[0]).toMatchObject({ kind: "refund", debit: RevenueAccount, credit: payer, refundOf: "settle:h1" })
      const e = await run(Effect.flip(ledger.store.refund({ ...refund, amount: 101 })))
      expect(e).toMatchObject({ _tag: "IdempotencyConflict", id: "r1" })
      expect(await run(ledger.store.balance(payer))).toMatchObject({ posted: 800 })
      const over = await run(Effect.flip(ledger.store.refund({ ...refund, id: transferId("r2"), amount: 201 })))
      expect(over).toMatchObject({ _tag: "RefundExceedsTransfer", refundable: 200, requested: 201 })
      expect(await sumOfPosted()).toBe(0)
    })
  })

  it("releases each expired hold exactly once when several sweepers run at once", async () => {
    const payers = [0, 1, 2, 3, 4].map((n) => account(`org_sweep_${n}`))
    for (const p of payers) await fund(p, 1_000_000)
    // 1,200 holds due at 1,000 ms, 300 that outlive the sweep.
    const holds = Array.from({ length: 1500 }, (_, i) => ({
      id: holdId(`s-${i}`),
      account: payers[i % payers.length]!,
      amount: 1 + (i % 13),
      expiresAt: i < 1200 ? 1_000 : 9_000
    }))
    await run(Effect.forEach(holds, (h) => ledger.store.reserve({ ...h, at: 0 }), { concurrency: 20, discard: true }))
    // Settlements race the sweepers for some of the due holds: each hold ends one way only.
    const contested = holds.slice(0, 100)
    const started = Date.now()
    const [counts, settled] = await run(Effect.all([
      Effect.all(Array.from({ length: 6 }, () => ledger.store.expireHolds(5_000)), { concurrency: "unbounded" }),
      Effect.forEach(contested, (h) => Effect.result(ledger.store.settle({ hold: h.id, amount: 1, at: 5_000 })), {
        concurrency: 10
      })
    ], { concurrency: "unbounded" }))
    const settledCount = settled.filter((r) => r._tag === "Success").length
    const expiredCount = counts.reduce((a, b) => a + b, 0)
    console.log(
      `6 sweepers: ${JSON.stringify(counts)} expired (${expiredCount}), ${settledCount} settled first, ${Date.now() - started} ms`
    )
    expect(expiredCount + settledCount).toBe(1200)
    for (const r of settled) {
      if (r._tag === "Failure") expect(r.failure).toMatchObject({ _tag: "HoldAlreadyResolved", status: "expired" })
    }
    const statuses = await runSql((sql) =>
      sql<{ status: string; n: number }>`SELECT status, count(*) AS n FROM holds GROUP BY status ORDER BY status`
    )
    expect(statuses).toEqual([
      ...(expiredCount > 0 ? [{ status: "expired", n: expiredCount }] : []),
      { status: "pending", n: 300 },
      ...(settledCount > 0 ? [{ status: "settled", n: settledCount }] : [])
    ])
    expect(await run(ledger.store.expireHolds(5_000))).toBe(0)
    await journalMatchesBalances()
    expect(await sumOfPosted()).toBe(0)
  })

  it("refuses, in the database itself, an account whose pending exceeds its posted balance", async () => {
    const payer = account("org_check_constraint")
    await fund(payer, 1000)
    const error = await runSql((sql) =>
      Effect.flip(sql`UPDATE accounts SET pending = posted + 1 WHERE id = ${payer}`)
    )
    expect(error).toMatchObject({
      _tag: "SqlError",
      reason: { _tag: "ConstraintError" }
    })
    expect(String((error as any).reason.cause?.message ?? error)).toContain("accounts_available_not_negative")
    expect(await run(ledger.store.balance(payer))).toEqual({ account: payer, posted: 1000, pending: 0, available: 1000 })
  })

  it("refuses to rewrite the journal", async () => {
    await fund(account("org_journal"), 1000, "g-journal")
    const error = await runSql((sql) => Effect.flip(sql`UPDATE transfers SET amount = 1 WHERE id = 'g-journal'`))
    expect(String((error as any).reason?.cause?.message ?? error)).toContain("append-only")
    expect(await run(ledger.store.balance(IssuanceAccount))).toMatchObject({ posted: -1000 })
  })

  it("creates the payer's account when a first reserve is refused, as the in-memory ledger does", async () => {
    const payer = account("org_never_funded")
    const e = await run(Effect.flip(ledger.store.reserve({ id: holdId("x"), account: payer, amount: 1, at: 0, expiresAt: 1 })))
    expect(e).toMatchObject({ _tag: "InsufficientCredits", account: payer, required: 1, available: 0 })
    expect(await run(ledger.store.balances)).toEqual([{ account: payer, posted: 0, pending: 0, available: 0 }])
    expect(Option.isNone(await run(ledger.store.hold(holdId("x"))))).toBe(true)
  })
})
