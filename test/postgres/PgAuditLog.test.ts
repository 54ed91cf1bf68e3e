import { Cause, Effect, Exit } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { afterAll, beforeAll, beforeEach, expect, it } from "vitest"
import { type AuditEntry, AuditLog } from "../../src/application/ports/AuditLog.ts"
import { PgAuditLog } from "../../src/adapters/postgres/PgAuditLog.ts"
import { openTestDatabase, type TestDatabase } from "../../specs/support/postgres.ts"

let db: TestDatabase
beforeAll(async () => {
  db = await openTestDatabase({ maxConnections: 4 })
})
afterAll(async () => {
  await db?.close()
})
beforeEach(async () => {
  await db.run(db.truncate)
})

const entry = (i: number, fields: Partial<AuditEntry> = {}): AuditEntry => ({
  at: 1_000 + i,
  kind: "admin",
  actor: "cli:ops",
  action: "credits.grant",
  target: `account:org_${i}`,
  outcome: "ok",
  after: { credits: i },
  ...fields
})

const withLog = <A, E>(f: (log: AuditLog["Service"]) => Effect.Effect<A, E>) =>
  db.run(Effect.provide(AuditLog.use(f), PgAuditLog))

/** The database's own error message for a statement that fails. */
const refusal = (statement: string) =>
  db.run(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const error = yield* Effect.flip(sql.unsafe(statement))
    return String((error as any).reason?.cause?.message ?? error)
  }))

it("refuses, in the database itself, to update or delete an audit entry", async () => {
  await withLog((log) => log.append([entry(1), entry(2)]))
  const before = await withLog((log) => log.list({ limit: 10 }))
  expect(before).toHaveLength(2)

  expect(await refusal(`UPDATE audit_log SET outcome = 'rewritten'`)).toContain("append-only (UPDATE on audit_log)")
  expect(await refusal(`UPDATE audit_log SET after = NULL WHERE target = 'account:org_1'`)).toContain("append-only")
  expect(await refusal(`DELETE FROM audit_log`)).toContain("append-only (DELETE on audit_log)")
  expect(await refusal(`DELETE FROM audit_log WHERE target = 'account:org_2'`)).toContain("append-only")

  expect(await withLog((log) => log.list({ limit: 10 }))).toStrictEqual(before)
})

it("appends a batch far beyond one statement's parameter limit for row-wise VALUES, in order", async () => {
  // 11 columns × 10,000 rows would be 110,000 parameters; the arrays make it eleven.
  const batch = Array.from({ length: 10_000 }, (_, i) => entry(i, i % 2 === 0 ? { requestId: `req_${i}` } : {}))
  await withLog((log) => log.append(batch))
  const listed = await withLog((log) => log.list({ limit: 20_000 }))
  expect(listed).toHaveLength(10_000)
  expect(listed.map(({ seq: _, ...e }) => e)).toStrictEqual([...batch].reverse())
  const seqs = listed.map((e) => e.seq).reverse()
  // One statement over the identity: consecutive numbers in the batch's order.
  expect(seqs).toEqual(seqs.map((_, i) => seqs[0]! + i))
})

it("appends a batch whole or not at all: one entry the table refuses keeps the whole batch out", async () => {
  await withLog((log) => log.append([entry(1)]))
  const bad = entry(3, { kind: "nonsense" as AuditEntry["kind"] })
  const exit = await db.run(Effect.exit(Effect.provide(AuditLog.use((log) => log.append([entry(2), bad, entry(4)])), PgAuditLog)))
  expect(Exit.isFailure(exit) && Cause.hasDies(exit.cause)).toBe(true)
  expect((await withLog((log) => log.list({ limit: 10 }))).map((e) => e.target)).toEqual(["account:org_1"])
})
