import { Effect } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { afterAll, beforeAll, beforeEach, expect } from "vitest"
import type { LedgerStore } from "../../../src/application/ports/LedgerStore.ts"
import { makePgLedgerStore } from "../../../src/adapters/postgres/PgLedgerStore.ts"
import type { AccountId, TransferId } from "../../../src/domain/Ids.ts"
import { openTestDatabase, type TestDatabase } from "../../../specs/support/postgres.ts"

export const run = <A, E>(effect: Effect.Effect<A, E>) => Effect.runPromise(effect)

/**
 * A test file's own database with a `PgLedgerStore` on it (every table emptied before each
 * test), and the checks the ledger's tests share. Call it while the file is being collected.
 */
export const useLedgerDatabase = () => {
  let db: TestDatabase | undefined
  let store: LedgerStore["Service"] | undefined

  beforeAll(async () => {
    db = await openTestDatabase({ maxConnections: 20 })
    store = await db.run(makePgLedgerStore)
  })
  afterAll(async () => {
    await db?.close()
  })
  beforeEach(async () => {
    await run(db!.truncate)
  })

  const runSql = <A>(f: (sql: SqlClient.SqlClient) => Effect.Effect<A, unknown>) =>
    db!.run(Effect.gen(function*() {
      return yield* f(yield* SqlClient.SqlClient)
    }))

  return {
    get db(): TestDatabase {
      return db!
    },
    get store(): LedgerStore["Service"] {
      return store!
    },
    runSql,
    /** Each customer's stored `posted` equals what the journal says it received minus what it paid. */
    journalMatchesBalances: async () => {
      const mismatches = await runSql((sql) =>
        sql`
          SELECT a.id FROM accounts a
          WHERE a.posted <> COALESCE((SELECT SUM(amount) FROM transfers WHERE credit = a.id), 0)
                          - COALESCE((SELECT SUM(amount) FROM transfers WHERE debit = a.id), 0)
             OR a.pending <> COALESCE((SELECT SUM(amount) FROM holds WHERE account = a.id AND status = 'pending'), 0)`
      )
      expect(mismatches).toEqual([])
    },
    sumOfPosted: async () => (await run(store!.balances)).reduce((sum, b) => sum + b.posted, 0),
    fund: (to: AccountId, amount: number, id = `fund-${to}`) =>
      run(store!.grant({ id: id as TransferId, account: to, amount, reason: "test funding", at: 1 }))
  }
}
