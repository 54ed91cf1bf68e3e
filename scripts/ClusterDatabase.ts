/**
 * The database of `npm run bench:cluster`: a fresh database created for the run on a
 * PostgreSQL server and dropped at the end, and the ledger read back from it with SQL.
 */
import pg from "pg"
import { type ScratchPostgres, startScratchPostgres } from "../specs/support/ScratchPostgres.ts"

export interface BenchDatabase {
  readonly url: string
  /** Where it lives, for the report (never a password). */
  readonly where: string
  readonly version: string
  readonly drop: () => Promise<void>
}

const DEFAULT_SERVER = "postgres://postgres@127.0.0.1:5432/postgres"

const withoutPassword = (url: string) => {
  const u = new URL(url)
  u.password = ""
  return `${u.host}`
}

const connect = async (url: string, timeoutMs: number) => {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: timeoutMs })
  await client.connect()
  return client
}

/** A refused or unanswered connection: nothing listens there (an auth error means something does). */
const nobodyAnswers = (error: unknown) => {
  const text = `${(error as { code?: string }).code ?? ""} ${(error as Error).message ?? ""}`
  return /ECONNREFUSED|ENOENT|timeout|ETIMEDOUT|EHOSTUNREACH/i.test(text)
}

/**
 * Creates `image_gateway_bench_<pid>` on BENCH_DATABASE_URL's server (default: the machine's
 * PostgreSQL at 127.0.0.1:5432 as `postgres`). If BENCH_DATABASE_URL is `embedded`, or it is
 * unset and nothing answers on the default, a scratch cluster of the project's embedded
 * PostgreSQL is started instead (fsync on, as shipped). Any other failure stops the run with
 * one line saying why.
 */
export const openBenchDatabase = async (): Promise<BenchDatabase> => {
  const configured = process.env["BENCH_DATABASE_URL"]
  let scratch: ScratchPostgres | undefined
  let server = configured === undefined || configured === "embedded" ? DEFAULT_SERVER : configured
  let admin: pg.Client
  try {
    if (configured === "embedded") throw Object.assign(new Error("embedded asked for"), { code: "ECONNREFUSED" })
    admin = await connect(server, 3_000)
  } catch (error) {
    if (configured !== undefined && configured !== "embedded") {
      throw new Error(`BENCH_DATABASE_URL (${withoutPassword(server)}): ${(error as Error).message}`)
    }
    if (!nobodyAnswers(error)) throw new Error(`PostgreSQL at ${withoutPassword(server)}: ${(error as Error).message}`)
    if (configured === undefined) console.log(`No PostgreSQL answers at ${withoutPassword(server)}: starting the embedded PostgreSQL in a scratch directory.`)
    scratch = await startScratchPostgres({ prefix: "image-gateway-bench-", settings: ["max_connections=200"] })
    server = scratch.url
    admin = await connect(server, 10_000)
  }
  const name = `image_gateway_bench_${process.pid}`
  try {
    const version = (await admin.query("SHOW server_version")).rows[0].server_version as string
    await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    await admin.query(`CREATE DATABASE ${name}`)
    const url = new URL(server)
    url.pathname = `/${name}`
    return {
      url: url.toString(),
      where: scratch === undefined ? `database ${name} on ${withoutPassword(server)}` : `embedded PostgreSQL (scratch cluster), database ${name}`,
      version,
      drop: async () => {
        try {
          await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
        } finally {
          await admin.end()
          await scratch?.stop()
        }
      }
    }
  } catch (error) {
    await admin.end()
    await scratch?.stop()
    throw new Error(`PostgreSQL at ${withoutPassword(server)}: cannot create the bench database: ${(error as Error).message}`)
  }
}

/**
 * The median time of a one-row INSERT committed on its own (`count` of them): the floor of
 * every commit a generation waits for (fsync of the WAL, on this server's disk and settings).
 */
export const commitMs = async (url: string, count = 20): Promise<number> => {
  const client = await connect(url, 10_000)
  try {
    await client.query("CREATE TABLE bench_commit_probe (x int)")
    const times: Array<number> = []
    for (let i = 0; i < count; i++) {
      const started = performance.now()
      await client.query("INSERT INTO bench_commit_probe VALUES (1)")
      times.push(performance.now() - started)
    }
    await client.query("DROP TABLE bench_commit_probe")
    return times.sort((a, b) => a - b)[Math.floor(count / 2)]!
  } finally {
    await client.end()
  }
}

export interface LedgerFacts {
  /** Σ over every account, system accounts included, of its credits − its debits. */
  readonly journalSum: number
  readonly issuance: number
  readonly revenue: number
  /** Customer accounts whose posted, pending or available balance is below 0. */
  readonly overdrawn: number
  /** Customer accounts whose stored posted or pending balance disagrees with the journal and holds. */
  readonly offJournal: number
  readonly accounts: number
  readonly holds: Record<string, number>
  /** Settle transfers: their hold and amount. */
  readonly settles: ReadonlyArray<{ readonly hold: string; readonly amount: number }>
  readonly grants: { readonly count: number; readonly amount: number }
  readonly refunds: number
  readonly usageEvents: Record<string, number>
  readonly transfers: number
}

export const readLedger = async (url: string): Promise<LedgerFacts> => {
  const client = await connect(url, 10_000)
  try {
    const q = async (text: string) => (await client.query(text)).rows
    const balances = await q(`
      WITH moves AS (SELECT credit AS account, amount AS delta FROM transfers
                     UNION ALL SELECT debit, -amount FROM transfers)
      SELECT account, sum(delta)::float8 AS balance FROM moves GROUP BY account`)
    const balanceOf = (account: string) => Number(balances.find((b) => b.account === account)?.balance ?? 0)
    const [overdrawn] = await q(`SELECT count(*)::int AS n FROM accounts WHERE posted < 0 OR pending < 0 OR posted - pending < 0`)
    const [off] = await q(`
      SELECT count(*)::int AS n FROM accounts a
      WHERE a.posted <> (SELECT COALESCE(sum(CASE WHEN t.credit = a.id THEN t.amount ELSE -t.amount END), 0)
                         FROM transfers t WHERE t.credit = a.id OR t.debit = a.id)
         OR a.pending <> (SELECT COALESCE(sum(h.amount), 0) FROM holds h WHERE h.account = a.id AND h.status = 'pending')`)
    const [accounts] = await q(`SELECT count(*)::int AS n FROM accounts`)
    const holds = await q(`SELECT status, count(*)::int AS n FROM holds GROUP BY status`)
    const settles = await q(`SELECT hold, amount::float8 AS amount FROM transfers WHERE kind = 'settle'`)
    const [grants] = await q(`SELECT count(*)::int AS n, COALESCE(sum(amount), 0)::float8 AS total FROM transfers WHERE kind = 'grant'`)
    const [refunds] = await q(`SELECT count(*)::int AS n FROM transfers WHERE kind = 'refund'`)
    const [transfers] = await q(`SELECT count(*)::int AS n FROM transfers`)
    const usage = await q(`SELECT mode || ' ' || outcome AS k, count(*)::int AS n FROM usage_events GROUP BY 1`)
    return {
      journalSum: balances.reduce((sum, b) => sum + Number(b.balance), 0),
      issuance: balanceOf("system:issuance"),
      revenue: balanceOf("system:revenue"),
      overdrawn: overdrawn.n,
      offJournal: off.n,
      accounts: accounts.n,
      holds: Object.fromEntries(holds.map((h) => [h.status, h.n])),
      settles: settles.map((s) => ({ hold: s.hold as string, amount: Number(s.amount) })),
      grants: { count: grants.n, amount: Number(grants.total) },
      refunds: refunds.n,
      usageEvents: Object.fromEntries(usage.map((u) => [u.k, u.n])),
      transfers: transfers.n
    }
  } finally {
    await client.end()
  }
}

/** Holds still pending, polled every 250 ms until none is left or `deadlineMs` passes. */
export const waitForNoPendingHolds = async (url: string, deadlineMs: number): Promise<number> => {
  const client = await connect(url, 10_000)
  try {
    const deadline = Date.now() + deadlineMs
    for (;;) {
      const pending = (await client.query(`SELECT count(*)::int AS n FROM holds WHERE status = 'pending'`)).rows[0].n as number
      if (pending === 0 || Date.now() > deadline) return pending
      await new Promise((wake) => setTimeout(wake, 250))
    }
  } finally {
    await client.end()
  }
}
