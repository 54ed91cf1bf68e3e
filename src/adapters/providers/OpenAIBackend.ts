import { Buffer } from "node:buffer"
import { Clock, Data, Effect, Option, Redacted } from "effect"
import type OpenAI from "openai"
import type { ImageGenerateParamsNonStreaming, ImagesResponse } from "openai/resources/images"
import type { ProviderCall, ProviderImage, ProviderResult } from "../../application/ports/ImageProvider.ts"
import {
  type ProviderError,
  ProviderMalformed,
  ProviderNotConfigured,
  ProviderRateLimited,
  ProviderRejected,
  ProviderTimeout,
  ProviderUnavailable
} from "../../domain/Errors.ts"
import { describeFetchFailure, fetchImage } from "./FetchImage.ts"
import { interruptOption, providerFetch } from "./NodeHttpFetch.ts"
import type { ProviderBackend } from "./ProviderBackend.ts"
import { final, notSent, type RetryPolicy, type Retryability, retryable, retryAfterMs, retryWithinDeadline } from "./Retry.ts"

const PROVIDER = "openai"

type RequestOptions = OpenAI.RequestOptions

type OpenAISdk = typeof import("openai")
let loadedSdk: OpenAISdk | undefined

/**
 * The `openai` SDK, loaded on its first use: a gateway that never calls OpenAI, and every admin
 * command, start without its modules (about 220, a third of a second of CPU per process).
 */
const sdk: Effect.Effect<OpenAISdk> = Effect.suspend(() =>
  loadedSdk !== undefined
    ? Effect.succeed(loadedSdk)
    : Effect.map(Effect.promise(() => import("openai")), (loaded) => (loadedSdk = loaded))
)
export const OPENAI_DEFAULT_BASE_URL = "https://api.openai.com/v1"

export interface OpenAIBackendOptions {
  /** The platform's key (OPENAI_API_KEY); calls without their own key fail with `ProviderNotConfigured` without it. */
  readonly apiKey: Option.Option<Redacted.Redacted<string>>
  /** OPENAI_BASE_URL; OpenAI's own API when absent. */
  readonly baseUrl?: string | undefined
  /** The fetch the SDK uses (default `providerFetch`: node:http with keep-alive, see NodeHttpFetch). */
  readonly fetch?: typeof globalThis.fetch | undefined
  /**
   * The fetch that downloads images answered as URLs (default the global fetch, which follows
   * redirects, as image hosts may).
   */
  readonly downloadFetch?: typeof globalThis.fetch | undefined
  /** Attempts per call, the first included (default 3). */
  readonly maxAttempts?: number | undefined
  /** Back-off tuning; `maxAttempts` above wins over `policy.maxAttempts`. */
  readonly retryPolicy?: Partial<RetryPolicy> | undefined
}

/**
 * One failed attempt: the typed error it becomes and whether the retry policy may try again;
 * `deadline` marks the call's deadline passing (rather than a failure the provider answered).
 */
class AttemptFailure extends Data.Class<{
  readonly error: ProviderError
  readonly retry: Retryability
  readonly deadline?: boolean
}> {}

/** Provider text trimmed, with anything shaped like a key (or the key itself) taken out. */
export const scrubProviderText = (text: string, keys: ReadonlyArray<string>): string => {
  let out = text
  for (const key of keys) if (key.length > 0) out = out.split(key).join("[redacted]")
  return out
    .replace(/\b(?:sk|rk|pk|sess)-[A-Za-z0-9_*.\-]{3,}/g, "[redacted]")
    .replace(/Bearer\s+\S+/gi, "Bearer [redacted]")
    .replace(/\s+/g, " ")
    .slice(0, 300)
}

/** What the logs may say about one failure: status, code, type and scrubbed message, never headers. */
const describeFailure = (sdk: OpenAISdk, error: unknown, keys: ReadonlyArray<string>): string => {
  if (error instanceof sdk.APIError && error.status !== undefined) {
    const body = error.error as { message?: unknown } | undefined
    const message = typeof body?.message === "string" ? body.message : ""
    return `status=${error.status} code=${error.code ?? "-"} type=${error.type ?? "-"} message="${scrubProviderText(message, keys)}"`
  }
  return scrubProviderText(describeFetchFailure(error), keys)
}

const isContentPolicy = (code: string | null | undefined) =>
  code === "content_policy_violation" || code === "moderation_blocked"

/** Sorts one failed attempt into the gateway's typed errors and the retry policy's verdict. */
const classify = (sdk: OpenAISdk, error: unknown, byok: boolean, nowMs: number, timeoutMs: number): AttemptFailure => {
  const provider = PROVIDER
  const fail = (e: ProviderError, retry: Retryability = final) => new AttemptFailure({ error: e, retry })
  const unavailable = (retry: Retryability = final) => fail(new ProviderUnavailable({ provider }), retry)

  if (error instanceof sdk.APIUserAbortError) return fail(new ProviderTimeout({ provider, timeoutMs }))
  if (error instanceof sdk.APIConnectionError) {
    const beforeSend = notSent(error)
    if (beforeSend) return unavailable(retryable())
    // A timeout or a reset once the request was on its way: it may have been drawn and billed.
    return error instanceof sdk.APIConnectionTimeoutError
      ? fail(new ProviderTimeout({ provider, timeoutMs }))
      : unavailable()
  }
  if (error instanceof sdk.APIError && error.status !== undefined) {
    const status = error.status
    const waitMs = retryAfterMs(error.headers, nowMs)
    const shouldRetry = error.headers?.get("x-should-retry") !== "false"
    if (status === 401 || status === 403) {
      // A payer's own key is the payer's to fix; the platform's key is the operator's, so the
      // caller sees the provider as unavailable (503) rather than a credential problem of theirs.
      return byok
        ? fail(new ProviderRejected({ provider, reason: "credential", byok: true }))
        : unavailable()
    }
    if (status === 429) {
      if (error.code === "insufficient_quota") {
        return byok ? fail(new ProviderRejected({ provider, reason: "credential", byok: true })) : unavailable()
      }
      const rateLimited = new ProviderRateLimited({
        provider,
        ...(waitMs !== undefined ? { retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) } : {})
      })
      return fail(rateLimited, shouldRetry ? retryable(waitMs) : final)
    }
    if (status === 408 || status === 409 || status >= 500) return unavailable(shouldRetry ? retryable(waitMs) : final)
    if (isContentPolicy(error.code)) return fail(new ProviderRejected({ provider, reason: "content_policy", byok }))
    if (status >= 400 && status < 500) return fail(new ProviderRejected({ provider, reason: "invalid_request", byok }))
    return unavailable()
  }
  // The SDK reads a JSON body with JSON.parse: a SyntaxError is an answer the gateway cannot read.
  if (error instanceof SyntaxError) return fail(new ProviderMalformed({ provider }))
  // Anything else (a body cut off mid-read, an unexpected throw) came after the request was sent.
  return unavailable()
}

/** dall-e models answer with URLs unless asked for base64; the gpt-image family always sends base64. */
const acceptsResponseFormat = (model: string) => model.startsWith("dall-e")

type Param<K extends keyof ImageGenerateParamsNonStreaming> = NonNullable<ImageGenerateParamsNonStreaming[K]>

const generateParams = (call: ProviderCall): ImageGenerateParamsNonStreaming => ({
  model: call.model,
  prompt: call.prompt,
  n: call.n,
  size: call.size as Param<"size">,
  quality: call.quality as Param<"quality">,
  ...(call.style !== undefined ? { style: call.style as Param<"style"> } : {}),
  ...(call.outputFormat !== undefined
    ? { output_format: call.outputFormat as Param<"output_format"> }
    : {}),
  ...(call.background !== undefined
    ? { background: call.background as Param<"background"> }
    : {}),
  ...(acceptsResponseFormat(call.model) ? { response_format: "b64_json" as const } : {})
})

/** The image type from the bytes themselves, so a mislabelled answer is not re-served under the wrong type. */
const sniffImageType = (bytes: Uint8Array): string | undefined => {
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return "image/png"
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "image/jpeg"
  if (
    bytes.length >= 12 && bytes[0] === 0x52 && bytes[1] === 0x49 && bytes[2] === 0x46 && bytes[3] === 0x46 &&
    bytes[8] === 0x57 && bytes[9] === 0x45 && bytes[10] === 0x42 && bytes[11] === 0x50
  ) return "image/webp"
  if (bytes.length >= 6 && bytes[0] === 0x47 && bytes[1] === 0x49 && bytes[2] === 0x46) return "image/gif"
  return undefined
}

const BASE64 = /^[A-Za-z0-9+/]+={0,2}$/

export const makeOpenAIBackend = (options: OpenAIBackendOptions): ProviderBackend => {
  const baseURL = options.baseUrl ?? OPENAI_DEFAULT_BASE_URL
  const policy: Partial<RetryPolicy> = {
    ...options.retryPolicy,
    ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {})
  }
  // Organization and project are set to null so the SDK does not pick OPENAI_ORG_ID /
  // OPENAI_PROJECT_ID from the environment and send the platform's ids with a payer's key.
  const sdkFetch = options.fetch ?? providerFetch
  const clientFor = (key: Redacted.Redacted<string>) => Effect.map(sdk, (loaded) => clientOf(loaded, key))
  const clientOf = (loaded: OpenAISdk, key: Redacted.Redacted<string>) =>
    new loaded.default({
      apiKey: Redacted.value(key),
      baseURL,
      organization: null,
      project: null,
      maxRetries: 0,
      logLevel: "off",
      fetch: sdkFetch
    })
  /**
   * How an attempt's interruption reaches its request. Over `providerFetch` it rides in
   * `fetchOptions` (see NodeHttpFetch's INTERRUPT): as the SDK's `signal` it would be composed
   * with the SDK's own on every call (AbortSignal.any), at more CPU than the rest of the request.
   * Any other fetch gets it as the SDK's `signal`.
   */
  const interruptOn = (signal: AbortSignal): RequestOptions =>
    sdkFetch === providerFetch ? { fetchOptions: interruptOption(signal) as RequestOptions["fetchOptions"] & {} } : { signal }
  // The platform's client, made once, on the first call that uses it.
  let platformClient: OpenAI | undefined
  const platformClientFor = (key: Redacted.Redacted<string>) =>
    platformClient !== undefined
      ? Effect.succeed(platformClient)
      : Effect.map(sdk, (loaded) => (platformClient = clientOf(loaded, key)))
  const platformKeyText: ReadonlyArray<string> = Option.match(options.apiKey, {
    onNone: () => [],
    onSome: (k) => [Redacted.value(k)]
  })

  /** One SDK request, retried by the gateway's policy within `timeoutMs`. */
  const callWithRetries = <A>(input: {
    readonly what: string
    readonly key: Redacted.Redacted<string>
    readonly byok: boolean
    readonly timeoutMs: number
    readonly deadlineMs: number
    readonly request: (remainingMs: number, interrupt: RequestOptions) => PromiseLike<A>
  }): Effect.Effect<A, ProviderError> => {
    return retryWithinDeadline({
      attempt: (remainingMs, attempt) =>
        Effect.tryPromise({
          try: (signal) => input.request(remainingMs, interruptOn(signal)),
          catch: (cause) => cause
        }).pipe(
          Effect.catch((cause) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => {
              // The SDK made the request that failed: it is loaded.
              const failure = classify(loadedSdk!, cause, input.byok, now, input.timeoutMs)
              const keys = [Redacted.value(input.key), ...platformKeyText]
              return Effect.logWarning(
                `${PROVIDER} ${input.what} attempt ${attempt} failed (${failure.error._tag}, ${
                  failure.retry._tag === "Retryable" ? "retryable" : "final"
                }${input.byok ? ", payer's own key" : ""}): ${describeFailure(loadedSdk!, cause, keys)}`
              ).pipe(Effect.andThen(Effect.fail(failure)))
            })
          )
        ),
      classify: (failure) => failure.retry,
      deadlineMs: input.deadlineMs,
      onDeadline: () =>
        new AttemptFailure({
          error: new ProviderTimeout({ provider: PROVIDER, timeoutMs: input.timeoutMs }),
          retry: final,
          deadline: true
        }),
      policy
    }).pipe(
      Effect.tapError((failure) =>
        failure.deadline === true
          ? Effect.logWarning(`${PROVIDER} ${input.what} did not answer within ${input.timeoutMs} ms (the call's deadline)`)
          : Effect.void
      ),
      Effect.mapError((failure) => failure.error)
    )
  }

  const malformed = (why: string) =>
    Effect.logWarning(`${PROVIDER} images.generate answer unreadable: ${why}`).pipe(
      Effect.andThen(Effect.fail(new ProviderMalformed({ provider: PROVIDER })))
    )

  const readImages = (
    response: ImagesResponse | unknown,
    call: ProviderCall,
    deadlineMs: number
  ): Effect.Effect<ReadonlyArray<ProviderImage>, ProviderError> => {
    const data = typeof response === "object" && response !== null ? (response as { data?: unknown }).data : undefined
    if (!Array.isArray(data)) return malformed("no data array")
    if (data.length === 0) return malformed("an empty image list")
    const readImage = (item: unknown, index: number): Effect.Effect<ProviderImage, ProviderError> => {
      const entry = typeof item === "object" && item !== null ? item as Record<string, unknown> : {}
      const revised = typeof entry["revised_prompt"] === "string" ? { revisedPrompt: entry["revised_prompt"] } : {}
      const b64 = entry["b64_json"]
      if (typeof b64 === "string" && b64.length > 0) {
        if (!BASE64.test(b64)) return malformed(`image ${index} is not base64`)
        const bytes = new Uint8Array(Buffer.from(b64, "base64"))
        const sniffed = sniffImageType(bytes)
        if (sniffed === undefined) return malformed(`image ${index} is not a PNG, JPEG, WebP or GIF`)
        return Effect.succeed({ bytes, contentType: sniffed, ...revised })
      }
      const url = entry["url"]
      if (typeof url === "string" && url.length > 0) {
        return Effect.flatMap(Clock.currentTimeMillis, (now) =>
          fetchImage({
            provider: PROVIDER,
            url,
            remainingMs: deadlineMs - now,
            timeoutMs: call.timeoutMs,
            fetch: options.downloadFetch
          })).pipe(Effect.map((image) => ({ ...image, ...revised })))
      }
      return malformed(`image ${index} has neither b64_json nor url`)
    }
    return data.length === 1
      ? Effect.map(readImage(data[0], 0), (image) => [image])
      : Effect.forEach(data, readImage, { concurrency: 4 })
  }

  // fnUntraced + withSpan: the span without Effect.fn's stack capture on every call.
  const generate = Effect.fnUntraced(function*(call: ProviderCall) {
    const byok = Option.isSome(call.apiKey)
    const key = Option.orElse(call.apiKey, () => options.apiKey)
    if (Option.isNone(key)) return yield* new ProviderNotConfigured({ provider: PROVIDER })
    const client = yield* (byok ? clientFor(key.value) : platformClientFor(key.value))
    const deadlineMs = (yield* Clock.currentTimeMillis) + call.timeoutMs
    const params = generateParams(call)
    const response = yield* callWithRetries({
      what: "images.generate",
      key: key.value,
      byok,
      timeoutMs: call.timeoutMs,
      deadlineMs,
      // The SDK's own timeout (the time left) ends each request; over providerFetch the body too.
      request: (remainingMs, interrupt) =>
        client.images.generate(params, { ...interrupt, timeout: Math.max(1, Math.floor(remainingMs)), maxRetries: 0 })
    })
    // Downloads (for answers given as URLs) are not retried with the generation: the image is
    // already drawn; a new generation would draw and bill another one.
    const images = yield* readImages(response, call, deadlineMs)
    return { images, providerUsed: PROVIDER } satisfies ProviderResult
  }, Effect.withSpan("OpenAIBackend.generate"))

  const check = Effect.fnUntraced(function*(apiKey: Redacted.Redacted<string>, timeoutMs: number) {
    const byok = !platformKeyText.includes(Redacted.value(apiKey))
    const client = yield* clientFor(apiKey)
    const deadlineMs = (yield* Clock.currentTimeMillis) + timeoutMs
    yield* callWithRetries({
      what: "models.list",
      key: apiKey,
      byok,
      timeoutMs,
      deadlineMs,
      request: async (remainingMs, interrupt) => {
        await client.models.list({ ...interrupt, timeout: Math.max(1, Math.floor(remainingMs)), maxRetries: 0 })
      }
    })
  }, Effect.withSpan("OpenAIBackend.check"))

  return { name: PROVIDER, platformKey: options.apiKey, generate, check }
}
