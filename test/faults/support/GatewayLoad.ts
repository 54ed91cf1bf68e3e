/**
 * Billed generations against a gateway process, and the ledger read straight from its
 * PostgreSQL database: what the fault suites that kill a process or its database compare.
 */
import { Effect, Exit, Layer, Redacted, Scope } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import * as PgDatabase from "../../../src/adapters/postgres/PgDatabase.ts"
import { TEST_BYOK_KEY } from "../../../specs/support/postgres.ts"

export const PRESENTON_KEY = "sk-presenton-service-key-2025"

/**
 * The environment of a gateway process on the test database at `url`: migrated, demo data
 * seeded, the local provider drawing; a short provider deadline and hold lifetime so that the
 * sweeper resolves what a fault left pending within seconds.
 */
export const databaseGatewayEnv = (url: string, port: number, holdTtlSeconds: number) => ({
  DATABASE_URL: url,
  BYOK_ENCRYPTION_KEY: Redacted.value(TEST_BYOK_KEY),
  MIGRATE: "1",
  DEMO: "1",
  LOCAL_PROVIDER: "1",
  HOST: "127.0.0.1",
  PORT: String(port),
  STORAGE: "",
  PROVIDER_TIMEOUT_SECONDS: "2",
  HOLD_TTL_SECONDS: String(holdTtlSeconds)
})

/** What one request got: an answer, or none (refused, reset, or past its deadline). */
export type Outcome =
  | { readonly answered: true; readonly status: number; readonly code?: string | undefined; readonly chargedMillicredits: number; readonly ms: number }
  | { readonly answered: false; readonly error: string; readonly ms: number }

/** One billed generation on the local model, with an Idempotency-Key when given. */
export const generateOnce = async (origin: string, options: { readonly key?: string; readonly deadlineMs?: number } = {}): Promise<Outcome> => {
  const started = performance.now()
  try {
    const response = await fetch(`${origin}/v1/images/generations`, {
      method: "POST",
      headers: {
        authorization: `Bearer ${PRESENTON_KEY}`,
        "content-type": "application/json",
        ...(options.key === undefined ? {} : { "idempotency-key": options.key })
      },
      body: JSON.stringify({ prompt: "a lighthouse in a storm", model: "local", response_format: "b64_json" }),
      signal: AbortSignal.timeout(options.deadlineMs ?? 10_000)
    })
    const text = await response.text()
    let code: string | undefined
    try {
      code = JSON.parse(text)?.error?.code
    } catch {
      code = undefined
    }
    const charged = response.headers.get("x-credits-charged")
    return {
      answered: true,
      status: response.status,
      code,
      chargedMillicredits: charged === null ? 0 : Math.round(Number(charged) * 1000),
      ms: performance.now() - started
    }
  } catch (error) {
    return { answered: false, error: String((error as Error).cause ?? error), ms: performance.now() - started }
  }
}

export interface LedgerFacts {
  readonly holds: Record<string, number>
  readonly settles: number
  readonly settled: number
  /** Customer accounts whose stored posted or pending balance disagrees with the journal and holds. */
  readonly accountsOffJournal: number
}

/** The ledger's holds and settle transfers, read with SQL from `url`. */
export const readLedger = async (url: string): Promise<LedgerFacts> => {
  const scope = Scope.makeUnsafe()
  try {
    const client = await Effect.runPromise(Layer.buildWithScope(PgDatabase.layer({ url: Redacted.make(url), maxConnections: 1 }), scope))
    return await Effect.runPromise(Effect.provideContext(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const holds = yield* sql<{ status: string; n: number }>`SELECT status, count(*)::int8 AS n FROM holds GROUP BY status`
      const [settle] = yield* sql<{ n: number; total: number }>`
        SELECT count(*)::int8 AS n, COALESCE(sum(amount), 0)::int8 AS total FROM transfers WHERE kind = 'settle'`
      // Each customer account's stored balances against the journal and its pending holds.
      const [off] = yield* sql<{ n: number }>`
        SELECT count(*)::int8 AS n FROM accounts a
        WHERE a.posted <> (SELECT COALESCE(sum(CASE WHEN t.credit = a.id THEN t.amount ELSE -t.amount END), 0)
                           FROM transfers t WHERE t.credit = a.id OR t.debit = a.id)
           OR a.pending <> (SELECT COALESCE(sum(h.amount), 0) FROM holds h WHERE h.account = a.id AND h.status = 'pending')`
      return {
        holds: Object.fromEntries(holds.map((h) => [h.status, h.n])),
        settles: settle!.n,
        settled: settle!.total,
        accountsOffJournal: off!.n
      }
    }), client))
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

export const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms))

/** Polls `check` every 250 ms until it returns a value, failing after `deadlineMs`. */
export const waitUntil = async <A>(what: string, check: () => Promise<A | undefined>, deadlineMs: number): Promise<A> => {
  const deadline = Date.now() + deadlineMs
  for (;;) {
    const found = await check()
    if (found !== undefined) return found
    if (Date.now() > deadline) throw new Error(`${what}: not within ${deadlineMs} ms`)
    await sleep(250)
  }
}
