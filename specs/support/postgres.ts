import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import type { PgClient } from "@effect/sql-pg"
import * as SqlClient from "effect/sql/SqlClient"
import { randomBytes } from "node:crypto"
import { afterAll, inject } from "vitest"
import { PgAdapters } from "../../src/adapters/postgres/PgAdapters.ts"
import * as PgDatabase from "../../src/adapters/postgres/PgDatabase.ts"
import { migrate, TABLES } from "../../src/adapters/postgres/Migrations.ts"
import { type AdapterSet, IMAGE_BASE_URL } from "./AdapterSet.ts"
import { startTestServer } from "./TestServer.ts"

/** The BYOK encryption key of every test database. */
export const TEST_BYOK_KEY = Redacted.make("rOgOfQcYsF+5/6GWk8UEMBJ9LUD7vzyNKhGnrGcqeqQ=")

// --- the server: one per run ----------------------------------------------------------------

interface Server {
  readonly url: string
  readonly stop: () => Promise<void>
}

interface ServerSlot {
  server: Promise<Server> | undefined
  users: number
}

// On globalThis so that every module instance in this process shares one server.
const slot: ServerSlot = ((globalThis as any)[Symbol.for("image-gateway/test-postgres")] ??= {
  server: undefined,
  users: 0
})

/** The server vitest's globalSetup (TestServer.ts) started for the whole run, if it did. */
const runServer = (): string => {
  try {
    return inject("testPostgresUrl") ?? ""
  } catch {
    return ""
  }
}

/**
 * `DATABASE_URL` when set, else the run's embedded PostgreSQL (started once by globalSetup),
 * else one started in this process on first use and stopped after its last user.
 */
const acquireServer = (): Promise<Server> => {
  slot.users++
  const shared = process.env.DATABASE_URL || runServer()
  slot.server ??= shared
    ? Promise.resolve({ url: shared, stop: async () => {} })
    : startTestServer()
  return slot.server
}

const releaseServer = async () => {
  slot.users--
  if (slot.users > 0 || slot.server === undefined) return
  const server = slot.server
  slot.server = undefined
  await (await server).stop()
}

// --- a database per test file: its own schema on the shared server ---------------------------

/**
 * A migrated schema of its own on the shared server, so test files running in parallel (and a
 * real `DATABASE_URL`'s own tables) never see each other's rows. One client pool serves the
 * whole file.
 */
export interface TestDatabase {
  readonly url: string
  readonly schema: string
  readonly client: Context.Context<PgClient.PgClient | SqlClient.SqlClient>
  /** Runs an effect with this database's client. */
  readonly run: <A, E>(effect: Effect.Effect<A, E, PgClient.PgClient | SqlClient.SqlClient>) => Promise<A>
  /** Empties every table the adapters write. */
  readonly truncate: Effect.Effect<void>
  readonly close: () => Promise<void>
}

export const openTestDatabase = async (options: { readonly maxConnections?: number } = {}): Promise<TestDatabase> => {
  const server = await acquireServer()
  const schema = `test_${process.pid}_${randomBytes(4).toString("hex")}`
  const scope = Effect.runSync(Scope.make())
  try {
    const client = await Effect.runPromise(
      Layer.buildWithScope(
        PgDatabase.layer({
          url: Redacted.make(server.url),
          maxConnections: options.maxConnections ?? 10,
          startupParameters: { search_path: schema }
        }),
        scope
      )
    )
    const run = <A, E>(effect: Effect.Effect<A, E, PgClient.PgClient | SqlClient.SqlClient>) =>
      Effect.runPromise(Effect.provide(effect, client))
    await run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe(`CREATE SCHEMA "${schema}"`)
      yield* migrate
    }))
    // DELETE rather than TRUNCATE: the tables of one test hold a few rows, and TRUNCATE makes
    // new files for every table (about 1 ms each, on each of thousands of property cases). The
    // append-only triggers are row triggers: replica mode skips them for this transaction only.
    const truncate = Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql.unsafe("SET LOCAL session_replication_role = replica")
        for (const table of TABLES) yield* sql.unsafe(`DELETE FROM ${table}`)
      }))
    }).pipe(Effect.provide(client), Effect.orDie)
    return {
      url: server.url,
      schema,
      client,
      run,
      truncate,
      close: async () => {
        await run(Effect.gen(function*() {
          const sql = yield* SqlClient.SqlClient
          yield* sql.unsafe(`DROP SCHEMA "${schema}" CASCADE`)
        })).catch(() => undefined)
        await Effect.runPromise(Scope.close(scope, Exit.void))
        await releaseServer()
      }
    }
  } catch (error) {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await releaseServer()
    throw error
  }
}

/**
 * The Postgres adapter set for the spec suites. Call it while a test file is being collected:
 * it opens the file's database on first use and closes it (and, for the last file in the
 * process, the embedded server) after the file's tests.
 */
export const postgresAdapterSet = (): AdapterSet => {
  let database: Promise<TestDatabase> | undefined
  afterAll(async () => {
    if (database !== undefined) await (await database).close()
  })
  return {
    name: "postgres",
    fresh: () =>
      Layer.unwrap(Effect.gen(function*() {
        const db = yield* Effect.promise(() => (database ??= openTestDatabase()))
        yield* db.truncate
        return PgAdapters({ imageBaseUrl: IMAGE_BASE_URL, byokKey: TEST_BYOK_KEY }).pipe(
          Layer.provide(Layer.succeedContext(db.client))
        )
      }))
  }
}

/** A database of its own on the test server, empty (for processes that migrate it themselves). */
export interface EmptyDatabase {
  readonly url: string
  /** Drops the database and releases the test server. */
  readonly close: () => Promise<void>
}

export const openEmptyDatabase = async (prefix: string): Promise<EmptyDatabase> => {
  const server = await openTestDatabase({ maxConnections: 2 })
  const name = `${prefix}_${randomBytes(4).toString("hex")}`
  const statement = (text: string) => server.run(Effect.flatMap(SqlClient.SqlClient, (sql) => sql.unsafe(text)))
  try {
    await statement(`CREATE DATABASE ${name}`)
  } catch (error) {
    await server.close()
    throw error
  }
  const url = new URL(server.url)
  url.pathname = `/${name}`
  return {
    url: url.href,
    close: async () => {
      await statement(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`).catch(() => undefined)
      await server.close()
    }
  }
}
