/**
 * Billed generations through the gateway over HTTP, with the real OpenAI and OpenRouter backends
 * against the fake upstreams, each trial a random provider fault or a success. Shared by the
 * fault suite (1,000 trials) and its fast twin in `npm test`.
 */
import { Effect } from "effect"
import { expect } from "vitest"
import { LedgerStore } from "../../../src/application/ports/LedgerStore.ts"
import { accountOfOrg } from "../../../src/domain/Ids.ts"
import { DEFAULT_MODELS } from "../../../src/domain/Models.ts"
import { toCredits } from "../../../src/domain/Money.ts"
import { basePrice, DEFAULT_PRICES, priceOf } from "../../../src/domain/Pricing.ts"
import { defaultTierPolicy, multiplierOf } from "../../../src/domain/Tier.ts"
import { WORLD } from "../../../specs/support/Harness.ts"
import { openTestDatabase, type TestDatabase } from "../../../specs/support/postgres.ts"
import { bearerHeader, generate, type HttpResult } from "../../http/support/HttpHarness.ts"
import { type FakeAnswer, type FakeOpenAI, startFakeOpenAI } from "../../providers/FakeOpenAI.ts"
import { type FakeOpenRouter, type Reply, startFakeOpenRouter } from "../../providers/FakeOpenRouter.ts"
import {
  OPENROUTER_PLATFORM_KEY,
  PLATFORM_KEY,
  type ProviderGateway,
  startProviderGateway,
  type Store
} from "../../providers/ProviderGateway.ts"

/** Short, so that the timeout trials cost little; the fake's hang never answers at all. */
export const PROVIDER_TIMEOUT_MS = 250

/** What a trial must end with: a success (charged the price) or a documented error, never charged. */
type Expect = { readonly status: 200 } | { readonly status: number; readonly code: string; readonly retryAfter?: string }

interface Fault {
  readonly name: string
  readonly provider: "openai" | "openrouter"
  readonly responseFormat?: "url" | "b64_json"
  readonly openai?: FakeAnswer
  readonly openrouter?: Reply
  readonly expect: Expect
}

const OK: Expect = { status: 200 }
const UNAVAILABLE: Expect = { status: 503, code: "provider_unavailable" }
const MALFORMED: Expect = { status: 502, code: "provider_malformed_response" }
const TIMEOUT: Expect = { status: 504, code: "provider_timeout" }

/** Every fault a trial draws from (successes included, so that failures interleave with charges). */
export const FAULTS: ReadonlyArray<Fault> = [
  { name: "openai: b64 success", provider: "openai", openai: { kind: "b64" }, expect: OK },
  { name: "openai: URL success (downloaded)", provider: "openai", responseFormat: "url", openai: { kind: "url" }, expect: OK },
  { name: "openai: 500", provider: "openai", openai: { kind: "server_error" }, expect: UNAVAILABLE },
  {
    name: "openai: 429 with retry-after",
    provider: "openai",
    openai: { kind: "rate_limited", retryAfter: "7" },
    expect: { status: 429, code: "provider_rate_limited", retryAfter: "7" }
  },
  { name: "openai: 429 without retry-after", provider: "openai", openai: { kind: "rate_limited" }, expect: { status: 429, code: "provider_rate_limited" } },
  { name: "openai: no answer before the deadline", provider: "openai", openai: { kind: "hang" }, expect: TIMEOUT },
  { name: "openai: malformed JSON", provider: "openai", openai: { kind: "malformed" }, expect: MALFORMED },
  { name: "openai: empty image list", provider: "openai", openai: { kind: "empty" }, expect: MALFORMED },
  { name: "openai: connection reset before headers", provider: "openai", openai: { kind: "reset" }, expect: UNAVAILABLE },
  { name: "openai: URL answer, download 404", provider: "openai", openai: { kind: "url", serve: "missing" }, expect: UNAVAILABLE },
  { name: "openai: URL answer, download is HTML", provider: "openai", openai: { kind: "url", serve: "html" }, expect: MALFORMED },
  { name: "openai: URL answer, download hangs", provider: "openai", openai: { kind: "url", serve: "hang" }, expect: TIMEOUT },
  { name: "openrouter: success", provider: "openrouter", openrouter: { kind: "images" }, expect: OK },
  {
    name: "openrouter: 503 with retry-after",
    provider: "openrouter",
    openrouter: { kind: "error", status: 503, message: "upstream overloaded", headers: { "retry-after": "2" } },
    expect: UNAVAILABLE
  },
  { name: "openrouter: 502", provider: "openrouter", openrouter: { kind: "error", status: 502, message: "upstream exploded" }, expect: UNAVAILABLE },
  {
    name: "openrouter: 429 with retry-after",
    provider: "openrouter",
    openrouter: { kind: "error", status: 429, message: "slow down", headers: { "retry-after": "3" } },
    expect: { status: 429, code: "provider_rate_limited", retryAfter: "3" }
  },
  { name: "openrouter: reset after headers", provider: "openrouter", openrouter: { kind: "cutBody" }, expect: UNAVAILABLE },
  { name: "openrouter: reset before headers", provider: "openrouter", openrouter: { kind: "reset" }, expect: UNAVAILABLE },
  { name: "openrouter: no answer before the deadline", provider: "openrouter", openrouter: { kind: "hang" }, expect: TIMEOUT },
  { name: "openrouter: body not JSON", provider: "openrouter", openrouter: { kind: "raw", status: 200, text: "<html>oops" }, expect: MALFORMED },
  {
    name: "openrouter: no images",
    provider: "openrouter",
    openrouter: { kind: "json", status: 200, body: { choices: [{ message: { role: "assistant", content: "no" } }] } },
    expect: MALFORMED
  }
]

/** The demo organizations' tier (DemoData): the payer of every trial. */
const PAYER_TIER = "managed"

const MODEL = { openai: "dall-e-3", openrouter: "google/gemini-2.5-flash-image" } as const

/** The price of one image as the domain defines it: the default table and the payer's tier. */
const priceFor = (model: string, tier: string) => {
  const spec = DEFAULT_MODELS.find((m) => m.id === model)!
  return priceOf(basePrice(DEFAULT_PRICES, spec, "standard", "1024x1024")!, 1, multiplierOf(defaultTierPolicy, tier))
}

/** A small seeded generator (mulberry32): a failing run is replayed with its seed. */
const random = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

export interface TrialReport {
  readonly trials: number
  readonly seed: number
  readonly successes: number
  readonly failures: number
  readonly charged: number
  readonly byFault: Record<string, number>
  readonly ms: number
}

const LEAKS = [PLATFORM_KEY, OPENROUTER_PLATFORM_KEY, "upstream exploded", "upstream overloaded", "slow down", "secret-signature"]

const checkTrial = (fault: Fault, r: HttpResult, price: number, delta: number) => {
  const label = `${fault.name}: ${r.status} ${r.text.slice(0, 300)}`
  const charged = r.headers.get("x-credits-charged")
  if (fault.expect.status === 200) {
    expect(r.status, label).toBe(200)
    expect(charged, label).toBe(String(toCredits(price)))
    expect(delta, label).toBe(-price)
    return price
  }
  expect({ status: r.status, code: r.json?.error?.code }, label).toEqual({ status: fault.expect.status, code: (fault.expect as { code: string }).code })
  // OpenAI's error shape, exactly these four fields.
  expect(Object.keys(r.json.error).sort(), label).toEqual(["code", "message", "param", "type"])
  expect(typeof r.json.error.message, label).toBe("string")
  expect(typeof r.json.error.type, label).toBe("string")
  if ("retryAfter" in fault.expect) expect(r.headers.get("retry-after"), label).toBe(fault.expect.retryAfter)
  expect(charged ?? "0", label).toBe("0")
  expect(delta, label).toBe(0)
  for (const leak of LEAKS) expect(r.text, label).not.toContain(leak)
  return 0
}

/**
 * Runs `trials` generations on a fresh gateway over `store`, one at a time (the fakes answer from
 * one script), and checks each and then the ledger as a whole.
 */
export const runProviderFaultTrials = async (options: { readonly store: Store; readonly trials: number; readonly seed: number }) => {
  const openai: FakeOpenAI = await startFakeOpenAI()
  const openrouter: FakeOpenRouter = await startFakeOpenRouter()
  let database: TestDatabase | undefined
  let gateway: ProviderGateway | undefined
  try {
    if (options.store === "postgres") database = await openTestDatabase()
    gateway = await startProviderGateway({
      store: options.store,
      database,
      fake: openai,
      openrouter,
      // Never opens here: every trial must reach the fake upstream (the breaker has its own tests).
      circuit: { failures: 1_000_000, openDuration: "30 seconds" },
      policy: { providerTimeoutMs: PROVIDER_TIMEOUT_MS, pricingRefreshMs: 600_000 }
    })
    const payer = accountOfOrg(WORLD.presentonOrg)
    const headers = bearerHeader(WORLD.presentonKey)
    const balance = () => gateway!.run(LedgerStore.use((s) => s.balance(payer)))
    const settledBefore = await settledSum(gateway)
    const next = random(options.seed)
    const byFault: Record<string, number> = {}
    let successes = 0
    let charged = 0
    const started = performance.now()
    let before = (await balance()).available
    for (let i = 0; i < options.trials; i++) {
      const fault = FAULTS[Math.floor(next() * FAULTS.length)]!
      byFault[fault.name] = (byFault[fault.name] ?? 0) + 1
      if (fault.openai !== undefined) openai.script(fault.openai)
      if (fault.openrouter !== undefined) {
        openrouter.reset()
        openrouter.script("chat", fault.openrouter)
      }
      const r = await generate(gateway.origin, headers, {
        prompt: `trial ${i}`,
        model: MODEL[fault.provider],
        // The OpenRouter model takes neither (its one price covers every quality and size).
        ...(fault.provider === "openai" ? { size: "1024x1024", quality: "standard" } : {}),
        n: 1,
        response_format: fault.responseFormat ?? "b64_json"
      })
      const after = await balance()
      const cost = checkTrial(fault, r, priceFor(MODEL[fault.provider], PAYER_TIER), after.available - before)
      expect(after.pending, `${fault.name}: a hold left pending`).toBe(0)
      before = after.available
      if (cost > 0) successes++
      charged += cost
    }
    const ms = Math.round(performance.now() - started)

    // The ledger as a whole: debits for exactly the successes, no hold pending, a balanced journal.
    expect(await settledSum(gateway) - settledBefore).toBe(charged)
    const ledger = await gateway.run(Effect.all({
      pending: LedgerStore.use((s) => s.pendingHolds),
      balances: LedgerStore.use((s) => s.balances)
    }))
    expect(ledger.pending).toEqual({ count: 0, amount: 0 })
    expect(ledger.balances.reduce((sum, b) => sum + b.posted, 0)).toBe(0)
    return {
      trials: options.trials,
      seed: options.seed,
      successes,
      failures: options.trials - successes,
      charged,
      byFault,
      ms
    } satisfies TrialReport
  } finally {
    await gateway?.close()
    await openrouter.close()
    await openai.close()
    await database?.close()
  }
}

/** The millicredits of every settle transfer in the journal. */
const settledSum = async (gateway: ProviderGateway) => {
  let sum = 0
  let beforeSeq: number | undefined
  for (;;) {
    const page = await gateway.run(LedgerStore.use((s) => s.transfers({ limit: 500, beforeSeq })))
    for (const t of page) if (t.kind === "settle") sum += t.amount
    if (page.length < 500) return sum
    beforeSeq = page.at(-1)!.seq
  }
}
