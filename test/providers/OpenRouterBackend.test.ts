import { Effect, Exit, Logger, Option, Redacted, References } from "effect"
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest"
import type { ProviderCall } from "../../src/application/ports/ImageProvider.ts"
import type { ProviderError } from "../../src/domain/Errors.ts"
import { makeOpenRouterBackend, type OpenRouterBackendOptions } from "../../src/adapters/providers/OpenRouterBackend.ts"
import { type FakeOpenRouter, PNG_BASE64, PNG_BYTES, pngDataUrl, startFakeOpenRouter } from "./FakeOpenRouter.ts"

const PLATFORM_KEY = "sk-or-v1-platform0123456789abcdef0123456789abcdef"
const BYOK_KEY = "sk-or-v1-payer00fedcba9876543210fedcba9876543210"

let fake: FakeOpenRouter
beforeAll(async () => {
  fake = await startFakeOpenRouter()
})
afterAll(() => fake.close())
afterEach(() => fake.reset())

const backend = (options: Partial<OpenRouterBackendOptions> = {}) =>
  makeOpenRouterBackend({
    apiKey: Option.some(Redacted.make(PLATFORM_KEY)),
    baseUrl: fake.baseUrl,
    maxAttempts: 3,
    // Short back-off so retried cases stay fast; the waits themselves are Retry.ts's own tests.
    retryPolicy: { baseDelayMs: 5, maxDelayMs: 20 },
    ...options
  })

const call = (overrides: Partial<ProviderCall> = {}): ProviderCall => ({
  provider: "openrouter",
  model: "google/gemini-2.5-flash-image",
  prompt: "a lighthouse at dusk",
  n: 1,
  size: "auto",
  quality: "auto",
  apiKey: Option.none(),
  timeoutMs: 5_000,
  ...overrides
})

const byok = (overrides: Partial<ProviderCall> = {}) => call({ apiKey: Option.some(Redacted.make(BYOK_KEY)), ...overrides })

/** Every log line the run wrote, as text (message and annotations). */
const run = async <A>(effect: Effect.Effect<A, ProviderError>) => {
  const logs: Array<string> = []
  const logger = Logger.make<unknown, void>((options) => {
    logs.push(`${options.logLevel} ${JSON.stringify(options.message)} ${JSON.stringify(options.fiber.getRef(References.CurrentLogAnnotations))}`)
  })
  const exit = await Effect.runPromiseExit(effect.pipe(Effect.provide(Logger.layer([logger]))))
  return { exit, logs }
}

const failureOf = <A>(exit: Exit.Exit<A, ProviderError>): ProviderError => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  const error = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (error === undefined || error._tag !== "Fail") throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
  return error.error
}

const successOf = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isFailure(exit)) throw new Error(`expected a success, got ${String(exit.cause)}`)
  return exit.value
}

describe("OpenRouterBackend.generate", () => {
  it("sends a chat completion with image modalities under the platform key and decodes the data-URL image", async () => {
    fake.script("chat", { kind: "images", cost: 0.0387 })
    const { exit } = await run(backend().generate(call()))
    const result = successOf(exit)
    expect(result.providerUsed).toBe("openrouter")
    expect(result.images).toHaveLength(1)
    expect(result.images[0]!.contentType).toBe("image/png")
    expect(Buffer.from(result.images[0]!.bytes).equals(Buffer.from(PNG_BYTES))).toBe(true)
    expect(result.providerCostMicroUsd).toBe(38_700)
    const [request] = fake.requestsTo("chat")
    expect(fake.requestsTo("chat")).toHaveLength(1)
    expect(request!.authorization).toBe(`Bearer ${PLATFORM_KEY}`)
    expect(request!.body).toEqual({
      model: "google/gemini-2.5-flash-image",
      messages: [{ role: "user", content: "a lighthouse at dusk" }],
      modalities: ["image", "text"]
    })
  })

  it("asks for the size's aspect ratio and passes the seed", async () => {
    successOf((await run(backend().generate(call({ size: "1536x1024", seed: 42 })))).exit)
    successOf((await run(backend().generate(call({ size: "1024x1536" })))).exit)
    successOf((await run(backend().generate(call({ size: "1024x1024" })))).exit)
    successOf((await run(backend().generate(call({ size: "1000x999" })))).exit)
    const bodies = fake.requestsTo("chat").map((r) => r.body as Record<string, unknown>)
    expect(bodies[0]).toMatchObject({ image_config: { aspect_ratio: "3:2" }, seed: 42 })
    expect(bodies[1]).toMatchObject({ image_config: { aspect_ratio: "2:3" } })
    expect(bodies[1]).not.toHaveProperty("seed")
    expect(bodies[2]).toMatchObject({ image_config: { aspect_ratio: "1:1" } })
    // No ratio OpenRouter knows: the model chooses (as for "auto", whose body the first test checks).
    expect(bodies[3]).not.toHaveProperty("image_config")
  })

  it("reports no provider cost when usage.cost is absent", async () => {
    fake.script("chat", { kind: "images" })
    const result = successOf((await run(backend().generate(call()))).exit)
    expect(result.providerCostMicroUsd).toBeUndefined()
  })

  it("makes one call per image for n > 1 and adds up their costs", async () => {
    fake.script("chat", { kind: "images", cost: 0.01 }, { kind: "images", cost: 0.02 }, { kind: "images", cost: 0.03 })
    const result = successOf((await run(backend().generate(call({ n: 3 })))).exit)
    expect(result.images).toHaveLength(3)
    expect(fake.requestsTo("chat")).toHaveLength(3)
    expect(result.providerCostMicroUsd).toBe(60_000)
  })

  it("returns the images of the calls that succeeded when another one of n failed", async () => {
    fake.script("chat", { kind: "images", cost: 0.01 }, { kind: "error", status: 400, message: "bad" })
    const result = successOf((await run(backend().generate(call({ n: 2 })))).exit)
    expect(result.images).toHaveLength(1)
    expect(result.providerCostMicroUsd).toBe(10_000)
  })

  it("takes the image type from the data URL", async () => {
    fake.script("chat", { kind: "images", urls: [`data:image/webp;base64,${PNG_BASE64}`] })
    const result = successOf((await run(backend().generate(call()))).exit)
    expect(result.images[0]!.contentType).toBe("image/webp")
  })

  it("fetches an image given as a plain URL", async () => {
    fake.script("chat", { kind: "images", urls: [fake.fileUrl("one.png")] })
    const result = successOf((await run(backend().generate(call()))).exit)
    expect(Buffer.from(result.images[0]!.bytes).equals(Buffer.from(PNG_BYTES))).toBe(true)
    expect(fake.requests.filter((r) => r.route === "file")).toHaveLength(1)
  })

  it("fails as unavailable when a plain image URL cannot be fetched", async () => {
    fake.script("chat", { kind: "images", urls: [`${fake.baseUrl}/missing.png`] })
    const error = failureOf((await run(backend().generate(call()))).exit)
    expect(error._tag).toBe("ProviderUnavailable")
  })

  describe("BYOK", () => {
    it("uses the payer's key and never the platform key", async () => {
      fake.script("chat", { kind: "images" }, { kind: "images" })
      successOf((await run(backend().generate(byok({ n: 2 })))).exit)
      expect(fake.requests.length).toBeGreaterThan(0)
      for (const request of fake.requests) {
        expect(request.authorization).toBe(`Bearer ${BYOK_KEY}`)
        expect(JSON.stringify(request)).not.toContain(PLATFORM_KEY)
      }
    })

    it("works without a platform key", async () => {
      const result = successOf((await run(backend({ apiKey: Option.none() }).generate(byok()))).exit)
      expect(result.images).toHaveLength(1)
      expect(fake.requestsTo("chat")[0]!.authorization).toBe(`Bearer ${BYOK_KEY}`)
    })

    it("is not configured without a platform key nor an own key, and sends nothing", async () => {
      const error = failureOf((await run(backend({ apiKey: Option.none() }).generate(call()))).exit)
      expect(error).toMatchObject({ _tag: "ProviderNotConfigured", provider: "openrouter" })
      expect(fake.requests).toHaveLength(0)
    })
  })

  describe("answers without images", () => {
    it("a 2xx without images is malformed, not retried", async () => {
      fake.script("chat", { kind: "images", urls: [] })
      const error = failureOf((await run(backend().generate(call()))).exit)
      expect(error._tag).toBe("ProviderMalformed")
      expect(fake.requestsTo("chat")).toHaveLength(1)
    })

    it("a 2xx without choices is malformed", async () => {
      fake.script("chat", { kind: "json", status: 200, body: { id: "gen-1", choices: [] } })
      expect(failureOf((await run(backend().generate(call()))).exit)._tag).toBe("ProviderMalformed")
    })

    it("a body that is not JSON is malformed, not retried", async () => {
      fake.script("chat", { kind: "raw", status: 200, text: "{\"choices\": [" })
      expect(failureOf((await run(backend().generate(call()))).exit)._tag).toBe("ProviderMalformed")
      expect(fake.requestsTo("chat")).toHaveLength(1)
    })

    it("a data URL that does not decode is malformed", async () => {
      fake.script("chat", { kind: "images", urls: ["data:image/png;base64,@@not base64@@"] })
      expect(failureOf((await run(backend().generate(call()))).exit)._tag).toBe("ProviderMalformed")
    })

    it("a refusal by the model's content filter is a content-policy rejection", async () => {
      fake.script("chat", {
        kind: "json",
        status: 200,
        body: { choices: [{ finish_reason: "content_filter", message: { role: "assistant", content: "" } }] }
      })
      const error = failureOf((await run(backend().generate(call()))).exit)
      expect(error).toMatchObject({ _tag: "ProviderRejected", reason: "content_policy", byok: false })
    })

    it("an error in a 2xx body is mapped by its code and not retried (the model had started)", async () => {
      fake.script("chat", { kind: "json", status: 200, body: { error: { code: 502, message: "upstream died" } } })
      expect(failureOf((await run(backend().generate(call()))).exit)._tag).toBe("ProviderUnavailable")
      expect(fake.requestsTo("chat")).toHaveLength(1)
    })
  })

  describe("error statuses", () => {
    it("400 is an invalid request, not retried", async () => {
      fake.script("chat", { kind: "error", status: 400, message: "model does not support image output" })
      const error = failureOf((await run(backend().generate(call()))).exit)
      expect(error).toMatchObject({ _tag: "ProviderRejected", reason: "invalid_request", byok: false })
      expect(fake.requestsTo("chat")).toHaveLength(1)
    })

    it("400 with moderation metadata is a content-policy rejection", async () => {
      fake.script("chat", {
        kind: "error",
        status: 400,
        message: "Input flagged",
        metadata: { reasons: ["violence"], flagged_input: "a lighthouse…" }
      })
      const error = failureOf((await run(backend().generate(byok()))).exit)
      expect(error).toMatchObject({ _tag: "ProviderRejected", reason: "content_policy", byok: true })
    })

    it("403 with moderation metadata is a content-policy rejection", async () => {
      fake.script("chat", {
        kind: "error",
        status: 403,
        message: "Your chosen model requires moderation and your input was flagged",
        metadata: { reasons: ["hate"], flagged_input: "…", provider_name: "Google", model_slug: "gemini" }
      })
      const error = failureOf((await run(backend().generate(call()))).exit)
      expect(error).toMatchObject({ _tag: "ProviderRejected", reason: "content_policy", byok: false })
      expect(fake.requestsTo("chat")).toHaveLength(1)
    })

    it("401 on the platform key is the provider unavailable (the operator's to fix), not retried", async () => {
      fake.script("chat", { kind: "error", status: 401, message: "No auth credentials found" })
      const error = failureOf((await run(backend().generate(call()))).exit)
      expect(error).toMatchObject({ _tag: "ProviderUnavailable", provider: "openrouter" })
      expect(fake.requestsTo("chat")).toHaveLength(1)
    })

    it("401 on a BYOK key is the payer's credential rejected", async () => {
      fake.script("chat", { kind: "error", status: 401, message: "User not found." })
      const error = failureOf((await run(backend().generate(byok()))).exit)
      expect(error).toMatchObject({ _tag: "ProviderRejected", reason: "credential", byok: true })
    })

    it("403 without moderation metadata is a key problem: platform → unavailable, BYOK → credential", async () => {
      fake.script("chat", { kind: "error", status: 403, message: "Key disabled" }, {
        kind: "error",
        status: 403,
        message: "Key disabled"
      })
      expect(failureOf((await run(backend().generate(call()))).exit)._tag).toBe("ProviderUnavailable")
      expect(failureOf((await run(backend().generate(byok()))).exit)).toMatchObject({
        _tag: "ProviderRejected",
        reason: "credential",
        byok: true
      })
    })

    it("402 (credits ran out) on the platform key is the provider unavailable", async () => {
      fake.script("chat", { kind: "error", status: 402, message: "Insufficient credits" })
      const error = failureOf((await run(backend().generate(call()))).exit)
      expect(error._tag).toBe("ProviderUnavailable")
      expect(fake.requestsTo("chat")).toHaveLength(1)
    })

    it("402 on a BYOK key is the payer's credential rejected (their OpenRouter account is empty)", async () => {
      fake.script("chat", { kind: "error", status: 402, message: "Insufficient credits" })
      const error = failureOf((await run(backend().generate(byok()))).exit)
      expect(error).toMatchObject({ _tag: "ProviderRejected", reason: "credential", byok: true })
    })

    it("408 is a provider timeout carrying the call's timeout", async () => {
      fake.script("chat", { kind: "error", status: 408, message: "Request timed out" })
      const error = failureOf((await run(backend().generate(call({ timeoutMs: 4_000 })))).exit)
      expect(error).toMatchObject({ _tag: "ProviderTimeout", timeoutMs: 4_000 })
      expect(fake.requestsTo("chat")).toHaveLength(1)
    })

    it("429 with retry-after waits that long, then retries and succeeds", async () => {
      fake.script("chat", { kind: "error", status: 429, message: "Rate limit exceeded", headers: { "retry-after": "1" } })
      const started = Date.now()
      const result = successOf((await run(backend().generate(call()))).exit)
      expect(Date.now() - started).toBeGreaterThanOrEqual(950)
      expect(result.images).toHaveLength(1)
      expect(fake.requestsTo("chat")).toHaveLength(2)
    })

    it("429 on every attempt is rate limited after maxAttempts requests (retry-after of at least a second)", async () => {
      const limited = { kind: "error", status: 429, message: "Rate limit", headers: { "retry-after": "0" } } as const
      fake.script("chat", limited, limited, limited, { kind: "images" })
      const error = failureOf((await run(backend().generate(call()))).exit)
      expect(error).toMatchObject({ _tag: "ProviderRateLimited", retryAfterSeconds: 1 })
      expect(fake.requestsTo("chat")).toHaveLength(3)
    })

    it("429 whose retry-after reaches past the deadline is not waited for", async () => {
      fake.script("chat", { kind: "error", status: 429, message: "Rate limit", headers: { "retry-after": "30" } })
      const started = Date.now()
      const error = failureOf((await run(backend().generate(call({ timeoutMs: 2_000 })))).exit)
      expect(Date.now() - started).toBeLessThan(1_500)
      expect(error).toMatchObject({ _tag: "ProviderRateLimited", retryAfterSeconds: 30 })
      expect(fake.requestsTo("chat")).toHaveLength(1)
    })

    it("500 then 502 are retried, and the third attempt succeeds", async () => {
      fake.script(
        "chat",
        { kind: "error", status: 500, message: "Internal" },
        { kind: "error", status: 502, message: "Model down" }
      )
      const result = successOf((await run(backend().generate(call()))).exit)
      expect(result.images).toHaveLength(1)
      expect(fake.requestsTo("chat")).toHaveLength(3)
    })

    it("502/503 on every attempt is the provider unavailable, after maxAttempts requests", async () => {
      fake.script(
        "chat",
        { kind: "error", status: 502, message: "Model down" },
        { kind: "error", status: 503, message: "No provider" },
        { kind: "raw", status: 502, text: "<html>Bad gateway</html>" },
        { kind: "images" }
      )
      const error = failureOf((await run(backend().generate(call()))).exit)
      expect(error._tag).toBe("ProviderUnavailable")
      expect(fake.requestsTo("chat")).toHaveLength(3)
    })

    it("maxAttempts 1 sends once", async () => {
      fake.script("chat", { kind: "error", status: 500, message: "Internal" })
      const error = failureOf((await run(backend({ maxAttempts: 1 }).generate(call()))).exit)
      expect(error._tag).toBe("ProviderUnavailable")
      expect(fake.requestsTo("chat")).toHaveLength(1)
    })
  })

  describe("connections", () => {
    it("a provider that never answers is a timeout at the call's deadline, sent once", async () => {
      fake.script("chat", { kind: "hang" })
      const started = Date.now()
      const error = failureOf((await run(backend().generate(call({ timeoutMs: 400 })))).exit)
      const elapsed = Date.now() - started
      expect(error).toMatchObject({ _tag: "ProviderTimeout", timeoutMs: 400 })
      expect(elapsed).toBeGreaterThanOrEqual(380)
      expect(elapsed).toBeLessThan(2_000)
      expect(fake.requestsTo("chat")).toHaveLength(1)
    })

    it("a reset after the request was sent is unavailable and not retried (it may have been billed)", async () => {
      fake.script("chat", { kind: "reset" }, { kind: "images" })
      const error = failureOf((await run(backend().generate(call()))).exit)
      expect(error._tag).toBe("ProviderUnavailable")
      expect(fake.requestsTo("chat")).toHaveLength(1)
    })

    it("a connection cut while reading a 2xx body is unavailable and not retried", async () => {
      fake.script("chat", { kind: "cutBody" }, { kind: "images" })
      const error = failureOf((await run(backend().generate(call()))).exit)
      expect(error._tag).toBe("ProviderUnavailable")
      expect(fake.requestsTo("chat")).toHaveLength(1)
    })

    it("a refused connection (nothing sent) is retried up to maxAttempts, then unavailable", async () => {
      const closed = await startFakeOpenRouter()
      const closedUrl = closed.baseUrl
      await closed.close()
      let calls = 0
      const counting: typeof fetch = (input, init) => {
        calls += 1
        return fetch(input, init)
      }
      const error = failureOf((await run(backend({ baseUrl: closedUrl, fetch: counting }).generate(call()))).exit)
      expect(error._tag).toBe("ProviderUnavailable")
      expect(calls).toBe(3)
    })
  })

  it("logs the provider's status, code and message, and never a key", async () => {
    const echo = (status: number) => ({
      kind: "error" as const,
      status,
      message: `Invalid key ${PLATFORM_KEY} / ${BYOK_KEY} (Bearer ${BYOK_KEY})`
    })
    fake.script("chat", echo(401), echo(400), echo(402))
    const logs: Array<string> = []
    for (const c of [call(), byok(), byok()]) logs.push(...(await run(backend().generate(c))).logs)
    fake.script("chat", { kind: "reset" }, { kind: "hang" })
    logs.push(...(await run(backend().generate(byok()))).logs)
    logs.push(...(await run(backend().generate(call({ timeoutMs: 200 })))).logs)
    fake.script("key", echo(401))
    logs.push(...(await run(backend().check(Redacted.make(BYOK_KEY), 2_000))).logs)

    expect(logs.length).toBeGreaterThanOrEqual(5)
    const refusals = logs.filter((l) => l.includes("OpenRouter refused the call"))
    expect(refusals).toHaveLength(4)
    expect(refusals[0]).toContain("\"status\":401")
    expect(refusals[0]).toContain("\"code\":401")
    expect(refusals[0]).toContain("Invalid key [redacted]")
    for (const line of logs) {
      expect(line).not.toContain(PLATFORM_KEY)
      expect(line).not.toContain(BYOK_KEY)
      expect(line).not.toMatch(/sk-or-v1-/)
    }
  })
})

describe("OpenRouterBackend.check", () => {
  it("asks OpenRouter's current-key endpoint with the key being checked", async () => {
    const exit = (await run(backend().check(Redacted.make(BYOK_KEY), 2_000))).exit
    expect(Exit.isSuccess(exit)).toBe(true)
    const requests = fake.requestsTo("key")
    expect(requests).toHaveLength(1)
    expect(requests[0]!.method).toBe("GET")
    expect(requests[0]!.authorization).toBe(`Bearer ${BYOK_KEY}`)
    expect(fake.requestsTo("chat")).toHaveLength(0)
  })

  it("a refused key is the payer's credential rejected", async () => {
    fake.script("key", { kind: "error", status: 401, message: "User not found." })
    const error = failureOf((await run(backend().check(Redacted.make(BYOK_KEY), 2_000))).exit)
    expect(error).toMatchObject({ _tag: "ProviderRejected", reason: "credential", byok: true })
  })

  it("a key whose account is empty (402) is the payer's credential rejected", async () => {
    fake.script("key", { kind: "error", status: 402, message: "Insufficient credits" })
    const error = failureOf((await run(backend().check(Redacted.make(BYOK_KEY), 2_000))).exit)
    expect(error).toMatchObject({ _tag: "ProviderRejected", reason: "credential", byok: true })
  })

  it("a reset is retried (checking a key bills nothing) and then succeeds", async () => {
    fake.script("key", { kind: "reset" })
    const exit = (await run(backend().check(Redacted.make(BYOK_KEY), 2_000))).exit
    expect(Exit.isSuccess(exit)).toBe(true)
    expect(fake.requestsTo("key")).toHaveLength(2)
  })

  it("a provider that never answers is a timeout", async () => {
    fake.script("key", { kind: "hang" })
    const error = failureOf((await run(backend().check(Redacted.make(BYOK_KEY), 300))).exit)
    expect(error).toMatchObject({ _tag: "ProviderTimeout", timeoutMs: 300 })
  })
})

describe("FakeOpenRouter", () => {
  it("serves a PNG data URL that decodes to the PNG signature", () => {
    expect(pngDataUrl.startsWith("data:image/png;base64,")).toBe(true)
    expect(Array.from(PNG_BYTES.slice(0, 8))).toEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  })
})
