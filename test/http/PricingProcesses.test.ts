import { Context, Effect, Exit, Layer, Redacted, Scope } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { GatewayPolicy } from "../../src/application/GatewayPolicy.ts"
import { PricingCatalog } from "../../src/application/PricingCatalog.ts"
import * as PgDatabase from "../../src/adapters/postgres/PgDatabase.ts"
import { PgPricingStore } from "../../src/adapters/postgres/PgPricingStore.ts"
import { type EmptyDatabase, openEmptyDatabase } from "../../specs/support/postgres.ts"
import { type Started, startDemoOnDatabase } from "./support/Processes.ts"

const PRESENTON_KEY = "sk-presenton-service-key-2025"
const UNICORN = { prompt: "A unicorn with a magic wand", model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 }

const generate = async (origin: string) => {
  const response = await fetch(`${origin}/api/v1/llm/image/generations`, {
    method: "POST",
    headers: { authorization: `Bearer ${PRESENTON_KEY}`, "content-type": "application/json" },
    body: JSON.stringify(UNICORN),
    signal: AbortSignal.timeout(10_000)
  })
  expect(response.status).toBe(200)
  return ((await response.json()) as { _metadata: { cost_incurred: number } })._metadata.cost_incurred
}

const unicornListed = async (origin: string) => {
  const list = (await (await fetch(`${origin}/v1/models`, { signal: AbortSignal.timeout(10_000) })).json()) as {
    data: Array<{ id: string; prices: Array<{ quality: string; size: string; credits: number }> }>
  }
  return list.data.find((m) => m.id === "dall-e-3")!.prices.find((p) => p.quality === "standard" && p.size === "1024x1024")!.credits
}

/** Calls `attempt` every 100 ms until it gives `expected`; how long that took, or a failure at the deadline. */
const pollUntil = async <A>(attempt: () => Promise<A>, expected: A, deadlineMs: number): Promise<number> => {
  const started = Date.now()
  let last: A | undefined
  while (Date.now() - started < deadlineMs) {
    last = await attempt()
    if (last === expected) return Date.now() - started
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
  throw new Error(`still ${String(last)} instead of ${String(expected)} after ${deadlineMs} ms`)
}

/**
 * Two gateway processes on one PostgreSQL database, and a third pricing catalog on the same
 * database in the test process (as an operator's tool would be): a price changed there is
 * charged by both gateways within about their refresh interval (1 s).
 */
describe("prices changed on one instance, charged on every instance", () => {
  let database: EmptyDatabase
  let url: string
  const catalogScope = Scope.makeUnsafe()
  const gateways: Array<Started> = []

  beforeAll(async () => {
    database = await openEmptyDatabase("gateway_pricing")
    url = database.url
  })
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()))
    await Effect.runPromise(Scope.close(catalogScope, Exit.void))
    await database?.close()
  })

  it("a price saved through a third catalog on the same database is charged by both gateway processes within a few seconds", async () => {
    // Both start at once on an empty database: migrations, pricing and demo data are each set up once.
    const [one, two] = await Promise.all([startDemoOnDatabase(url, gateways), startDemoOnDatabase(url, gateways)])
    expect(await generate(one)).toBe(48)
    expect(await generate(two)).toBe(48)

    const catalog = await Effect.runPromise(
      Layer.buildWithScope(
        PricingCatalog.layer.pipe(
          Layer.provide(PgPricingStore),
          Layer.provide(Layer.mergeAll(PgDatabase.layer({ url: Redacted.make(url), maxConnections: 2 }), GatewayPolicy.layer()))
        ),
        catalogScope
      ).pipe(Effect.map(Context.get(PricingCatalog)))
    )
    expect((await Effect.runPromise(catalog.current)).data.prices).toContainEqual({
      model: "dall-e-3",
      quality: "standard",
      size: "1024x1024",
      millicredits: 40_000
    })
    const saved = await Effect.runPromise(catalog.update({
      setPrices: [{ model: "dall-e-3", quality: "standard", size: "1024x1024", millicredits: 100_000 }]
    }))
    expect(saved.version).toBe(2)

    // 100 credits × 1.2 for the managed organization, on each process, within about a second.
    const tookTwo = await pollUntil(() => generate(two), 120, 10_000)
    const tookOne = await pollUntil(() => generate(one), 120, 10_000)
    expect(tookTwo).toBeLessThan(5_000)
    expect(tookOne).toBeLessThan(5_000)
    expect(await unicornListed(one)).toBe(100)
    expect(await unicornListed(two)).toBe(100)
  })
})
