import { Effect, Layer } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { CreditLedger } from "../../src/application/CreditLedger.ts"
import { ImageProvider } from "../../src/application/ports/ImageProvider.ts"
import { generateLocally } from "../../src/adapters/local/LocalImageProvider.ts"
import { DEMO } from "../../src/DemoData.ts"
import { accounts, WORLD } from "../../specs/support/Harness.ts"
import { promptFor } from "../../specs/support/ScriptedProvider.ts"
import {
  balances,
  bearerHeader,
  changedAccounts,
  generate,
  http,
  startGateway,
  type TestGateway,
  UNICORN
} from "./support/HttpHarness.ts"

let gateway: TestGateway
beforeAll(async () => {
  gateway = await startGateway()
})
afterAll(() => gateway.close())

const get = (path: string, headers: Record<string, string> = {}) => http(gateway.origin, path, { headers })
const send = (method: string, path: string, headers: Record<string, string>, body?: unknown) =>
  http(gateway.origin, path, {
    method,
    headers: { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body)
  })

const expectOpenAIError = (r: { status: number; json: any; headers: Headers }, status: number, code: string | null, param?: string | null) => {
  expect(r.status).toBe(status)
  expect(r.headers.get("content-type")).toBe("application/json")
  expect(r.headers.get("x-request-id")).toBeTruthy()
  expect(Object.keys(r.json.error).sort()).toEqual(["code", "message", "param", "type"])
  expect(r.json.error.code).toBe(code)
  expect(typeof r.json.error.message).toBe("string")
  if (param !== undefined) expect(r.json.error.param).toBe(param)
}

describe("the HTTP surface", () => {
  describe("request ids and unknown routes", () => {
    it("keeps a valid incoming X-Request-ID and replaces an invalid one", async () => {
      expect((await get("/healthz", { "x-request-id": "trace-123.abc:1" })).headers.get("x-request-id")).toBe("trace-123.abc:1")
      const replaced = (await get("/healthz", { "x-request-id": "bad id with spaces" })).headers.get("x-request-id")
      expect(replaced).toMatch(/^req_[0-9a-f]{32}$/)
    })

    it("answers an unknown route with 404 in OpenAI's shape", async () => {
      const r = await get("/v1/nothing-here?x=1")
      expectOpenAIError(r, 404, "unknown_url", null)
      expect(r.json.error.message).toContain("GET /v1/nothing-here")
      expectOpenAIError(await send("DELETE", "/v1/images/generations", {}), 404, "unknown_url")
    })
  })

  describe("request bodies", () => {
    it("refuses a body that is not JSON with 400, never an empty body", async () => {
      const r = await http(gateway.origin, "/v1/images/generations", {
        headers: { ...bearerHeader(WORLD.alice.key), "content-type": "application/json" },
        body: "{not json"
      })
      expectOpenAIError(r, 400, "invalid_json", null)
      const empty = await http(gateway.origin, "/v1/images/generations", {
        method: "POST",
        headers: { ...bearerHeader(WORLD.alice.key), "content-type": "application/json" },
        body: ""
      })
      expectOpenAIError(empty, 400, "invalid_json")
    })

    it("refuses a content type that is not JSON with 415, and reads a body with none as JSON", async () => {
      const r = await http(gateway.origin, "/v1/images/generations", {
        headers: { ...bearerHeader(WORLD.alice.key), "content-type": "text/plain" },
        body: JSON.stringify(UNICORN)
      })
      expectOpenAIError(r, 415, "unsupported_media_type", "Content-Type")
      const form = await http(gateway.origin, "/v1/images/generations", {
        headers: { ...bearerHeader(WORLD.alice.key), "content-type": "application/x-www-form-urlencoded" },
        body: "prompt=x"
      })
      expect(form.status).toBe(415)
      const none = await fetch(`${gateway.origin}/v1/images/generations`, {
        method: "POST",
        headers: bearerHeader(WORLD.alice.key),
        body: new Blob([JSON.stringify({ ...UNICORN, response_format: "b64_json" })])
      })
      expect(none.status).toBe(200)
      const charset = await http(gateway.origin, "/v1/images/generations", {
        headers: { ...bearerHeader(WORLD.alice.key), "content-type": "application/json; charset=utf-8" },
        body: JSON.stringify({ ...UNICORN, response_format: "b64_json" })
      })
      expect(charset.status).toBe(200)
    })

    it("refuses a body above 1 MiB with 413, declared or streamed", async () => {
      const big = JSON.stringify({ ...UNICORN, padding: "x".repeat(1024 * 1024) })
      const before = await gateway.run(balances)
      expectOpenAIError(await generate(gateway.origin, bearerHeader(WORLD.alice.key), JSON.parse(big)), 413, "request_too_large")
      const chunked = await fetch(`${gateway.origin}/v1/images/generations`, {
        method: "POST",
        headers: { ...bearerHeader(WORLD.alice.key), "content-type": "application/json" },
        body: new ReadableStream({
          start(controller) {
            controller.enqueue(new TextEncoder().encode(big))
            controller.close()
          }
        }),
        duplex: "half"
      } as RequestInit)
      expect(chunked.status).toBe(413)
      expect((await chunked.json()).error.code).toBe("request_too_large")
      expect(changedAccounts(before, await gateway.run(balances))).toEqual([])
    })

    it("lets the core name the parameter that is wrong", async () => {
      const auth = bearerHeader(WORLD.alice.key)
      expectOpenAIError(await generate(gateway.origin, auth, { model: "dall-e-3" }), 400, "missing_required_parameter", "prompt")
      expectOpenAIError(await generate(gateway.origin, auth, { ...UNICORN, n: "1" }), 400, "invalid_type", "n")
      expectOpenAIError(await generate(gateway.origin, auth, { ...UNICORN, size: "7x7" }), 400, "invalid_value", "size")
      expectOpenAIError(await generate(gateway.origin, auth, [1, 2]), 400, "invalid_request_body", null)
      expectOpenAIError(
        await generate(gateway.origin, { ...auth, "idempotency-key": "k".repeat(300) }, UNICORN),
        400,
        "invalid_idempotency_key",
        "Idempotency-Key"
      )
    })
  })

  describe("generation responses", () => {
    it("serves the same handler on all three paths, with credit headers", async () => {
      for (const path of ["/v1/images/generations", "/api/v1/llm/images/generations", "/api/v1/llm/image/generations"]) {
        const r = await generate(gateway.origin, bearerHeader(WORLD.presentonKey), UNICORN, path)
        expect(r.status).toBe(200)
        expect(r.headers.get("x-credits-charged")).toBe("48")
        expect(Number(r.headers.get("x-credits-remaining"))).toBe(r.json._metadata.credits_remaining)
      }
    })

    it("shows credits with up to 3 decimals", async () => {
      // The local model: 1 credit × 1.5 (free tier)... Alice is professional (×1.2): 1.2 credits.
      const r = await generate(gateway.origin, bearerHeader(WORLD.alice.key), { prompt: "tiny", model: "local", size: "256x256" })
      expect(r.status).toBe(200)
      expect(r.headers.get("x-credits-charged")).toBe("1.2")
      expect(r.json._metadata.cost_incurred).toBe(1.2)
    })

    it("serves a stored image once, then 404 for unknown or malformed ids", async () => {
      const r = await generate(gateway.origin, bearerHeader(WORLD.alice.key), { ...UNICORN, response_format: "url" })
      const image = await fetch(r.json.data[0].url)
      expect(image.status).toBe(200)
      expect(image.headers.get("cache-control")).toMatch(/^private, max-age=\d+/)
      expectOpenAIError(await get(`/v1/images/files/${"0".repeat(32)}.png`), 404, "image_not_found")
      expectOpenAIError(await get("/v1/images/files/..%2F..%2Fetc%2Fpasswd"), 404, "image_not_found")
    })

    it.each([
      ["unavailable", 503, "provider_unavailable"],
      ["timeout", 504, "provider_timeout"],
      ["malformed", 502, "provider_malformed_response"],
      ["rate_limited", 429, "provider_rate_limited"],
      ["rejected", 400, "content_policy_violation"]
    ] as const)("maps a provider failure (%s) to %i %s and releases the hold", async (outcome, status, code) => {
      const before = await gateway.run(balances)
      const r = await generate(gateway.origin, bearerHeader(WORLD.presentonKey), { ...UNICORN, prompt: promptFor(outcome) })
      expectOpenAIError(r, status, code)
      if (outcome === "rate_limited") expect(r.headers.get("retry-after")).toBe("7")
      expect(changedAccounts(before, await gateway.run(balances))).toEqual([])
    })
  })

  describe("models, health, documents", () => {
    it("lists image models with prices without credentials", async () => {
      const r = await get("/v1/models")
      expect(r.status).toBe(200)
      expect(r.json.object).toBe("list")
      const local = r.json.data.find((m: any) => m.id === "local")
      expect(local).toMatchObject({ object: "model", owned_by: "local", prices: [{ quality: "*", size: "*", credits: 1 }] })
    })

    it("answers /healthz and /readyz", async () => {
      expect((await get("/healthz")).json).toEqual({ status: "ok" })
      expect((await get("/readyz")).json).toEqual({ status: "ready" })
    })

    it("publishes the OpenAPI document and docs that load nothing from a CDN", async () => {
      const spec = (await get("/openapi.json")).json
      expect(Object.keys(spec.paths)).toEqual(expect.arrayContaining([
        "/v1/images/generations",
        "/api/v1/llm/image/generations",
        "/api/v1/llm/images/generations",
        "/v1/models",
        "/api/v1/llm/credits",
        "/api/v1/llm/byok/keys/{id}"
      ]))
      expect(spec.components.securitySchemes.bearer.scheme).toBe("bearer")
      expect(spec.paths["/v1/models"].get.security).toEqual([])
      const docs = await get("/docs")
      expect(docs.status).toBe(200)
      expect(docs.headers.get("content-type")).toContain("text/html")
      expect(docs.text).not.toMatch(/<script[^>]+src=/)
    })
  })

  describe("credits", () => {
    it("resolves the payer exactly like a generation, X-User-ID included", async () => {
      const org = await get("/api/v1/llm/credits", bearerHeader(WORLD.boltKey))
      expect(org.json).toEqual({
        user_id: "org_bolt_diy_service",
        credits_remaining: 10_000,
        millicredits_remaining: 10_000_000,
        tier: "managed",
        monthly_cap: null,
        monthly_spent: 0,
        account_type: "org"
      })
      const carol = await get("/api/v1/llm/credits", { ...bearerHeader(WORLD.boltKey), "x-user-id": WORLD.carol.id })
      expect(carol.json).toMatchObject({ user_id: WORLD.carol.id, credits_remaining: 500, tier: "starter", account_type: "user" })
      const capped = await get("/api/v1/llm/credits", bearerHeader(WORLD.capped.key))
      expect(capped.json).toMatchObject({ monthly_cap: 100, credits_remaining: 1000 })
      expectOpenAIError(await get("/api/v1/llm/credits", bearerHeader(WORLD.strict.key)), 400, "missing_user_context", "X-User-ID")
      expectOpenAIError(await get("/api/v1/llm/credits"), 401, "missing_credentials")
      expectOpenAIError(await get("/api/v1/llm/credits", { ...bearerHeader(WORLD.alice.key), "x-user-id": WORLD.carol.id }), 403, "user_context_forbidden")
      // A service scoped to credits:read may read them, though it may not generate.
      expect((await get("/api/v1/llm/credits", bearerHeader(WORLD.scoped.key))).status).toBe(200)
    })

    it("shows the payer's journal, newest first, signed from the account's side", async () => {
      await generate(gateway.origin, bearerHeader(WORLD.carol.key), { ...UNICORN, prompt: "journal" })
      const r = await get("/api/v1/llm/credits/history?limit=2", bearerHeader(WORLD.carol.key))
      expect(r.status).toBe(200)
      expect(r.json.user_id).toBe(WORLD.carol.id)
      expect(r.json.data).toHaveLength(2)
      expect(r.json.data[0]).toMatchObject({ kind: "settle", credits: -48, millicredits: -48_000 })
      expect(r.json.data[1]).toMatchObject({ kind: "grant", credits: 500 })
      expectOpenAIError(await get("/api/v1/llm/credits/history?limit=0", bearerHeader(WORLD.carol.key)), 400, "invalid_value", "limit")
      expectOpenAIError(await get("/api/v1/llm/credits/history?limit=1&limit=2", bearerHeader(WORLD.carol.key)), 400, "invalid_value")
    })
  })

  describe("BYOK keys", () => {
    const path = "/api/v1/llm/byok/keys"

    it("lists the caller's own keys by their last 4 characters, never the key", async () => {
      const r = await get(path, bearerHeader(DEMO.bob.key))
      expect(r.status).toBe(200)
      expect(r.json.data.map((k: any) => [k.provider, k.last4, k.enabled]).sort()).toEqual([
        ["openai", DEMO.bobOpenAiKey.slice(-4), true],
        ["openrouter", DEMO.bobOpenRouterKey.slice(-4), true]
      ])
      expect(r.text).not.toContain(DEMO.bobOpenAiKey)
      expect(r.text).not.toContain(DEMO.bobOpenRouterKey)
    })

    it("adds, disables, enables and removes a key, and generation follows it", async () => {
      const auth = bearerHeader(WORLD.vip.key)
      const secret = "sk-vip-own-openai-key-0123456789"
      const added = await send("POST", path, auth, { provider: "openai", api_key: secret })
      expect(added.status).toBe(201)
      expect(added.json).toMatchObject({ object: "byok_key", provider: "openai", last4: "6789", enabled: true })
      expect(added.text).not.toContain(secret)
      const id = added.json.id as string

      const byok = await generate(gateway.origin, auth)
      expect(byok.json._metadata).toMatchObject({ using_byok: true, cost_incurred: 0 })

      const disabled = await send("PATCH", `${path}/${id}`, auth, { enabled: false })
      expect(disabled.json.enabled).toBe(false)
      // Without an enabled own key the VIP user (no credits) is billed, and cannot pay.
      expectOpenAIError(await generate(gateway.origin, auth), 402, "insufficient_credits")

      expect((await send("PATCH", `${path}/${id}`, auth, { enabled: true })).json.enabled).toBe(true)
      const removed = await send("DELETE", `${path}/${id}`, auth)
      expect(removed.json).toEqual({ id, object: "byok_key", deleted: true })
      expectOpenAIError(await send("DELETE", `${path}/${id}`, auth), 404, "byok_key_not_found")
      expect((await get(path, auth)).json.data).toEqual([])
    })

    it("keeps every caller to its own keys and checks what is sent", async () => {
      const bobKeys = (await get(path, bearerHeader(DEMO.bob.key))).json.data
      expectOpenAIError(await send("DELETE", `${path}/${bobKeys[0].id}`, bearerHeader(WORLD.alice.key)), 404, "byok_key_not_found")
      expect((await get(path, bearerHeader(DEMO.bob.key))).json.data).toHaveLength(2)
      const auth = bearerHeader(WORLD.alice.key)
      expectOpenAIError(await send("POST", path, auth, { provider: "local", api_key: "sk-12345678" }), 400, "invalid_value", "provider")
      expectOpenAIError(await send("POST", path, auth, { provider: "openai" }), 400, "invalid_value", "api_key")
      expectOpenAIError(await send("POST", path, auth, { provider: "openai", api_key: "short" }), 400, "invalid_value", "api_key")
      expectOpenAIError(await send("PATCH", `${path}/x`, auth, { enabled: "yes" }), 400, "invalid_value", "enabled")
      expectOpenAIError(await send("POST", path, bearerHeader(WORLD.scoped.key), { provider: "openai", api_key: "sk-12345678" }), 403, "scope_denied")
      expectOpenAIError(await get(path), 401, "missing_credentials")
    })
  })
})

describe("limits of time", () => {
  it("reports a monthly cap with Retry-After up to the next month and x-should-retry: false", async () => {
    const r = await generate(gateway.origin, bearerHeader(WORLD.capped.key), { ...UNICORN, quality: "hd", size: "1792x1024" })
    expectOpenAIError(r, 429, "monthly_cap_exceeded")
    const retryAfter = Number(r.headers.get("retry-after"))
    expect(retryAfter).toBeGreaterThan(0)
    expect(retryAfter).toBeLessThanOrEqual(31 * 86_400)
    expect(r.headers.get("x-should-retry")).toBe("false")
  })

  it("no longer serves an image once its URL has expired", async () => {
    const short = await startGateway({ policy: { imageUrlTtlMs: 50 } })
    try {
      const r = await generate(short.origin, bearerHeader(WORLD.alice.key), { ...UNICORN, response_format: "url" })
      await new Promise((resolve) => setTimeout(resolve, 80))
      const image = await fetch(r.json.data[0].url)
      expect(image.status).toBe(404)
    } finally {
      await short.close()
    }
  })

  it("on shutdown lets in-flight requests finish, and releases the holds of those it must interrupt", async () => {
    const slow = Layer.succeed(ImageProvider, ImageProvider.of({
      generate: (call) =>
        call.prompt.includes("[hang]") ? Effect.never : Effect.delay(generateLocally({ ...call, size: "8x8" }), 300)
    }))
    const draining = await startGateway({ provider: slow, gracefulShutdownMs: 1_000 })
    const pending = () => draining.run(CreditLedger.use((l) => l.balance(accounts.presentonOrg)))
    const finishing = generate(draining.origin, bearerHeader(WORLD.presentonKey))
    const hanging = generate(draining.origin, bearerHeader(WORLD.presentonKey), { ...UNICORN, prompt: "stuck [hang]" }).catch((e) => e)
    await new Promise((resolve) => setTimeout(resolve, 100))
    expect((await pending()).pending).toBe(96_000)
    const started = Date.now()
    await draining.close()
    expect(Date.now() - started).toBeLessThan(5_000)
    expect((await finishing).status).toBe(200)
    const interrupted = await hanging
    expect(interrupted.status).toBe(503)
    expect(interrupted.json.error.code).toBe("shutting_down")
    const balance = await pending()
    expect(balance.pending).toBe(0)
    expect(balance.posted).toBe(10_000_000 - 48_000)
  })
})
