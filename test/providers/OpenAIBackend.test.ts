import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { Effect, Exit, Logger, Option, Redacted } from "effect"
import { afterAll, assert, beforeAll, beforeEach, describe, it } from "vitest"
import type { ProviderCall } from "../../src/application/ports/ImageProvider.ts"
import { makeOpenAIBackend, type OpenAIBackendOptions } from "../../src/adapters/providers/OpenAIBackend.ts"
import type { ProviderError } from "../../src/domain/Errors.ts"
import { FAKE_PNG, type FakeOpenAI, startFakeOpenAI } from "./FakeOpenAI.ts"

const PLATFORM_KEY = "sk-platform-0123456789abcdefPLAT"
const BYOK_KEY = "sk-byok-9876543210fedcbaOWN1"

let fake: FakeOpenAI
beforeAll(async () => {
  fake = await startFakeOpenAI()
})
afterAll(() => fake.close())
beforeEach(() => {
  fake.requests.length = 0
  fake.script()
  fake.acceptKeys.clear()
})

/** Fast back-off so retried cases take milliseconds; the policy itself is tested with TestClock. */
const backend = (overrides: Partial<OpenAIBackendOptions> = {}) =>
  makeOpenAIBackend({
    apiKey: Option.some(Redacted.make(PLATFORM_KEY)),
    baseUrl: fake.baseUrl,
    retryPolicy: { baseDelayMs: 5, maxDelayMs: 20 },
    ...overrides
  })

const call = (overrides: Partial<ProviderCall> = {}): ProviderCall => ({
  provider: "openai",
  model: "dall-e-3",
  prompt: "a lighthouse at dusk",
  n: 1,
  size: "1024x1024",
  quality: "standard",
  apiKey: Option.none(),
  timeoutMs: 5_000,
  ...overrides
})

const byokCall = (overrides: Partial<ProviderCall> = {}) => call({ apiKey: Option.some(Redacted.make(BYOK_KEY)), ...overrides })

/** Every log line written while running `effect`. */
const allLogs: Array<string> = []
const run = async <A>(effect: Effect.Effect<A, ProviderError>) => {
  const logs: Array<string> = []
  const logger = Logger.make<unknown, void>((options) => {
    const line = `${options.logLevel} ${JSON.stringify(options.message)}`
    logs.push(line)
    allLogs.push(line)
  })
  const exit = await Effect.runPromiseExit(effect.pipe(Effect.provide(Logger.layer([logger]))))
  return { exit, logs }
}

const failureOf = <A>(exit: Exit.Exit<A, ProviderError>): ProviderError => {
  if (Exit.isSuccess(exit)) throw new Error("expected a failure, got a success")
  const reason = exit.cause.reasons.find((r) => r._tag === "Fail")
  if (reason === undefined || reason._tag !== "Fail") throw new Error(`expected a typed failure, got ${String(exit.cause)}`)
  return reason.error
}

const successOf = <A, E>(exit: Exit.Exit<A, E>): A => {
  if (Exit.isFailure(exit)) throw new Error(`expected a success, got ${String(exit.cause)}`)
  return exit.value
}

/** Polls `condition` for up to two seconds. */
const waitFor = async (condition: () => boolean, what: string) => {
  const until = Date.now() + 2_000
  while (!condition()) {
    if (Date.now() > until) throw new Error(`timed out waiting: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b))

describe("OpenAI backend against a fake OpenAI server", () => {
  it("returns the base64 image, asking dall-e for b64_json, with the platform key", async () => {
    fake.script({ kind: "b64" })
    const { exit } = await run(backend().generate(call({ n: 1, style: "vivid" })))
    const result = successOf(exit)
    assert.strictEqual(result.providerUsed, "openai")
    assert.strictEqual(result.images.length, 1)
    assert.isTrue(sameBytes(result.images[0]!.bytes, FAKE_PNG))
    assert.strictEqual(result.images[0]!.contentType, "image/png")
    assert.strictEqual(result.images[0]!.revisedPrompt, "a revised prompt")
    const [request] = fake.imageRequests()
    assert.strictEqual(fake.imageRequests().length, 1)
    assert.strictEqual(request!.authorization, `Bearer ${PLATFORM_KEY}`)
    assert.deepInclude(request!.body as object, {
      model: "dall-e-3",
      prompt: "a lighthouse at dusk",
      n: 1,
      size: "1024x1024",
      quality: "standard",
      style: "vivid",
      response_format: "b64_json"
    })
  })

  it("returns every image of an n > 1 answer", async () => {
    const result = successOf((await run(backend().generate(call({ model: "dall-e-2", n: 3, size: "256x256" })))).exit)
    assert.strictEqual(result.images.length, 3)
    for (const image of result.images) assert.isTrue(sameBytes(image.bytes, FAKE_PNG))
    assert.strictEqual((fake.imageRequests()[0]!.body as { n: number }).n, 3)
  })

  it("does not send response_format to a gpt-image model, which always answers in base64", async () => {
    const { exit } = await run(backend().generate(call({ model: "gpt-image-1", quality: "low", outputFormat: "png" })))
    successOf(exit)
    const body = fake.imageRequests()[0]!.body as Record<string, unknown>
    assert.notProperty(body, "response_format")
    assert.strictEqual(body["output_format"], "png")
  })

  it("downloads an image answered as a URL and returns its bytes, never the URL", async () => {
    fake.script({ kind: "url" })
    const { exit } = await run(backend().generate(call()))
    const result = successOf(exit)
    assert.isTrue(sameBytes(result.images[0]!.bytes, FAKE_PNG))
    assert.strictEqual(result.images[0]!.contentType, "image/png")
    assert.notInclude(JSON.stringify(result), "http")
    assert.strictEqual(fake.fileRequests().length, 1)
    assert.strictEqual(fake.fileRequests()[0]!.authorization, undefined, "the provider's key is not sent to the image URL")
  })

  it("a URL that serves no image is ProviderMalformed, one that is gone is ProviderUnavailable, neither regenerated", async () => {
    fake.script({ kind: "url", serve: "html" })
    assert.strictEqual(failureOf((await run(backend().generate(call()))).exit)._tag, "ProviderMalformed")
    fake.script({ kind: "url", serve: "missing" })
    assert.strictEqual(failureOf((await run(backend().generate(call()))).exit)._tag, "ProviderUnavailable")
    fake.script({ kind: "url", serve: "oversized" })
    assert.strictEqual(failureOf((await run(backend().generate(call()))).exit)._tag, "ProviderMalformed")
    assert.strictEqual(fake.imageRequests().length, 3, "one generation per call")
  })

  it("a content-policy refusal is ProviderRejected content_policy, not retried", async () => {
    fake.script({ kind: "content_policy" }, { kind: "b64" })
    const error = failureOf((await run(backend().generate(call()))).exit)
    assert.deepInclude(error, { _tag: "ProviderRejected", reason: "content_policy", byok: false, provider: "openai" })
    assert.strictEqual(fake.imageRequests().length, 1)
  })

  it("any other 400 is ProviderRejected invalid_request, not retried", async () => {
    fake.script({ kind: "invalid" }, { kind: "b64" })
    const error = failureOf((await run(backend().generate(call()))).exit)
    assert.deepInclude(error, { _tag: "ProviderRejected", reason: "invalid_request" })
    assert.strictEqual(fake.imageRequests().length, 1)
  })

  it("a rejected platform key is ProviderUnavailable (the caller's 503), not retried", async () => {
    fake.script({ kind: "unauthorized" }, { kind: "b64" })
    const error = failureOf((await run(backend().generate(call()))).exit)
    assert.strictEqual(error._tag, "ProviderUnavailable")
    assert.strictEqual(fake.imageRequests().length, 1)
  })

  it("a rejected payer's key is ProviderRejected credential with byok", async () => {
    fake.script({ kind: "unauthorized" })
    const error = failureOf((await run(backend().generate(byokCall()))).exit)
    assert.deepInclude(error, { _tag: "ProviderRejected", reason: "credential", byok: true })
  })

  it("a 429 is retried after the server's retry-after seconds, then succeeds", async () => {
    fake.script({ kind: "rate_limited", retryAfter: "1" }, { kind: "b64" })
    const started = Date.now()
    const { exit } = await run(backend().generate(call()))
    successOf(exit)
    assert.strictEqual(fake.imageRequests().length, 2)
    assert.isAtLeast(Date.now() - started, 950, "waited the retry-after second")
  })

  it("429s past the last attempt end as ProviderRateLimited carrying retry-after in seconds", async () => {
    const limited = { kind: "rate_limited", retryAfterMs: "30" } as const
    fake.script(limited, limited, limited, { kind: "b64" })
    const error = failureOf((await run(backend().generate(call()))).exit)
    assert.deepInclude(error, { _tag: "ProviderRateLimited", retryAfterSeconds: 1 })
    assert.strictEqual(fake.imageRequests().length, 3)
  })

  it("a 500 is retried and the next answer used; 500s on every attempt are ProviderUnavailable", async () => {
    fake.script({ kind: "server_error" }, { kind: "b64" })
    successOf((await run(backend().generate(call()))).exit)
    assert.strictEqual(fake.imageRequests().length, 2)

    fake.requests.length = 0
    fake.script({ kind: "server_error" }, { kind: "server_error" }, { kind: "server_error" }, { kind: "b64" })
    const error = failureOf((await run(backend({ maxAttempts: 2 }).generate(call()))).exit)
    assert.strictEqual(error._tag, "ProviderUnavailable")
    assert.strictEqual(fake.imageRequests().length, 2, "maxAttempts bounds the attempts")
  })

  it("a provider that does not answer is ProviderTimeout at the call's deadline, not retried", async () => {
    const abandonedBefore = fake.abandoned()
    fake.script({ kind: "hang" }, { kind: "b64" })
    const started = Date.now()
    const { exit, logs } = await run(backend().generate(call({ timeoutMs: 300 })))
    assert.deepInclude(failureOf(exit), { _tag: "ProviderTimeout", timeoutMs: 300 })
    assert.isTrue(logs.some((l) => l.includes("did not answer within 300 ms")), logs.join("\n"))
    assert.isBelow(Date.now() - started, 2_000)
    assert.strictEqual(fake.imageRequests().length, 1)
    await waitFor(() => fake.abandoned() === abandonedBefore + 1, "the request was aborted at the deadline")
  })

  it("an image URL that does not answer is ProviderTimeout within what remains of the deadline", async () => {
    const abandonedBefore = fake.abandoned()
    fake.script({ kind: "url", serve: "hang" })
    const started = Date.now()
    const error = failureOf((await run(backend().generate(call({ timeoutMs: 400 })))).exit)
    assert.deepInclude(error, { _tag: "ProviderTimeout", timeoutMs: 400 })
    assert.isBelow(Date.now() - started, 2_000)
    assert.strictEqual(fake.imageRequests().length, 1)
    await waitFor(() => fake.abandoned() === abandonedBefore + 1, "the download was aborted at the deadline")
  })

  it("an interrupted call aborts its request", async () => {
    const abandonedBefore = fake.abandoned()
    fake.script({ kind: "hang" })
    const exit = await Effect.runPromiseExit(
      backend().generate(call({ timeoutMs: 10_000 })).pipe(Effect.timeout("200 millis"))
    )
    assert.isTrue(Exit.isFailure(exit))
    await waitFor(() => fake.abandoned() === abandonedBefore + 1, "the request was aborted on interruption")
  })

  it("unparsable JSON is ProviderMalformed, not retried", async () => {
    fake.script({ kind: "malformed" }, { kind: "b64" })
    assert.strictEqual(failureOf((await run(backend().generate(call()))).exit)._tag, "ProviderMalformed")
    assert.strictEqual(fake.imageRequests().length, 1)
  })

  it("an empty image list is ProviderMalformed", async () => {
    fake.script({ kind: "empty" }, { kind: "b64" })
    assert.strictEqual(failureOf((await run(backend().generate(call()))).exit)._tag, "ProviderMalformed")
    assert.strictEqual(fake.imageRequests().length, 1)
  })

  it("a connection reset after the request was sent is ProviderUnavailable and not retried", async () => {
    fake.script({ kind: "reset" }, { kind: "b64" })
    assert.strictEqual(failureOf((await run(backend().generate(call()))).exit)._tag, "ProviderUnavailable")
    assert.strictEqual(fake.imageRequests().length, 1)
  })

  it("a refused connection (nothing sent) is retried up to maxAttempts, then ProviderUnavailable", async () => {
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    let fetches = 0
    const counting: typeof fetch = (input, init) => {
      fetches += 1
      return fetch(input, init)
    }
    const error = failureOf(
      (await run(backend({ baseUrl: `http://127.0.0.1:${port}/v1`, fetch: counting }).generate(call()))).exit
    )
    assert.strictEqual(error._tag, "ProviderUnavailable")
    assert.strictEqual(fetches, 3)
  })

  it("a BYOK call carries the payer's key and never the platform key", async () => {
    fake.script({ kind: "server_error" }, { kind: "b64" })
    successOf((await run(backend().generate(byokCall()))).exit)
    assert.strictEqual(fake.imageRequests().length, 2)
    for (const request of fake.requests) {
      assert.strictEqual(request.authorization, `Bearer ${BYOK_KEY}`)
      assert.notInclude(JSON.stringify(request), PLATFORM_KEY)
    }
  })

  it("without a platform key, a call without its own key is ProviderNotConfigured and sends nothing", async () => {
    const error = failureOf((await run(backend({ apiKey: Option.none() }).generate(call()))).exit)
    assert.strictEqual(error._tag, "ProviderNotConfigured")
    assert.strictEqual(fake.requests.length, 0)
    successOf((await run(backend({ apiKey: Option.none() }).generate(byokCall()))).exit)
  })

  it("check lists models with the given key: accepted is success, rejected is a credential failure", async () => {
    fake.acceptKeys.add(BYOK_KEY)
    successOf((await run(backend().check(Redacted.make(BYOK_KEY), 2_000))).exit)
    assert.deepStrictEqual(fake.requests.map((r) => [r.method, r.path, r.authorization]), [
      ["GET", "/v1/models", `Bearer ${BYOK_KEY}`]
    ])
    const error = failureOf((await run(backend().check(Redacted.make("sk-byok-not-a-real-key-000000"), 2_000))).exit)
    assert.deepInclude(error, { _tag: "ProviderRejected", reason: "credential", byok: true })
    assert.strictEqual(fake.requests.length, 2, "a rejected key is not retried")
  })

  it("logs the provider's error detail without any key text", async () => {
    fake.script({ kind: "unauthorized" })
    const platform = await run(backend().generate(call()))
    fake.script({ kind: "unauthorized" })
    const own = await run(backend().generate(byokCall()))
    const lines = [...platform.logs, ...own.logs]
    assert.isTrue(lines.some((l) => l.includes("status=401") && l.includes("invalid_api_key")), lines.join("\n"))
    assert.isTrue(lines.some((l) => l.includes("Incorrect API key provided")), "the provider's message is kept")
    for (const line of [...lines, ...allLogs]) {
      for (const key of [PLATFORM_KEY, BYOK_KEY]) {
        assert.notInclude(line, key)
        assert.notInclude(line, key.slice(0, 8), "not even the masked form the provider echoes")
        assert.notInclude(line, key.slice(-4))
      }
      assert.notInclude(line, "secret-signature", "a signed image URL's query is not logged")
    }
  })
})
