import { Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { createHash } from "node:crypto"
import { afterAll, afterEach, describe, expect, it } from "vitest"
import { GatewayPolicy } from "../../src/application/GatewayPolicy.ts"
import { LocalProviderKeyCheck } from "../../src/adapters/local/LocalProviderKeyCheck.ts"
import { AuditLog, type StoredAuditEntry } from "../../src/application/ports/AuditLog.ts"
import { KeyStore } from "../../src/application/ports/KeyStore.ts"
import { Provisioning } from "../../src/application/Provisioning.ts"
import { AccessLog } from "../../src/adapters/http/AccessLog.ts"
import { HttpGatewayServer, MetricsToken, NodeServer, serverOrigin } from "../../src/adapters/http/Server.ts"
import { MemoryAdapters } from "../../src/adapters/memory/MemoryAdapters.ts"
import { withMetrics } from "../../src/adapters/metrics/Metrics.ts"
import { PgAdapters } from "../../src/adapters/postgres/PgAdapters.ts"
import type { ApiKeyRecord } from "../../src/domain/Entities.ts"
import { accountOfOrg, type OrgId, type ServiceName } from "../../src/domain/Ids.ts"
import { type PortServices, ServerCore } from "../../src/Layers.ts"
import { accounts, seedWorld, serviceJwt, WORLD } from "../../specs/support/Harness.ts"
import { openTestDatabase, TEST_BYOK_KEY, type TestDatabase } from "../../specs/support/postgres.ts"
import { makeScriptedProvider } from "../../specs/support/ScriptedProvider.ts"
import { bearerHeader, generate } from "./support/HttpHarness.ts"

/** Every port as the gateway builds it (`MemoryAdapters`, or `PgAdapters` on a test database). */
interface Storage {
  readonly name: string
  readonly ports: (imageBaseUrl: string) => Layer.Layer<PortServices>
}

const memory: Storage = { name: "memory", ports: (url) => Layer.fresh(MemoryAdapters(url)) }

/** A database of this file's own (opened on first use, emptied for each test, closed after the file). */
const postgres = (): Storage => {
  let database: Promise<TestDatabase> | undefined
  afterAll(async () => {
    if (database !== undefined) await (await database).close()
  })
  return {
    name: "postgres",
    ports: (url) =>
      Layer.unwrap(Effect.gen(function*() {
        const db = yield* Effect.promise(() => (database ??= openTestDatabase()))
        yield* db.truncate
        return PgAdapters({ imageBaseUrl: url, byokKey: TEST_BYOK_KEY }).pipe(Layer.provide(Layer.succeedContext(db.client)))
      }))
  }
}

/** A service whose organization has no credits: its generations are refused with 402. */
const BROKE = { name: "broke-service" as ServiceName, org: "org_broke_service" as OrgId, key: "sk-broke-fixture-key-0001" }

/**
 * The whole HTTP service on 127.0.0.1 over one adapter set (memory, or PostgreSQL through the
 * real adapters), seeded with the spec fixtures and a service without credits.
 */
const startGatewayOn = async (storage: Storage) => {
  const scripted = makeScriptedProvider({ tiny: true })
  const ports = Layer.unwrap(Effect.map(serverOrigin, (origin) => storage.ports(`${origin}/v1/images/files`)))
  const gateway = ServerCore.pipe(
    Layer.provideMerge(Layer.mergeAll(withMetrics(ports), GatewayPolicy.layer(), scripted.layer, LocalProviderKeyCheck)),
    Layer.provideMerge(NodeServer({ host: "127.0.0.1", port: 0 }))
  )
  const seed = Layer.effectDiscard(Effect.gen(function*() {
    yield* seedWorld
    const p = yield* Provisioning
    yield* p.createService({ name: BROKE.name, org: { id: BROKE.org, name: "broke" }, userIdPolicy: "optional" })
    yield* p.importKey({ _tag: "Service", service: BROKE.name }, Redacted.make(BROKE.key))
  }))
  const layer = Layer.mergeAll(HttpGatewayServer, seed).pipe(Layer.provideMerge(gateway))
  const scope = Scope.makeUnsafe()
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope).pipe(
    Effect.provideService(MetricsToken, Option.none()),
    Effect.provideService(AccessLog, undefined)
  ))
  const run = <A, E>(effect: Effect.Effect<A, E, Layer.Success<typeof layer>>) =>
    Effect.runPromise(Effect.provideContext(effect, context))
  const origin = await run(serverOrigin)
  // The stores themselves, to read after the gateway has closed.
  const auditLog = await run(Effect.gen(function*() {
    return yield* AuditLog
  }))
  const keyStore = await run(Effect.gen(function*() {
    return yield* KeyStore
  }))
  return { origin, run, auditLog, keyStore, close: () => Effect.runPromise(Scope.close(scope, Exit.void)) }
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex")

const keyOf = async (keys: KeyStore["Service"], literal: string): Promise<ApiKeyRecord> => {
  const found = await Effect.runPromise(keys.findByHash(sha256(literal)))
  if (Option.isNone(found)) throw new Error("the fixture key is not stored")
  return found.value
}

const credentialEntries = (log: AuditLog["Service"]) => Effect.runPromise(log.list({ kind: "credential", limit: 100 }))

/** Polls until `check` gives a value (the audit is written in the background), for at most `ms`. */
const eventually = async <A>(check: () => Promise<A | undefined>, ms = 5_000): Promise<A> => {
  const deadline = Date.now() + ms
  for (;;) {
    const value = await check()
    if (value !== undefined) return value
    if (Date.now() > deadline) throw new Error(`not so within ${ms} ms`)
    await new Promise((resolve) => setTimeout(resolve, 25))
  }
}

const suite = (storage: Storage) =>
  describe(`credential audit through the HTTP server (${storage.name})`, () => {
    let gateway: Awaited<ReturnType<typeof startGatewayOn>> | undefined
    afterEach(async () => {
      await gateway?.close()
      gateway = undefined
    })

    it("records every service generation (key, key with X-User-ID, JWT, a 402) with its key, payer and outcome, and each key's last use", async () => {
      gateway = await startGatewayOn(storage)
      const { origin, auditLog, keyStore } = gateway
      const presenton = await keyOf(keyStore, WORLD.presentonKey)
      const broke = await keyOf(keyStore, BROKE.key)
      const alice = await keyOf(keyStore, WORLD.alice.key)
      expect(presenton.lastUsedAt).toBeUndefined()
      const before = Date.now()

      const org = await generate(origin, bearerHeader(WORLD.presentonKey))
      expect(org.status).toBe(200)
      const onBehalf = await generate(origin, { ...bearerHeader(WORLD.presentonKey), "x-user-id": WORLD.alice.id })
      expect(onBehalf.status).toBe(200)
      const token = await Effect.runPromise(serviceJwt({}))
      const jwt = await generate(origin, bearerHeader(token))
      expect(jwt.status).toBe(200)
      const refused = await generate(origin, bearerHeader(BROKE.key))
      expect(refused.status).toBe(402)
      // A user's own key is not a service credential: not audited, but its last use is kept.
      const user = await generate(origin, bearerHeader(WORLD.alice.key))
      expect(user.status).toBe(200)
      const after = Date.now()

      const entries = await eventually(async () => {
        const found = await credentialEntries(auditLog)
        return found.length >= 4 ? found : undefined
      })
      const requestId = (r: { readonly headers: Headers }) => r.headers.get("x-request-id")
      const common = { kind: "credential", actor: "presenton-service", action: "credential.use", outcome: "ok" }
      // Newest first, in the order the requests were made.
      expect(entries.map((e) => e.requestId)).toEqual([refused, jwt, onBehalf, org].map(requestId))
      const [refusedEntry, jwtEntry, onBehalfEntry, orgEntry] = entries as [
        StoredAuditEntry,
        StoredAuditEntry,
        StoredAuditEntry,
        StoredAuditEntry
      ]
      expect(orgEntry).toMatchObject({ ...common, target: `key:${presenton.id}`, keyId: presenton.id, payer: accounts.presentonOrg })
      expect(onBehalfEntry).toMatchObject({ ...common, target: `key:${presenton.id}`, keyId: presenton.id, payer: accounts.alice })
      expect(jwtEntry).toMatchObject({ ...common, target: "jwt:presenton-service", payer: accounts.presentonOrg })
      expect(jwtEntry.keyId).toBeUndefined()
      expect(refusedEntry).toMatchObject({
        kind: "credential",
        actor: BROKE.name,
        action: "credential.use",
        target: `key:${broke.id}`,
        keyId: broke.id,
        payer: accountOfOrg(BROKE.org),
        outcome: "InsufficientCredits"
      })
      for (const e of entries) {
        expect(e.at).toBeGreaterThanOrEqual(before)
        expect(e.at).toBeLessThanOrEqual(after)
      }
      // No secret reaches the audit log.
      const stored = JSON.stringify(entries)
      for (const secret of [WORLD.presentonKey, BROKE.key, token, WORLD.presentonJwtSecret]) expect(stored).not.toContain(secret)

      // Every key that authenticated has its last use, the refused one included.
      for (const id of [presenton.id, broke.id, alice.id]) {
        const used = await eventually(async () => {
          const record = await Effect.runPromise(keyStore.find(id))
          return Option.isSome(record) && record.value.lastUsedAt !== undefined ? record.value.lastUsedAt : undefined
        })
        expect(used).toBeGreaterThanOrEqual(before)
        expect(used).toBeLessThanOrEqual(after)
      }
      // The bolt service's key was not used.
      expect((await keyOf(keyStore, WORLD.boltKey)).lastUsedAt).toBeUndefined()
    }, 30_000)

    it("a use just before shutdown is written when the gateway closes", async () => {
      gateway = await startGatewayOn(storage)
      const { origin, auditLog, keyStore, close } = gateway
      const response = await generate(origin, bearerHeader(WORLD.presentonKey))
      expect(response.status).toBe(200)
      gateway = undefined
      await close()
      const entries = await credentialEntries(auditLog)
      expect(entries.map((e) => e.requestId)).toEqual([response.headers.get("x-request-id")])
      expect((await keyOf(keyStore, WORLD.presentonKey)).lastUsedAt).toBeDefined()
    }, 30_000)
  })

suite(memory)
suite(postgres())
