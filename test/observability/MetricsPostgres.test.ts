/**
 * The ledger and per-service series of `GET /metrics` from a gateway process on PostgreSQL
 * (`npm start` with DATABASE_URL): pending holds are read from the database, so a hold made by
 * another process shows too.
 */
import { Effect, Layer, ManagedRuntime, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { LedgerStore } from "../../src/application/ports/LedgerStore.ts"
import * as PgDatabase from "../../src/adapters/postgres/PgDatabase.ts"
import { PgLedgerStoreLayer } from "../../src/adapters/postgres/PgLedgerStore.ts"
import { DEMO } from "../../src/DemoData.ts"
import { accountOfUser, type HoldId } from "../../src/domain/Ids.ts"
import { type EmptyDatabase, openEmptyDatabase } from "../../specs/support/postgres.ts"
import { freePort, type Started, startGatewayProcess } from "../http/support/Processes.ts"
import { consumedBy, delta, HELD, HOLDS, scrape, scrapeUntil } from "./support/Prometheus.ts"

const UNICORN = { prompt: "A unicorn with a magic wand", model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 }

const generate = (origin: string, token: string) =>
  fetch(`${origin}/v1/images/generations`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify(UNICORN),
    signal: AbortSignal.timeout(20_000)
  })

describe("GET /metrics on PostgreSQL (a gateway process with DATABASE_URL)", () => {
  let database: EmptyDatabase
  let gateway: Started
  let origin: string
  // Another process's ledger on the same database: this test's own connection.
  let other: ManagedRuntime.ManagedRuntime<LedgerStore, unknown>

  beforeAll(async () => {
    database = await openEmptyDatabase("metrics_pg")
    const port = await freePort()
    origin = `http://127.0.0.1:${port}`
    gateway = await startGatewayProcess({
      DATABASE_URL: database.url,
      MIGRATE: "1",
      DEMO: "1",
      LOCAL_PROVIDER: "1",
      BYOK_ENCRYPTION_KEY: "bJGHSMXl7S1KA44onf8rIEBoapy6-EYiI9xCTYkIarE",
      HOST: "127.0.0.1",
      PORT: String(port)
    })
    other = ManagedRuntime.make(
      PgLedgerStoreLayer.pipe(Layer.provide(PgDatabase.layer({ url: Redacted.make(database.url), maxConnections: 1 })))
    )
  }, 60_000)
  afterAll(async () => {
    await other?.dispose()
    expect(await gateway?.stop()).toBe(0)
    await database?.close()
  })

  it("counts millicredits per service, user credentials as none, from real generations", async () => {
    const before = await scrape(origin)
    expect((await generate(origin, "sk-presenton-service-key-2025")).status).toBe(200)
    expect((await generate(origin, "sk-brigade-service-key-2025")).status).toBe(200)
    expect((await generate(origin, DEMO.alice.key)).status).toBe(200)
    const after = await scrape(origin)
    expect(delta(before, after, consumedBy("presenton-service"))).toBe(48_000)
    expect(delta(before, after, consumedBy("brigade-service"))).toBe(48_000)
    expect(delta(before, after, consumedBy("none"))).toBe(48_000)
    // Settled generations leave no hold behind.
    expect(after.get(HOLDS)).toBe(0)
    expect(after.get(HELD)).toBe(0)
  })

  it("shows a hold another process made on the same database, and its release", async () => {
    const hold = "hold_metrics_other_process" as HoldId
    const now = Date.now()
    await other.runPromise(LedgerStore.use((store) =>
      store.reserve({ id: hold, account: accountOfUser(DEMO.alice.id), amount: 5_250, at: now, expiresAt: now + 600_000 })
    ))
    const holding = await scrape(origin)
    expect(holding.get(HOLDS)).toBe(1)
    expect(holding.get(HELD)).toBe(5_250)

    await other.runPromise(LedgerStore.use((store) => store.release({ hold, at: Date.now() })))
    const released = await scrapeUntil(origin, (found) => found.get(HOLDS) === 0)
    expect(released.get(HOLDS)).toBe(0)
    expect(released.get(HELD)).toBe(0)
  })
})
