import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { PricingCatalog, type PricingChange } from "../../src/application/PricingCatalog.ts"
import { WORLD } from "../../specs/support/Harness.ts"
import { bearerHeader, generate, http, startGateway, type TestGateway, UNICORN } from "./support/HttpHarness.ts"

let gateway: TestGateway
beforeAll(async () => {
  gateway = await startGateway()
})
afterAll(() => gateway.close())

const update = (change: PricingChange) => gateway.run(PricingCatalog.use((catalog) => catalog.update(change)))

const pricesOf = async (model: string) => {
  const r = await http(gateway.origin, "/v1/models")
  expect(r.status).toBe(200)
  return r.json.data.find((m: { id: string }) => m.id === model).prices
}

describe("prices from the catalog over HTTP", () => {
  it("GET /v1/models lists the catalog's current prices, and a generation is charged them, as soon as they change", async () => {
    expect(await pricesOf("dall-e-3")).toContainEqual({ quality: "standard", size: "1024x1024", credits: 40 })
    const before = await generate(gateway.origin, bearerHeader(WORLD.presentonKey), UNICORN)
    expect(before.json._metadata).toMatchObject({ cost_incurred: 48 })

    await update({
      setPrices: [
        { model: "dall-e-3", quality: "standard", size: "1024x1024", millicredits: 50_500 },
        { model: "dall-e-3", quality: "*", size: "*", millicredits: 90_000 }
      ],
      removePrices: [{ model: "dall-e-3", quality: "hd", size: "1792x1024" }]
    })

    const listed = await pricesOf("dall-e-3")
    expect(listed).toContainEqual({ quality: "standard", size: "1024x1024", credits: 50.5 })
    expect(listed).toContainEqual({ quality: "*", size: "*", credits: 90 })
    expect(listed).not.toContainEqual(expect.objectContaining({ quality: "hd", size: "1792x1024" }))

    // 50.5 credits × 1.2 for the managed organization.
    const after = await generate(gateway.origin, bearerHeader(WORLD.presentonKey), UNICORN)
    expect(after.json._metadata).toMatchObject({ cost_incurred: 60.6 })
    // The removed row falls back to the model's wildcard row: 90 × 1.2.
    const hd = await generate(gateway.origin, bearerHeader(WORLD.presentonKey), { ...UNICORN, quality: "hd", size: "1792x1024" })
    expect(hd.json._metadata).toMatchObject({ cost_incurred: 108 })
  })
})
