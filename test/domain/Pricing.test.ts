import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { DEFAULT_MODELS } from "../../src/domain/Models.ts"
import { ceilDiv, millicredits, toCredits } from "../../src/domain/Money.ts"
import { basePrice, DEFAULT_PRICES, priceOf } from "../../src/domain/Pricing.ts"
import { defaultTierPolicy, isCreditExempt, multiplierOf } from "../../src/domain/Tier.ts"

const model = (id: string) => DEFAULT_MODELS.find((m) => m.id === id)!
const base = (id: string, quality: string, size: string) => basePrice(DEFAULT_PRICES, model(id), quality, size)

describe("pricing", () => {
  it("computes ceil(base × n × multiplier / 10000) exactly, as integer arithmetic would", () =>
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 1_000_000 }),
        fc.integer({ min: 1, max: 10 }),
        fc.integer({ min: 1, max: 100_000 }),
        (b, n, bps) => {
          const exact = (BigInt(b) * BigInt(n) * BigInt(bps) + 9999n) / 10000n
          expect(priceOf(millicredits(b), n, bps)).toBe(Number(exact))
        }
      ),
      { numRuns: 2000 }
    ))

  it("ceilDiv never loses a remainder", () =>
    fc.assert(fc.property(fc.nat({ max: 2 ** 52 }), fc.integer({ min: 1, max: 1_000_000 }), (a, b) => {
      const q = ceilDiv(a, b)
      expect(q * b).toBeGreaterThanOrEqual(a)
      expect((q - 1) * b).toBeLessThan(a)
    })))

  it("has the default prices of the specification, in millicredits", () => {
    const rows: ReadonlyArray<[string, string, string, number]> = [
      ["dall-e-3", "standard", "1024x1024", 40_000],
      ["dall-e-3", "standard", "1792x1024", 80_000],
      ["dall-e-3", "standard", "1024x1792", 80_000],
      ["dall-e-3", "hd", "1024x1024", 80_000],
      ["dall-e-3", "hd", "1792x1024", 120_000],
      ["dall-e-3", "hd", "1024x1792", 120_000],
      ["dall-e-2", "standard", "256x256", 16_000],
      ["dall-e-2", "standard", "512x512", 16_000],
      ["dall-e-2", "standard", "1024x1024", 18_000],
      ["gpt-image-1", "low", "1024x1024", 11_000],
      ["gpt-image-1", "medium", "1024x1024", 42_000],
      ["gpt-image-1", "high", "1024x1024", 167_000],
      ["gpt-image-1", "low", "1536x1024", 16_000],
      ["gpt-image-1", "medium", "1024x1536", 63_000],
      ["gpt-image-1", "high", "1536x1024", 250_000],
      ["gpt-image-1", "auto", "auto", 42_000],
      ["gpt-image-1-mini", "low", "1024x1024", 5_000],
      ["gpt-image-1-mini", "medium", "1024x1024", 11_000],
      ["gpt-image-1-mini", "high", "1024x1024", 36_000],
      ["gpt-image-1-mini", "low", "1536x1024", 6_000],
      ["gpt-image-1-mini", "medium", "1536x1024", 15_000],
      ["gpt-image-1-mini", "high", "1024x1536", 52_000],
      ["gpt-image-1.5", "low", "1024x1024", 9_000],
      ["gpt-image-1.5", "medium", "1024x1024", 34_000],
      ["gpt-image-1.5", "high", "1024x1024", 133_000],
      ["gpt-image-1.5", "low", "1536x1024", 13_000],
      ["gpt-image-1.5", "medium", "1536x1024", 50_000],
      ["gpt-image-1.5", "high", "1024x1536", 200_000],
      ["local", "standard", "512x512", 1_000]
    ]
    for (const [id, quality, size, expected] of rows) expect([id, quality, size, base(id, quality, size)]).toEqual([id, quality, size, expected])
  })

  it("has a price for every size and quality each model accepts", () => {
    for (const m of DEFAULT_MODELS) {
      for (const size of m.sizes) for (const quality of m.qualities) expect(basePrice(DEFAULT_PRICES, m, quality, size)).toBeGreaterThan(0)
    }
  })

  it("charges a managed organization 48 credits for one standard 1024² dall-e-3 image", () => {
    const price = priceOf(base("dall-e-3", "standard", "1024x1024")!, 1, multiplierOf(defaultTierPolicy, "managed"))
    expect(toCredits(price)).toBe(48)
  })

  it("uses the tier multipliers of the specification", () => {
    expect(multiplierOf(defaultTierPolicy, "free")).toBe(15000)
    expect(multiplierOf(defaultTierPolicy, "managed")).toBe(12000)
    expect(multiplierOf(defaultTierPolicy, "vip_founder")).toBe(10000)
    expect(multiplierOf(defaultTierPolicy, "professional")).toBe(12000)
    expect(isCreditExempt({ ...defaultTierPolicy, creditExempt: ["vip_founder"] }, "vip_founder")).toBe(true)
    expect(isCreditExempt({ ...defaultTierPolicy, billingEnabled: false }, "free")).toBe(true)
    expect(isCreditExempt(defaultTierPolicy, "free")).toBe(false)
  })

  it("refuses amounts that are not whole non-negative millicredits", () => {
    for (const bad of [-1, 0.5, Number.NaN, Infinity, 2 ** 54]) expect(() => millicredits(bad)).toThrow(RangeError)
  })
})
