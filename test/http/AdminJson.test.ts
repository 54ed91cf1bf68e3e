import { Redacted, Result, Schema } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { IssuedKeyView, KeyView } from "../../src/application/Administration.ts"
import * as AdminJson from "../../src/adapters/admin/AdminJson.ts"
import type { KeyId } from "../../src/domain/Ids.ts"

const milli = (value: number | string, options?: { readonly allowZero?: boolean }) => {
  const parsed = AdminJson.parseCredits(value, options)
  return Result.isSuccess(parsed) ? parsed.success : `refused: ${parsed.failure}`
}

describe("parseCredits: credits with up to 3 decimals as exact millicredits", () => {
  it("reads numbers and decimal text exactly", () => {
    expect(milli(1000)).toBe(1_000_000)
    expect(milli(0.5)).toBe(500)
    expect(milli(0.001)).toBe(1)
    expect(milli(48.125)).toBe(48_125)
    expect(milli("1000.125")).toBe(1_000_125)
    expect(milli(" 12 ")).toBe(12_000)
    expect(milli("0012.50")).toBe(12_500)
    expect(milli("1e3")).toBe(1_000_000)
    expect(milli("1.5e2")).toBe(150_000)
    expect(milli(1e12)).toBe(1e15)
    // 0.1 + 0.2 is 0.30000000000000004 as a double: more than 3 decimals, refused rather than rounded.
    expect(milli(0.1 + 0.2)).toMatch(/more than 3 decimals/)
  })

  it("refuses what is not a positive amount of at most 3 decimals and 10^12 credits, saying why", () => {
    expect(milli(0.0001)).toMatch(/more than 3 decimals/)
    expect(milli("1.0005")).toMatch(/more than 3 decimals/)
    expect(milli("1.5e-3")).toMatch(/more than 3 decimals/)
    expect(milli(0)).toMatch(/zero/)
    expect(milli("0.000")).toMatch(/zero/)
    expect(milli(-1)).toMatch(/negative/)
    expect(milli("-0.5")).toMatch(/negative/)
    expect(milli(Number.NaN)).toMatch(/finite/)
    expect(milli(Number.POSITIVE_INFINITY)).toMatch(/finite/)
    expect(milli("ten")).toMatch(/not a decimal number/)
    expect(milli(".5")).toMatch(/not a decimal number/)
    expect(milli("1,000")).toMatch(/not a decimal number/)
    expect(milli("0x10")).toMatch(/not a decimal number/)
    expect(milli(1e12 + 1)).toMatch(/too large/)
    expect(milli("1e400")).toMatch(/too large/)
    expect(milli(0, { allowZero: true })).toBe(0)
  })

  it("gives back exactly the millicredits an amount shown as credits came from (any amount up to 10^12 credits)", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 1e15 }), (m) => {
        // As a JSON number (what `credits` on the wire is) and as text (what the CLI reads).
        expect(milli(AdminJson.credits(m))).toBe(m)
        expect(milli(JSON.parse(JSON.stringify(AdminJson.credits(m))))).toBe(m)
        const text = `${Math.floor(m / 1000)}.${String(m % 1000).padStart(3, "0")}`
        expect(milli(text)).toBe(m)
      }),
      { numRuns: 2000 }
    )
  })
})

describe("parseTime: unix seconds or ISO 8601", () => {
  const at = (value: number | string) => {
    const parsed = AdminJson.parseTime(value)
    return Result.isSuccess(parsed) ? parsed.success : "refused"
  }
  it("reads unix seconds and ISO dates and times as epoch milliseconds", () => {
    expect(at(1767225600)).toBe(1767225600_000)
    expect(at("1767225600")).toBe(1767225600_000)
    expect(at("2026-01-01")).toBe(Date.UTC(2026, 0, 1))
    expect(at("2026-01-01T12:30:00Z")).toBe(Date.UTC(2026, 0, 1, 12, 30))
    expect(at("2026-01-01T12:30:00+02:00")).toBe(Date.UTC(2026, 0, 1, 10, 30))
  })
  it("refuses anything else", () => {
    for (const bad of ["tomorrow", "2026-13-45", "", -5, 1.5, 1e12, "12:00"]) expect(at(bad)).toBe("refused")
  })
})

describe("the JSON of the views", () => {
  const view: KeyView = {
    id: "key_1" as KeyId,
    prefix: "sk-abcde",
    owner: { _tag: "Service", service: "svc" as never },
    status: "active",
    createdAt: 1_700_000_000_123,
    deprecatedSunset: 1_800_000_000_999,
    legacy: false,
    lastUsedAt: undefined
  }

  it("renders a key with unix seconds, its owner by kind, and no secret unless it was just made", () => {
    expect(AdminJson.key(view)).toEqual({
      id: "key_1",
      object: "api_key",
      prefix: "sk-abcde",
      owner: { kind: "service", id: "svc" },
      status: "active",
      created: 1_700_000_000,
      expires_at: null,
      scopes: null,
      deprecated: true,
      sunset: 1_800_000_000,
      legacy: false,
      last_used_at: null
    })
    const issued: IssuedKeyView = { key: view, secret: Redacted.make("sk-the-secret") }
    expect(AdminJson.issuedKey(issued).secret).toBe("sk-the-secret")
    expect("secret" in AdminJson.issuedKey({ key: view, replayed: true })).toBe(false)
    expect(Schema.is(AdminJson.IssuedKeyJson)(AdminJson.issuedKey(issued))).toBe(true)
  })

  it("renders every amount as credits and as exact millicredits", () => {
    const balance = { account: "org_x" as never, posted: 10_000_500, pending: 48_000, available: 9_952_500 }
    const json = AdminJson.account({ account: "org_x" as never, kind: "org", tier: "managed" as never, balance, spentThisMonth: 48_001, monthlyCap: 1_000_000 })
    expect(json).toMatchObject({
      id: "org_x",
      balance: 10_000.5,
      balance_millicredits: 10_000_500,
      pending: 48,
      pending_millicredits: 48_000,
      available: 9_952.5,
      available_millicredits: 9_952_500,
      spent_this_month: 48.001,
      spent_this_month_millicredits: 48_001,
      monthly_cap: 1000,
      monthly_cap_millicredits: 1_000_000
    })
    expect(Schema.is(AdminJson.AccountJson)(json)).toBe(true)
  })
})
