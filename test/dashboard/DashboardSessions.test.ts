import { Context, Effect, Exit, Layer, Option, Scope } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { TestClock } from "effect/testing"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DashboardSessions, IDLE_MS } from "../../src/adapters/dashboard/DashboardSessions.ts"
import { LocalProviderKeyCheck } from "../../src/adapters/local/LocalProviderKeyCheck.ts"
import { LocalImageProvider } from "../../src/adapters/local/LocalImageProvider.ts"
import { MemoryAdapters } from "../../src/adapters/memory/MemoryAdapters.ts"
import { PgAdapters } from "../../src/adapters/postgres/PgAdapters.ts"
import { GatewayPolicy } from "../../src/application/GatewayPolicy.ts"
import { KeyStore } from "../../src/application/ports/KeyStore.ts"
import { DEMO, demoLegacyKeyOf, seedDemo } from "../../src/DemoData.ts"
import { ServerCore } from "../../src/Layers.ts"
import { openTestDatabase, TEST_BYOK_KEY, type TestDatabase } from "../../specs/support/postgres.ts"

/**
 * Dashboard sessions on the in-memory store and on PostgreSQL, on a test clock: what a login
 * stores (a hash, never the id), the CSRF token, the idle and absolute expiry, logout, and that
 * revoking the admin key ends its sessions at once.
 */

const HOUR = 3_600_000

for (const store of ["memory", "postgres"] as const) {
  describe(`dashboard sessions [${store}]`, () => {
    let database: TestDatabase | undefined
    const scope = Scope.makeUnsafe()
    let run: <A, E>(effect: Effect.Effect<A, E, any>) => Promise<A>

    beforeAll(async () => {
      database = store === "postgres" ? await openTestDatabase() : undefined
      const ports = database === undefined
        ? Layer.fresh(MemoryAdapters("http://127.0.0.1/v1/images/files"))
        : PgAdapters({ imageBaseUrl: "http://127.0.0.1/v1/images/files", byokKey: TEST_BYOK_KEY }).pipe(
          Layer.provide(Layer.succeedContext(database.client))
        )
      const core = ServerCore.pipe(
        Layer.provideMerge(Layer.mergeAll(ports, GatewayPolicy.layer(), LocalImageProvider, LocalProviderKeyCheck))
      )
      const layer = Layer.mergeAll(DashboardSessions.layer, Layer.effectDiscard(seedDemo)).pipe(Layer.provideMerge(core))
      const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
      // Only the calls made here run on the test clock: the core's own background work keeps real time.
      const clock = await Effect.runPromise(Layer.buildWithScope(TestClock.layer(), scope))
      const both = Context.merge(context, clock)
      run = (effect) => Effect.runPromise(Effect.provideContext(effect, both as any))
    }, 60_000)

    afterAll(async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await database?.close()
    })

    const login = (key: string) => DashboardSessions.use((s) => s.login(key))
    const current = (id: string) => DashboardSessions.use((s) => s.current(id))

    it("stores a hash of a 256-bit session id with the admin key's id; the CSRF token belongs to that session only", async () => {
      const a = await run(login(DEMO.adminKey))
      const b = await run(login(DEMO.adminKey))
      expect(a.id).toMatch(/^[A-Za-z0-9_-]{43}$/)
      expect(a.id).not.toBe(b.id)
      expect(a.csrfToken).not.toBe(b.csrfToken)
      const sessions = await run(DashboardSessions.use(Effect.succeed))
      expect(sessions.csrfMatches(a, a.csrfToken)).toBe(true)
      expect(sessions.csrfMatches(a, b.csrfToken)).toBe(false)
      expect(sessions.csrfMatches(a, undefined)).toBe(false)
      const shown = await run(current(a.id))
      expect(Option.getOrThrow(shown).admin.keyId).toBe(a.admin.keyId)
      if (database !== undefined) {
        const rows = await database.run(Effect.flatMap(SqlClient.SqlClient, (sql) => sql<{ id_hash: string }>`SELECT id_hash FROM admin_sessions`))
        expect(rows.length).toBeGreaterThanOrEqual(2)
        expect(rows.every((r) => /^[0-9a-f]{64}$/.test(r.id_hash) && r.id_hash !== a.id && r.id_hash !== b.id)).toBe(true)
      }
    })

    it("refuses every credential but an admin key", async () => {
      for (const key of [demoLegacyKeyOf("presenton-service"), DEMO.alice.key]) {
        const refused = await run(Effect.flip(login(key)))
        expect(refused._tag).toBe("AdminRequired")
      }
      const unknown = await run(Effect.flip(login("adm_never_issued_never_issued_never_1")))
      expect(unknown._tag).toBe("InvalidApiKey")
      expect(Option.isNone(await run(current("not-a-session")))).toBe(true)
    })

    it("ends a session after 8 hours idle, 24 hours after login however busy, and on logout", async () => {
      const idle = await run(login(DEMO.adminKey))
      await run(TestClock.adjust(IDLE_MS - 60_000))
      expect(Option.isSome(await run(current(idle.id)))).toBe(true)
      await run(TestClock.adjust(IDLE_MS + 1))
      expect(Option.isNone(await run(current(idle.id)))).toBe(true)

      const busy = await run(login(DEMO.adminKey))
      for (let hour = 1; hour < 24; hour++) {
        await run(TestClock.adjust(HOUR))
        expect(Option.isSome(await run(current(busy.id)))).toBe(true)
      }
      await run(TestClock.adjust(HOUR))
      expect(Option.isNone(await run(current(busy.id)))).toBe(true)

      const out = await run(login(DEMO.adminKey))
      await run(DashboardSessions.use((s) => s.logout(out.id)))
      expect(Option.isNone(await run(current(out.id)))).toBe(true)
    })

    it("ends every session of an admin key when the key is revoked", async () => {
      const session = await run(login(DEMO.adminKey))
      expect(Option.isSome(await run(current(session.id)))).toBe(true)
      await run(KeyStore.use((keys) => keys.setStatus(session.admin.keyId, "revoked")))
      expect(Option.isNone(await run(current(session.id)))).toBe(true)
    })
  })
}
