/**
 * The gateway over HTTP with the real OpenAI backend behind the provider router, against the fake
 * OpenAI server on 127.0.0.1, on memory and on PostgreSQL: what a caller gets, what the ledger
 * keeps, which key reaches the provider, and the circuit breaker in /metrics.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { WORLD } from "../../specs/support/Harness.ts"
import { openTestDatabase, type TestDatabase } from "../../specs/support/postgres.ts"
import { makeAdminClient } from "../http/support/AdminHttp.ts"
import { bearerHeader, changedAccounts, generate, http, UNICORN } from "../http/support/HttpHarness.ts"
import { FAKE_PNG, type FakeAnswer, type FakeOpenAI, startFakeOpenAI } from "./FakeOpenAI.ts"
import { type FakeOpenRouter, PNG_BYTES, startFakeOpenRouter } from "./FakeOpenRouter.ts"
import { OPENROUTER_PLATFORM_KEY, PLATFORM_KEY, type ProviderGateway, startProviderGateway, type Store } from "./ProviderGateway.ts"

const BOB_OWN_KEY = WORLD.bobOpenAiKey

/** Every sample of a Prometheus exposition, keyed by `name{labels}`. */
const scrape = async (origin: string): Promise<Map<string, number>> => {
  const r = await http(origin, "/metrics")
  expect(r.status).toBe(200)
  const found = new Map<string, number>()
  for (const line of r.text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue
    const at = line.lastIndexOf(" ")
    found.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return found
}
const CIRCUIT = `image_gateway_provider_circuit_state{provider="openai"}`

/** The circuit gauge once it reads `value` (it follows the breaker's transitions a moment later); 5 s at most. */
const circuitGauge = async (origin: string, value: number): Promise<number | undefined> => {
  const deadline = Date.now() + 5_000
  let state = (await scrape(origin)).get(CIRCUIT)
  while (state !== value && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    state = (await scrape(origin)).get(CIRCUIT)
  }
  return state
}

const presenton = bearerHeader(WORLD.presentonKey)
const bob = bearerHeader(WORLD.bob.key)

describe.each<Store>(["memory", "postgres"])("the OpenAI provider over HTTP on %s", (store) => {
  let fake: FakeOpenAI
  let database: TestDatabase | undefined
  let gateway: ProviderGateway
  beforeAll(async () => {
    fake = await startFakeOpenAI()
    if (store === "postgres") database = await openTestDatabase()
    // A threshold the failures below never reach: each of them reaches the fake server.
    gateway = await startProviderGateway({
      store,
      database,
      fake,
      circuit: { failures: 1_000, openDuration: "30 seconds" },
      // No background pricing refresh during the tests: a route set over the admin API must reach
      // the router through the one catalog the core and the router share.
      policy: { providerTimeoutMs: 1_500, pricingRefreshMs: 600_000 }
    })
  }, 60_000)
  afterAll(async () => {
    await gateway?.close()
    await fake?.close()
    await database?.close()
  })

  it("draws with the platform key and re-serves a base64 answer from the gateway's own image URL", async () => {
    fake.script({ kind: "b64" })
    const before = fake.imageRequests().length
    const r = await generate(gateway.origin, presenton, { ...UNICORN, response_format: "url" })
    expect(r.status, r.text).toBe(200)
    expect(r.json._metadata.provider_used).toBe("openai")
    const url: string = r.json.data[0].url
    expect(url.startsWith(`${gateway.origin}/v1/images/files/`)).toBe(true)
    const image = await fetch(url)
    expect(image.status).toBe(200)
    expect(new Uint8Array(await image.arrayBuffer())).toEqual(FAKE_PNG)
    const sent = fake.imageRequests().slice(before)
    expect(sent.map((q) => q.authorization)).toEqual([`Bearer ${PLATFORM_KEY}`])
  })

  it("downloads a URL answer and hands out the gateway's URL, never the provider's", async () => {
    fake.script({ kind: "url" })
    const files = fake.fileRequests().length
    const r = await generate(gateway.origin, presenton, { ...UNICORN, response_format: "url" })
    expect(r.status, r.text).toBe(200)
    expect(fake.fileRequests().length).toBe(files + 1)
    const url: string = r.json.data[0].url
    expect(url.startsWith(`${gateway.origin}/v1/images/files/`)).toBe(true)
    expect(r.text).not.toContain(fake.baseUrl.replace(/\/v1$/, ""))
    expect(r.text).not.toContain("secret-signature")
    expect(new Uint8Array(await (await fetch(url)).arrayBuffer())).toEqual(FAKE_PNG)
  })

  it("returns b64_json answers as the provider drew them", async () => {
    fake.script({ kind: "b64" })
    const r = await generate(gateway.origin, presenton, { ...UNICORN, response_format: "b64_json" })
    expect(r.status, r.text).toBe(200)
    expect(Uint8Array.from(Buffer.from(r.json.data[0].b64_json, "base64"))).toEqual(FAKE_PNG)
  })

  it.each<[string, FakeAnswer, number, string]>([
    ["a content-policy refusal", { kind: "content_policy" }, 400, "content_policy_violation"],
    ["a 401 for the platform key", { kind: "unauthorized" }, 503, "provider_unavailable"],
    ["a 429", { kind: "rate_limited", retryAfter: "7" }, 429, "provider_rate_limited"],
    ["a 500", { kind: "server_error" }, 503, "provider_unavailable"],
    ["no answer before the deadline", { kind: "hang" }, 504, "provider_timeout"],
    ["malformed JSON", { kind: "malformed" }, 502, "provider_malformed_response"],
    ["an empty image list", { kind: "empty" }, 502, "provider_malformed_response"]
  ])("%s: the hold is released, the payer's balance is unchanged and the provider's text stays out", async (_, answer, status, code) => {
    fake.script(answer)
    const before = await gateway.balances()
    const sent = fake.imageRequests().length
    const r = await generate(gateway.origin, presenton)
    expect(r.status, r.text).toBe(status)
    expect(r.json.error.code).toBe(code)
    expect(fake.imageRequests().length).toBe(sent + 1)
    expect(changedAccounts(before, await gateway.balances())).toEqual([])
    expect((await gateway.balances()).every((b) => b.pending === 0)).toBe(true)
    for (const leak of ["safety system", "Incorrect API key", PLATFORM_KEY, "rate_limit_exceeded", "The server had an error"]) {
      expect(r.text).not.toContain(leak)
    }
    if (status === 503) expect(r.json.error.message).not.toContain(PLATFORM_KEY.slice(0, 12))
  })

  it("a connection reset: released and not charged", async () => {
    fake.script({ kind: "reset" })
    const before = await gateway.balances()
    const r = await generate(gateway.origin, presenton)
    expect([502, 503, 504]).toContain(r.status)
    expect(changedAccounts(before, await gateway.balances())).toEqual([])
  })

  it("Bob's BYOK call carries his own key, never the platform's, and moves no credits", async () => {
    fake.script({ kind: "b64" })
    const before = await gateway.balances()
    const sent = fake.imageRequests().length
    const r = await generate(gateway.origin, bob)
    expect(r.status, r.text).toBe(200)
    expect(r.json._metadata.provider_used).toBe("openai")
    expect(r.headers.get("x-credits-charged") ?? "0").toBe("0")
    expect(fake.imageRequests().slice(sent).map((q) => q.authorization)).toEqual([`Bearer ${BOB_OWN_KEY}`])
    expect(changedAccounts(before, await gateway.balances())).toEqual([])
  })

  it("a route in the admin pricing data sends dall-e-3 to local from the next call (BYOK still to openai); cleared, back to openai", async () => {
    const admin = await makeAdminClient(gateway.origin)
    const sent = fake.imageRequests().length
    try {
      const routed = await admin.call("PATCH", "/pricing", { body: { routes: { "dall-e-3": "local" } } })
      expect(routed.status, routed.text).toBe(200)
      expect(routed.json.routes).toEqual({ "dall-e-3": "local" })
      expect((await admin.call("GET", "/pricing")).json.routes).toEqual({ "dall-e-3": "local" })

      const local = await generate(gateway.origin, presenton)
      expect(local.status, local.text).toBe(200)
      expect(local.json._metadata.provider_used).toBe("local")
      expect(fake.imageRequests().length).toBe(sent)

      // The payer's own key is never sent elsewhere: Bob's BYOK call still goes to OpenAI.
      fake.script({ kind: "b64" })
      const byok = await generate(gateway.origin, bob)
      expect(byok.status, byok.text).toBe(200)
      expect(byok.json._metadata.provider_used).toBe("openai")
      expect(fake.imageRequests().slice(sent).map((q) => q.authorization)).toEqual([`Bearer ${BOB_OWN_KEY}`])

      const refused = await admin.call("PATCH", "/pricing", { body: { routes: { "dall-e-3": "anthropic" } } })
      expect({ status: refused.status, param: refused.json.error.param }).toEqual({ status: 400, param: "routes.dall-e-3" })
    } finally {
      const cleared = await admin.call("PATCH", "/pricing", { body: { routes: { "dall-e-3": null } } })
      expect(cleared.status, cleared.text).toBe(200)
      expect(cleared.json.routes).toEqual({})
    }
    fake.script({ kind: "b64" })
    const back = await generate(gateway.origin, presenton)
    expect(back.status, back.text).toBe(200)
    expect(back.json._metadata.provider_used).toBe("openai")
    expect(fake.imageRequests().slice(sent).map((q) => q.authorization)).toEqual([`Bearer ${BOB_OWN_KEY}`, `Bearer ${PLATFORM_KEY}`])
  })

  it("a rejected BYOK key is Bob's to fix (400) and is not charged", async () => {
    fake.script({ kind: "unauthorized" })
    const before = await gateway.balances()
    const r = await generate(gateway.origin, bob)
    expect(r.status, r.text).toBe(400)
    expect(r.json.error.code).toBe("byok_key_rejected")
    expect(r.text).not.toContain(BOB_OWN_KEY)
    expect(changedAccounts(before, await gateway.balances())).toEqual([])
  })
})

describe.each<Store>(["memory", "postgres"])("the OpenRouter provider over HTTP on %s", (store) => {
  let openai: FakeOpenAI
  let fake: FakeOpenRouter
  let database: TestDatabase | undefined
  let gateway: ProviderGateway
  beforeAll(async () => {
    openai = await startFakeOpenAI()
    fake = await startFakeOpenRouter()
    if (store === "postgres") database = await openTestDatabase()
    gateway = await startProviderGateway({
      store,
      database,
      fake: openai,
      openrouter: fake,
      circuit: { failures: 1_000, openDuration: "30 seconds" },
      policy: { providerTimeoutMs: 1_500 }
    })
  }, 60_000)
  afterAll(async () => {
    await gateway?.close()
    await fake?.close()
    await openai?.close()
    await database?.close()
  })
  const GEMINI = { prompt: "a red fox in the snow", model: "google/gemini-2.5-flash-image", response_format: "b64_json" }

  it("draws the OpenRouter model with the platform's OpenRouter key, charging the payer", async () => {
    fake.script("chat", { kind: "images", cost: 0.039 })
    const before = await gateway.balances()
    const sent = fake.requestsTo("chat").length
    const r = await generate(gateway.origin, presenton, GEMINI)
    expect(r.status, r.text).toBe(200)
    expect(r.json._metadata.provider_used).toBe("openrouter")
    expect(Uint8Array.from(Buffer.from(r.json.data[0].b64_json, "base64"))).toEqual(PNG_BYTES)
    expect(fake.requestsTo("chat").slice(sent).map((q) => q.authorization)).toEqual([`Bearer ${OPENROUTER_PLATFORM_KEY}`])
    expect(changedAccounts(before, await gateway.balances())).not.toEqual([])
    expect(openai.imageRequests().length).toBe(0)
  })

  it("Bob's BYOK call carries his own OpenRouter key and moves no credits", async () => {
    const before = await gateway.balances()
    const sent = fake.requestsTo("chat").length
    const r = await generate(gateway.origin, bob, GEMINI)
    expect(r.status, r.text).toBe(200)
    expect(fake.requestsTo("chat").slice(sent).map((q) => q.authorization)).toEqual([`Bearer ${WORLD.bobOpenRouterKey}`])
    expect(changedAccounts(before, await gateway.balances())).toEqual([])
  })

  it.each<[string, Parameters<FakeOpenRouter["script"]>[1], number]>([
    ["a 402 on the platform's key", { kind: "error", status: 402, code: 402, message: "Insufficient credits on sk-or-platform" }, 503],
    ["a 502 from the upstream model", { kind: "error", status: 502, code: 502, message: "upstream exploded" }, 503],
    ["a 429", { kind: "error", status: 429, code: 429, message: "slow down", headers: { "retry-after": "3" } }, 429],
    ["no images in the answer", { kind: "json", status: 200, body: { choices: [{ message: { role: "assistant", content: "no" } }] } }, 502]
  ])("%s: released, not charged, the provider's text kept out", async (_, reply, status) => {
    fake.script("chat", reply)
    const before = await gateway.balances()
    const r = await generate(gateway.origin, presenton, GEMINI)
    expect(r.status, r.text).toBe(status)
    expect(changedAccounts(before, await gateway.balances())).toEqual([])
    for (const leak of ["Insufficient credits", "upstream exploded", "slow down", OPENROUTER_PLATFORM_KEY]) expect(r.text).not.toContain(leak)
  })
})

describe("the OpenAI provider's circuit breaker over HTTP", () => {
  let fake: FakeOpenAI
  let gateway: ProviderGateway
  beforeAll(async () => {
    fake = await startFakeOpenAI()
    gateway = await startProviderGateway({ store: "memory", fake, circuit: { failures: 2, openDuration: "700 millis" } })
  })
  afterAll(async () => {
    await gateway?.close()
    await fake?.close()
  })

  it("opens after 2 failures, fails fast without calling the provider, half-opens, and closes on a good probe; /metrics shows each state", async () => {
    const calls = `image_gateway_provider_calls_total{provider="openai",outcome="circuit_open"}`
    const start = await scrape(gateway.origin)
    expect(start.get(CIRCUIT)).toBe(0)

    fake.script({ kind: "server_error" }, { kind: "server_error" })
    expect((await generate(gateway.origin, presenton)).status).toBe(503)
    expect((await generate(gateway.origin, presenton)).status).toBe(503)
    expect(await circuitGauge(gateway.origin, 2)).toBe(2)

    const sent = fake.imageRequests().length
    const before = await gateway.balances()
    const fast = await generate(gateway.origin, presenton)
    expect(fast.status).toBe(503)
    expect(fast.json.error.code).toBe("provider_unavailable")
    expect(fake.imageRequests().length).toBe(sent)
    expect(changedAccounts(before, await gateway.balances())).toEqual([])
    const open = await scrape(gateway.origin)
    expect((open.get(calls) ?? 0) - (start.get(calls) ?? 0)).toBe(1)

    expect(open.get(CIRCUIT)).toBe(2)
    // After the open duration (700 ms) the gauge says half-open: the next call is the probe.
    expect(await circuitGauge(gateway.origin, 1)).toBe(1)

    const probe = await generate(gateway.origin, presenton)
    expect(probe.status, probe.text).toBe(200)
    expect(fake.imageRequests().length).toBe(sent + 1)
    expect(await circuitGauge(gateway.origin, 0)).toBe(0)
  })
})
