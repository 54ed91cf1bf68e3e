import { Context, Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ByokStore } from "../../src/application/ports/ByokStore.ts"
import { KeyStore } from "../../src/application/ports/KeyStore.ts"
import { UserRepository } from "../../src/application/ports/Repositories.ts"
import type { ApiKeyRecord, User } from "../../src/domain/Entities.ts"
import type { Tier } from "../../src/domain/Tier.ts"
import type { KeyId, UserId } from "../../src/domain/Ids.ts"
import { migrate } from "../../src/adapters/postgres/Migrations.ts"
import { PgByokStore } from "../../src/adapters/postgres/PgByokStore.ts"
import { makeCachedLookups } from "../../src/adapters/postgres/PgCachedLookups.ts"
import * as PgDatabase from "../../src/adapters/postgres/PgDatabase.ts"
import { PgKeyStore } from "../../src/adapters/postgres/PgKeyStore.ts"
import { PgOrganizationRepository, PgServiceRegistry, PgUserRepository } from "../../src/adapters/postgres/PgRepositories.ts"
import { type EmptyDatabase, openEmptyDatabase, TEST_BYOK_KEY } from "../../specs/support/postgres.ts"

const alice = "7a6bfd31-0120-4a30-9e21-0fc3b8006579" as UserId
const ALICE: User = { id: alice, status: "active", tier: "standard" as Tier }

/** Polls `check` every 10 ms until it holds: how long that took, or a failure at the deadline. */
const within = (deadlineMs: number, what: string, check: () => Effect.Effect<boolean, unknown, any>) =>
  Effect.gen(function*() {
    const started = Date.now()
    while (!(yield* check())) {
      if (Date.now() - started > deadlineMs) return yield* Effect.die(new Error(`${what}: not within ${deadlineMs} ms`))
      yield* Effect.sleep("10 millis")
    }
    return Date.now() - started
  })

/**
 * The look-up caches on a database of their own (its notifications and listeners are this
 * file's alone): reads are served from the cache, a change notified by the triggers reaches it
 * within milliseconds, and while the listening connection is lost the cache is not used.
 */
describe("PostgreSQL look-up caches with change notifications", () => {
  let database: EmptyDatabase
  const scope = Scope.makeUnsafe()
  let context: Context.Context<SqlClient.SqlClient | KeyStore | UserRepository | ByokStore>
  let listening: () => boolean
  const run = <A, E>(effect: Effect.Effect<A, E, any>): Promise<A> =>
    Effect.runPromise(Effect.provide(effect, context) as Effect.Effect<A, E>)

  beforeAll(async () => {
    database = await openEmptyDatabase("gateway_lookups")
    const client = await Effect.runPromise(
      Layer.buildWithScope(PgDatabase.layer({ url: Redacted.make(database.url), maxConnections: 4 }), scope)
    )
    await Effect.runPromise(Effect.provide(migrate, client))
    const ports = await Effect.runPromise(
      Layer.buildWithScope(
        Layer.mergeAll(PgKeyStore, PgUserRepository, PgOrganizationRepository, PgServiceRegistry, PgByokStore(TEST_BYOK_KEY))
          .pipe(Layer.provide(Layer.succeedContext(client))),
        scope
      )
    )
    const made = await Effect.runPromise(
      Scope.provide(makeCachedLookups, scope).pipe(Effect.provide(Context.merge(client, ports)))
    )
    context = Context.merge(client, made.context) as typeof context
    listening = made.listening
    await run(within(10_000, "listening", () => Effect.sync(listening)))
  })
  afterAll(async () => {
    await Effect.runPromise(Scope.close(scope, Exit.void))
    await database?.close()
  })

  /** An UPDATE the triggers do not report: only a cached read can miss it. */
  const silently = (statement: string) =>
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.withTransaction(Effect.gen(function*() {
        yield* sql.unsafe("SET LOCAL session_replication_role = replica")
        yield* sql.unsafe(statement)
      }))
    })

  /**
   * A user of its own for a test (none of the others' entries or notifications concern it),
   * written silently: no notification of it is on its way.
   */
  const freshUser = (id: string) =>
    Effect.as(silently(`INSERT INTO users (id, status, tier) VALUES ('${id}', 'active', 'standard')`), id as UserId)

  const tierOf = (id: UserId) =>
    Effect.gen(function*() {
      const users = yield* UserRepository
      return Option.getOrThrow(yield* users.find(id)).tier
    })

  it("serves a read from the cache, and sees a notified change within a second", async () => {
    await run(Effect.gen(function*() {
      const users = yield* UserRepository
      const bob = yield* freshUser("2f1c6a53-5d8e-4b7a-9a51-3c9e8f0b1d24")
      expect(yield* tierOf(bob)).toBe("standard")
      // Written behind the triggers' back: the cached row is still what is answered.
      yield* silently(`UPDATE users SET tier = 'pro' WHERE id = '${bob}'`)
      expect(yield* tierOf(bob)).toBe("standard")
      // A change made as any writer makes it (here SQL in another session): notified, dropped.
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE users SET status = 'suspended' WHERE id = ${bob}`
      const took = yield* within(1_000, "the suspension seen", () =>
        Effect.map(users.find(bob), (u) => Option.getOrThrow(u).status === "suspended"))
      // The notified read is the database's: the silent change comes with it.
      expect(yield* tierOf(bob)).toBe("pro")
      expect(took).toBeLessThan(1_000)
    }))
  })

  it("a change saved through the cached port is seen at once where it was made", async () => {
    await run(Effect.gen(function*() {
      const users = yield* UserRepository
      yield* users.save(ALICE)
      expect(yield* tierOf(alice)).toBe("standard")
      yield* users.save({ ...ALICE, tier: "enterprise" as Tier })
      expect(yield* tierOf(alice)).toBe("enterprise")
    }))
  })

  it("never caches an unknown key: a key created a moment later is found at once", async () => {
    const record: ApiKeyRecord = {
      id: "key_cache_test" as KeyId,
      prefix: "sk-cache",
      hash: "f".repeat(64),
      owner: { _tag: "Service", service: "presenton-service" as never },
      status: "active",
      createdAt: Date.now(),
      legacy: false
    }
    await run(Effect.gen(function*() {
      const keys = yield* KeyStore
      expect(yield* keys.findByHash(record.hash)).toEqual(Option.none())
      yield* silently(
        `INSERT INTO api_keys (id, prefix, hash, owner_kind, owner, status, created_at, legacy)
         VALUES ('${record.id}', '${record.prefix}', '${record.hash}', 'service', 'presenton-service', 'active', ${record.createdAt}, false)`
      )
      expect(Option.getOrThrow(yield* keys.findByHash(record.hash)).id).toBe(record.id)
      // Revoked as the admin API or CLI of any instance would: gone within a second.
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE api_keys SET status = 'revoked' WHERE id = ${record.id}`
      yield* within(1_000, "the revocation seen", () =>
        Effect.map(keys.findByHash(record.hash), (k) => Option.getOrThrow(k).status === "revoked"))
      // A key's last use is not a change: it does not drop the entry (nor is it notified).
      yield* keys.touch([{ id: record.id, at: Date.now() }])
    }))
  })

  it("caches that a payer has no BYOK key, and drops it when one is added elsewhere", async () => {
    await run(Effect.gen(function*() {
      const byok = yield* ByokStore
      const account = alice as never
      expect(yield* byok.findEnabled(account, "openai")).toEqual(Option.none())
      const sql = yield* SqlClient.SqlClient
      // As another instance would add it: the row and its notification, not this port.
      const [sealed] = yield* Effect.gen(function*() {
        yield* byok.add({
          id: "byok_1",
          account,
          provider: "openai",
          secret: Redacted.make("sk-own-key-0001"),
          last4: "0001",
          enabled: true,
          createdAt: Date.now()
        } as never)
        return yield* sql<{ ciphertext: Uint8Array }>`SELECT ciphertext FROM byok_keys WHERE id = 'byok_1'`
      })
      expect(sealed).toBeDefined()
      expect(Option.map(yield* byok.findEnabled(account, "openai"), Redacted.value)).toEqual(Option.some("sk-own-key-0001"))
      yield* sql`UPDATE byok_keys SET enabled = false WHERE id = 'byok_1'`
      yield* within(1_000, "the disabled key seen", () => Effect.map(byok.findEnabled(account, "openai"), Option.isNone))
    }))
  })

  it("while the listening connection is lost, reads go to the database; listening again, the cache is used again", async () => {
    await run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const carol = yield* freshUser("5b0e2f7c-8d3a-4c1e-9f6b-7a2d4e8c1b30")
      expect(yield* tierOf(carol)).toBe("standard")
      // The listening session is ended by the server, as a restart or a network fault would.
      const ended = yield* sql<{ pid: number }>`
        SELECT pg_terminate_backend(pid) AS pid FROM pg_stat_activity
        WHERE datname = current_database() AND query ILIKE 'LISTEN%'`
      expect(ended.length).toBeGreaterThan(0)
      yield* within(2_000, "the caches switched off", () => Effect.sync(() => !listening()))
      // Nothing cached is trusted now: a silent change is read at once.
      yield* silently(`UPDATE users SET tier = 'pro' WHERE id = '${carol}'`)
      expect(yield* tierOf(carol)).toBe("pro")
      yield* within(5_000, "listening again", () => Effect.sync(listening))
      expect(yield* tierOf(carol)).toBe("pro")
      yield* silently(`UPDATE users SET tier = 'standard' WHERE id = '${carol}'`)
      // Cached again (the read after listening again filled it).
      expect(yield* tierOf(carol)).toBe("pro")
    }))
  })
})
