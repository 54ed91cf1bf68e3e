import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Fiber, Option, Redacted } from "effect"
import { CircuitBreaker } from "effect/persistence"
import { TestClock } from "effect/testing"
import type { ProviderCall, ProviderResult } from "../../src/application/ports/ImageProvider.ts"
import { makeProviderRouter, type ProviderRouterOptions } from "../../src/adapters/providers/ProviderRouter.ts"
import type { ProviderBackend } from "../../src/adapters/providers/ProviderBackend.ts"
import { circuitStateOf } from "../../src/adapters/metrics/Metrics.ts"
import { fromDomainError } from "../../src/adapters/http/ErrorMapping.ts"
import {
  type ProviderError,
  ProviderMalformed,
  ProviderRateLimited,
  ProviderRejected,
  ProviderTimeout,
  ProviderUnavailable
} from "../../src/domain/Errors.ts"
import type { ProviderName } from "../../src/domain/Models.ts"

const PLATFORM_KEY = "sk-platform-0123456789"
const BOB_KEY = "sk-bob-own-key-9876543210"

/** A backend in the test: records the key each call would send, and answers as `next` says. */
const testBackend = (name: ProviderName, options: { readonly platformKey?: string } = {}) => {
  const keysUsed: Array<string> = []
  const keysChecked: Array<string> = []
  let next: () => Effect.Effect<ProviderResult, ProviderError> = () =>
    Effect.succeed({ images: [{ bytes: new Uint8Array([1, 2, 3]), contentType: "image/png" }], providerUsed: name })
  const platformKey = Option.map(Option.fromUndefinedOr(options.platformKey), Redacted.make)
  const backend: ProviderBackend = {
    name,
    platformKey,
    generate: (call) =>
      Effect.suspend(() => {
        const key = Option.orElse(call.apiKey, () => platformKey)
        keysUsed.push(Option.match(key, { onNone: () => "(none)", onSome: Redacted.value }))
        return next()
      }),
    check: (apiKey) =>
      Effect.sync(() => {
        keysChecked.push(Redacted.value(apiKey))
      })
  }
  return {
    backend,
    keysUsed,
    keysChecked,
    answer: (f: () => Effect.Effect<ProviderResult, ProviderError>) => {
      next = f
    }
  }
}

const call = (overrides: Partial<ProviderCall> = {}): ProviderCall => ({
  provider: "openai",
  model: "dall-e-3",
  prompt: "a lighthouse",
  n: 1,
  size: "256x256",
  quality: "standard",
  apiKey: Option.none(),
  timeoutMs: 10_000,
  ...overrides
})
const byok = (key: string) => Option.some(Redacted.make(key))

const router = (options: ProviderRouterOptions) =>
  makeProviderRouter(options).pipe(Effect.provide(CircuitBreaker.layerStoreMemory()))

describe("ProviderRouter: routing", () => {
  it.effect("sends a model to the backend of its provider, with the platform key", () =>
    Effect.gen(function*() {
      const openai = testBackend("openai", { platformKey: PLATFORM_KEY })
      const openrouter = testBackend("openrouter", { platformKey: "sk-or-platform" })
      const r = yield* router({ backends: [openai.backend, openrouter.backend], localStandsIn: true })
      const result = yield* r.service.generate(call())
      assert.strictEqual(result.providerUsed, "openai")
      assert.deepStrictEqual(openai.keysUsed, [PLATFORM_KEY])
      assert.deepStrictEqual(openrouter.keysUsed, [])
      const other = yield* r.service.generate(call({ provider: "openrouter", model: "google/gemini-2.5-flash-image" }))
      assert.strictEqual(other.providerUsed, "openrouter")
      assert.deepStrictEqual(openrouter.keysUsed, ["sk-or-platform"])
    }).pipe(Effect.scoped))

  it.effect("the local model is always drawn locally, whatever backends are configured", () =>
    Effect.gen(function*() {
      const openai = testBackend("openai", { platformKey: PLATFORM_KEY })
      const r = yield* router({ backends: [openai.backend], localStandsIn: false })
      const result = yield* r.service.generate(call({ provider: "local", model: "local" }))
      assert.strictEqual(result.providerUsed, "local")
      assert.strictEqual(result.images.length, 1)
      assert.deepStrictEqual(openai.keysUsed, [])
    }).pipe(Effect.scoped))

  it.effect("a route override sends a platform call to another provider", () =>
    Effect.gen(function*() {
      const openai = testBackend("openai", { platformKey: PLATFORM_KEY })
      const openrouter = testBackend("openrouter", { platformKey: "sk-or-platform" })
      const r = yield* router({
        backends: [openai.backend, openrouter.backend],
        localStandsIn: false,
        routes: { "dall-e-3": "openrouter", "dall-e-2": "local" }
      })
      assert.strictEqual((yield* r.service.generate(call())).providerUsed, "openrouter")
      assert.strictEqual((yield* r.service.generate(call({ model: "dall-e-2" }))).providerUsed, "local")
      assert.deepStrictEqual(openai.keysUsed, [])
      assert.deepStrictEqual(openrouter.keysUsed, ["sk-or-platform"])
    }).pipe(Effect.scoped))

  it.effect("a BYOK call goes to the provider its key was made for, never to an override", () =>
    Effect.gen(function*() {
      const openai = testBackend("openai", { platformKey: PLATFORM_KEY })
      const openrouter = testBackend("openrouter", { platformKey: "sk-or-platform" })
      const r = yield* router({ backends: [openai.backend, openrouter.backend], localStandsIn: false, routes: { "dall-e-3": "openrouter" } })
      assert.strictEqual((yield* r.service.generate(call({ apiKey: byok(BOB_KEY) }))).providerUsed, "openai")
      assert.deepStrictEqual(openai.keysUsed, [BOB_KEY])
      assert.deepStrictEqual(openrouter.keysUsed, [])
    }).pipe(Effect.scoped))

  it.effect("a BYOK call carries the payer's key and never the platform's", () =>
    Effect.gen(function*() {
      const openai = testBackend("openai", { platformKey: PLATFORM_KEY })
      const r = yield* router({ backends: [openai.backend], localStandsIn: true })
      yield* r.service.generate(call({ apiKey: byok(BOB_KEY) }))
      yield* r.service.generate(call())
      assert.deepStrictEqual(openai.keysUsed, [BOB_KEY, PLATFORM_KEY])
    }).pipe(Effect.scoped))
})

describe("ProviderRouter: the local stand-in and unconfigured providers", () => {
  it.effect("with localStandsIn, the local provider answers platform and BYOK calls for a provider with no platform key", () =>
    Effect.gen(function*() {
      const openai = testBackend("openai")
      const r = yield* router({ backends: [openai.backend], localStandsIn: true })
      assert.strictEqual((yield* r.service.generate(call())).providerUsed, "local")
      assert.strictEqual((yield* r.service.generate(call({ apiKey: byok(BOB_KEY) }))).providerUsed, "local")
      // A provider with no backend at all too.
      assert.strictEqual((yield* r.service.generate(call({ provider: "openrouter", model: "google/gemini-2.5-flash-image" }))).providerUsed, "local")
      assert.deepStrictEqual(openai.keysUsed, [])
    }).pipe(Effect.scoped))

  it.effect("without the stand-in, a platform call to a provider with no key fails naming the variable to set", () =>
    Effect.gen(function*() {
      const openai = testBackend("openai")
      const openrouter = testBackend("openrouter")
      const r = yield* router({ backends: [openai.backend, openrouter.backend], localStandsIn: false })
      const failed = yield* Effect.flip(r.service.generate(call()))
      assert.strictEqual(failed._tag, "ProviderNotConfigured")
      const wire = fromDomainError(failed, 0)
      assert.strictEqual(wire.status, 503)
      assert.strictEqual(wire.code, "provider_not_configured")
      assert.include(wire.message, "OPENAI_API_KEY")
      const other = fromDomainError(yield* Effect.flip(r.service.generate(call({ provider: "openrouter", model: "google/gemini-2.5-flash-image" }))), 0)
      assert.include(other.message, "OPENROUTER_API_KEY")
      assert.deepStrictEqual(openai.keysUsed, [])
    }).pipe(Effect.scoped))

  it.effect("without the stand-in, a backend with no platform key still serves BYOK calls with the payer's key", () =>
    Effect.gen(function*() {
      const openai = testBackend("openai")
      const r = yield* router({ backends: [openai.backend], localStandsIn: false })
      const result = yield* r.service.generate(call({ apiKey: byok(BOB_KEY) }))
      assert.strictEqual(result.providerUsed, "openai")
      assert.deepStrictEqual(openai.keysUsed, [BOB_KEY])
    }).pipe(Effect.scoped))
})

describe("ProviderRouter: the BYOK key check", () => {
  it.effect("asks the key's provider's backend, with that key", () =>
    Effect.gen(function*() {
      const openai = testBackend("openai")
      const r = yield* router({ backends: [openai.backend], localStandsIn: false, routes: { "dall-e-3": "local" } })
      yield* r.keyCheck.check("openai", Redacted.make(BOB_KEY))
      assert.deepStrictEqual(openai.keysChecked, [BOB_KEY])
      // No backend for openrouter, and no stand-in: there is nobody to ask.
      assert.strictEqual((yield* Effect.flip(r.keyCheck.check("openrouter", Redacted.make("sk-or-x"))))._tag, "ProviderNotConfigured")
    }).pipe(Effect.scoped))

  it.effect("passes without asking anyone where the local provider would answer the key's calls", () =>
    Effect.gen(function*() {
      const openai = testBackend("openai")
      const r = yield* router({ backends: [openai.backend], localStandsIn: true })
      yield* r.keyCheck.check("openai", Redacted.make(BOB_KEY))
      assert.deepStrictEqual(openai.keysChecked, [])
    }).pipe(Effect.scoped))
})

describe("ProviderRouter: circuit breaker (TestClock)", () => {
  const options = (backend: ProviderBackend): ProviderRouterOptions => ({
    backends: [backend],
    localStandsIn: false,
    circuit: { failures: 3, openDuration: "30 seconds" }
  })

  it.effect("opens after N consecutive provider-down failures, then fails fast without calling the backend", () =>
    Effect.gen(function*() {
      const openai = testBackend("openai", { platformKey: PLATFORM_KEY })
      const r = yield* router(options(openai.backend))
      const downs: ReadonlyArray<ProviderError> = [
        new ProviderUnavailable({ provider: "openai" }),
        new ProviderMalformed({ provider: "openai" }),
        new ProviderTimeout({ provider: "openai", timeoutMs: 10 })
      ]
      for (const down of downs) {
        openai.answer(() => Effect.fail(down))
        // The error alone: with a tracer on, the failure also carries the router span's annotations.
        assert.deepStrictEqual(yield* Effect.flip(r.service.generate(call())), down)
      }
      assert.strictEqual((yield* r.circuitState("openai"))._tag, "Open")
      yield* Effect.yieldNow
      assert.strictEqual(yield* circuitStateOf("openai"), 2)

      openai.answer(() => Effect.die("the backend must not be called while the circuit is open"))
      const fast = yield* Effect.flip(r.service.generate(call()))
      assert.strictEqual(fast._tag, "ProviderUnavailable")
      assert.strictEqual(fromDomainError(fast, 0).status, 503)
      assert.strictEqual(openai.keysUsed.length, 3)
    }).pipe(Effect.scoped))

  it.effect("rate limiting counts; rejections of the request or of a key do not, and a rejection resets the streak", () =>
    Effect.gen(function*() {
      const openai = testBackend("openai", { platformKey: PLATFORM_KEY })
      const r = yield* router(options(openai.backend))
      const rejections: ReadonlyArray<ProviderError> = [
        new ProviderRejected({ provider: "openai", reason: "credential", byok: true }),
        new ProviderRejected({ provider: "openai", reason: "credential", byok: true }),
        new ProviderRejected({ provider: "openai", reason: "credential", byok: true }),
        new ProviderRejected({ provider: "openai", reason: "content_policy", byok: false }),
        new ProviderRejected({ provider: "openai", reason: "invalid_request", byok: false })
      ]
      for (const rejected of rejections) {
        openai.answer(() => Effect.fail(rejected))
        yield* Effect.flip(r.service.generate(call({ apiKey: byok(BOB_KEY) })))
      }
      assert.strictEqual((yield* r.circuitState("openai"))._tag, "Closed")

      openai.answer(() => Effect.fail(new ProviderRateLimited({ provider: "openai" })))
      yield* Effect.flip(r.service.generate(call()))
      yield* Effect.flip(r.service.generate(call()))
      // A content-policy refusal is an answer from a working provider: the streak starts again.
      openai.answer(() => Effect.fail(new ProviderRejected({ provider: "openai", reason: "content_policy", byok: false })))
      yield* Effect.flip(r.service.generate(call()))
      openai.answer(() => Effect.fail(new ProviderRateLimited({ provider: "openai" })))
      yield* Effect.flip(r.service.generate(call()))
      yield* Effect.flip(r.service.generate(call()))
      assert.strictEqual((yield* r.circuitState("openai"))._tag, "Closed")
      yield* Effect.flip(r.service.generate(call()))
      assert.strictEqual((yield* r.circuitState("openai"))._tag, "Open")
    }).pipe(Effect.scoped))

  it.effect("half-opens after the open duration; a successful probe closes it, a failed one reopens it", () =>
    Effect.gen(function*() {
      const openai = testBackend("openai", { platformKey: PLATFORM_KEY })
      const r = yield* router(options(openai.backend))
      openai.answer(() => Effect.fail(new ProviderUnavailable({ provider: "openai" })))
      for (let i = 0; i < 3; i++) yield* Effect.flip(r.service.generate(call()))
      yield* Effect.yieldNow
      assert.strictEqual(yield* circuitStateOf("openai"), 2)

      yield* TestClock.adjust("29 seconds")
      assert.strictEqual((yield* Effect.flip(r.service.generate(call())))._tag, "ProviderUnavailable")
      assert.strictEqual(openai.keysUsed.length, 3)
      yield* TestClock.adjust("1 second")
      yield* Effect.yieldNow
      assert.strictEqual(yield* circuitStateOf("openai"), 1)

      // The probe fails: open again for another 30 s.
      yield* Effect.flip(r.service.generate(call()))
      assert.strictEqual(openai.keysUsed.length, 4)
      assert.strictEqual((yield* r.circuitState("openai"))._tag, "Open")
      yield* Effect.yieldNow
      assert.strictEqual(yield* circuitStateOf("openai"), 2)

      yield* TestClock.adjust("30 seconds")
      openai.answer(() => Effect.succeed({ images: [], providerUsed: "openai" }))
      const probe = yield* r.service.generate(call())
      assert.strictEqual(probe.providerUsed, "openai")
      assert.strictEqual((yield* r.circuitState("openai"))._tag, "Closed")
      yield* Effect.yieldNow
      assert.strictEqual(yield* circuitStateOf("openai"), 0)
    }).pipe(Effect.scoped))

  it.effect("a provider that does not answer times out inside the breaker, before the core's deadline, and counts", () =>
    Effect.gen(function*() {
      const openai = testBackend("openai", { platformKey: PLATFORM_KEY })
      const r = yield* router(options(openai.backend))
      openai.answer(() => Effect.never)
      for (let i = 0; i < 3; i++) {
        const fiber = yield* Effect.forkChild(r.service.generate(call({ timeoutMs: 1_000 })))
        yield* TestClock.adjust(900)
        assert.deepStrictEqual(yield* Effect.flip(Fiber.join(fiber)), new ProviderTimeout({ provider: "openai", timeoutMs: 1_000 }))
      }
      assert.strictEqual((yield* r.circuitState("openai"))._tag, "Open")
    }).pipe(Effect.scoped))

  it.effect("circuits are per provider", () =>
    Effect.gen(function*() {
      const openai = testBackend("openai", { platformKey: PLATFORM_KEY })
      const openrouter = testBackend("openrouter", { platformKey: "sk-or-platform" })
      const r = yield* router({ ...options(openai.backend), backends: [openai.backend, openrouter.backend] })
      openai.answer(() => Effect.fail(new ProviderUnavailable({ provider: "openai" })))
      for (let i = 0; i < 3; i++) yield* Effect.flip(r.service.generate(call()))
      assert.strictEqual((yield* r.circuitState("openai"))._tag, "Open")
      const other = yield* r.service.generate(call({ provider: "openrouter", model: "google/gemini-2.5-flash-image" }))
      assert.strictEqual(other.providerUsed, "openrouter")
      assert.strictEqual((yield* r.circuitState("openrouter"))._tag, "Closed")
    }).pipe(Effect.scoped))
})
