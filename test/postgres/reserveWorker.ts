/**
 * One of several OS processes reserving on the same payer (PgLedgerStore.test.ts). Connects, says
 * `ready`, waits for a line on stdin, runs its reserves concurrently and prints one JSON line.
 *
 * Environment: DATABASE_URL, PG_SCHEMA, ACCOUNT, COUNT, AMOUNT, PREFIX.
 */
import { Effect, Redacted } from "effect"
import { once } from "node:events"
import { makePgLedgerStore } from "../../src/adapters/postgres/PgLedgerStore.ts"
import * as PgDatabase from "../../src/adapters/postgres/PgDatabase.ts"
import type { AccountId, HoldId } from "../../src/domain/Ids.ts"

const env = (name: string) => {
  const value = process.env[name]
  if (value === undefined) throw new Error(`${name} is not set`)
  return value
}

const count = Number(env("COUNT"))
const amount = Number(env("AMOUNT"))
const account = env("ACCOUNT") as AccountId
const prefix = env("PREFIX")

const program = Effect.gen(function*() {
  const store = yield* makePgLedgerStore
  // Open the pool's connections before the start signal, so the processes contend for real.
  yield* Effect.forEach(Array.from({ length: 10 }), () => store.balance(account), { concurrency: "unbounded" })
  process.stdout.write("ready\n")
  yield* Effect.promise(() => once(process.stdin, "data"))
  const started = Date.now()
  const outcomes = yield* Effect.forEach(
    Array.from({ length: count }, (_, i) => i),
    (i) =>
      store.reserve({ id: `${prefix}-${i}` as HoldId, account, amount, at: Date.now(), expiresAt: Date.now() + 600_000 })
        .pipe(Effect.result),
    { concurrency: "unbounded" }
  )
  const tally: Record<string, number> = {}
  for (const o of outcomes) {
    const key = o._tag === "Success" ? "held" : o.failure._tag
    tally[key] = (tally[key] ?? 0) + 1
  }
  process.stdout.write(JSON.stringify({ tally, ms: Date.now() - started }) + "\n")
})

Effect.runPromise(program.pipe(
  Effect.provide(PgDatabase.layer({
    url: Redacted.make(env("DATABASE_URL")),
    maxConnections: 10,
    startupParameters: { search_path: env("PG_SCHEMA") }
  }))
)).then(
  () => process.exit(0),
  (error) => {
    process.stderr.write(`${String(error)}\n${JSON.stringify(error?.reason ?? error?.cause ?? error, null, 1)}\n`)
    process.exit(1)
  }
)
