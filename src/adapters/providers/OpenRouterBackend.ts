import { Clock, Effect, Option, Redacted, Schema } from "effect"
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
import { fetchImage } from "./FetchImage.ts"
import { providerFetch } from "./NodeHttpFetch.ts"
import type { ProviderBackend } from "./ProviderBackend.ts"
import { causeCodes, final, notSent, retryable, retryAfterMs, type RetryPolicy, retryWithinDeadline } from "./Retry.ts"

/**
 * OpenRouter behind the provider port: chat completions with `modalities: ["image", "text"]`,
 * the images read from `choices[0].message.images[]` (data URLs, or plain URLs fetched here).
 * OpenRouter answers one image per call for its image models, so `n` images are `n` calls made
 * side by side; the images of the calls that succeeded are returned even when others failed
 * (OpenRouter billed them), and the call fails only when none succeeded.
 */

const PROVIDER = "openrouter"
export const OPENROUTER_DEFAULT_BASE_URL = "https://openrouter.ai/api/v1"

export interface OpenRouterBackendOptions {
  /** The platform's key (OPENROUTER_API_KEY); BYOK calls bring their own. */
  readonly apiKey: Option.Option<Redacted.Redacted<string>>
  readonly baseUrl?: string | undefined
  /** The fetch of the API calls (default `providerFetch`: node:http with keep-alive, see NodeHttpFetch). */
  readonly fetch?: typeof fetch | undefined
  /** The fetch that downloads images answered as URLs (default the global fetch, which follows redirects). */
  readonly downloadFetch?: typeof fetch | undefined
  /** Attempts per call, the first included (the shared retry policy's default otherwise). */
  readonly maxAttempts?: number | undefined
  /** The rest of the shared retry policy (back-off base and ceiling). */
  readonly retryPolicy?: Partial<RetryPolicy> | undefined
}

// --- wire shapes ---------------------------------------------------------------------------

const ErrorBody = Schema.Struct({
  error: Schema.Struct({
    code: Schema.optionalKey(Schema.Unknown),
    message: Schema.optionalKey(Schema.Unknown),
    metadata: Schema.optionalKey(Schema.Unknown)
  })
})
type ErrorBody = typeof ErrorBody.Type

const Completion = Schema.Struct({
  choices: Schema.Array(Schema.Struct({
    finish_reason: Schema.optionalKey(Schema.NullOr(Schema.String)),
    message: Schema.Struct({
      images: Schema.optionalKey(Schema.NullOr(Schema.Array(Schema.Struct({
        image_url: Schema.Struct({ url: Schema.String })
      }))))
    })
  })),
  usage: Schema.optionalKey(Schema.NullOr(Schema.Struct({
    cost: Schema.optionalKey(Schema.NullOr(Schema.Number))
  })))
})

const decodeErrorBody = Schema.decodeUnknownOption(ErrorBody)
const decodeCompletion = Schema.decodeUnknownOption(Completion)

const parseJson = (text: string): Option.Option<unknown> => {
  try {
    return Option.some(JSON.parse(text))
  } catch {
    return Option.none()
  }
}

// --- what a failed exchange means --------------------------------------------------------------

/**
 * A failure and whether sending the same request again may succeed without billing twice: only
 * when the provider produced nothing (429, 5xx, or no connection before the request was sent).
 */
interface Failure {
  readonly error: ProviderError
  readonly retryable: boolean
  readonly retryAfterMs?: number | undefined
}

const fail = (error: ProviderError, retryable = false, retryAfterMs?: number): Failure => ({
  error,
  retryable,
  retryAfterMs
})

const isModeration = (body: Option.Option<ErrorBody>): boolean =>
  Option.match(body, {
    onNone: () => false,
    onSome: ({ error }) => {
      const metadata = error.metadata
      const flagged = typeof metadata === "object" && metadata !== null &&
        ("reasons" in metadata || "flagged_input" in metadata)
      return flagged || (typeof error.message === "string" && /moderation|flagged/i.test(error.message))
    }
  })

/**
 * OpenRouter's status (or, in a 2xx body, its `error.code`) to a typed failure. A key refused or
 * out of credits is the payer's to fix when it is theirs (BYOK), and the operator's otherwise:
 * the caller of a gateway with a broken platform key sees the provider unavailable, not a 401.
 */
const fromStatus = (
  status: number,
  body: Option.Option<ErrorBody>,
  headers: Headers,
  byok: boolean,
  timeoutMs: number,
  nowMs: number
): Failure => {
  const rejected = (reason: ProviderRejected["reason"]) => fail(new ProviderRejected({ provider: PROVIDER, reason, byok }))
  const credential = () => byok ? rejected("credential") : fail(new ProviderUnavailable({ provider: PROVIDER }))
  switch (status) {
    case 400:
      return rejected(isModeration(body) ? "content_policy" : "invalid_request")
    case 401:
    case 402:
      return credential()
    case 403:
      return isModeration(body) ? rejected("content_policy") : credential()
    case 408:
      return fail(new ProviderTimeout({ provider: PROVIDER, timeoutMs }))
    case 429: {
      const afterMs = retryAfterMs(headers, nowMs)
      return fail(
        new ProviderRateLimited({
          provider: PROVIDER,
          ...(afterMs === undefined ? {} : { retryAfterSeconds: Math.max(1, Math.ceil(afterMs / 1000)) })
        }),
        true,
        afterMs
      )
    }
    default:
      if (status >= 500) return fail(new ProviderUnavailable({ provider: PROVIDER }), true)
      return rejected("invalid_request")
  }
}

// --- secrets out of logs -------------------------------------------------------------------

const KEY_LIKE = /(sk-or-[A-Za-z0-9_-]+|sk-[A-Za-z0-9_-]{16,}|Bearer\s+\S+)/gi

/** The provider's text, one line, at most 300 characters, with anything key-like removed. */
export const scrubProviderText = (text: string, keys: ReadonlyArray<string>): string => {
  let out = text
  for (const key of keys) if (key.length > 0) out = out.split(key).join("[redacted]")
  out = out.replace(KEY_LIKE, "[redacted]").replace(/\s+/g, " ").trim()
  return out.length > 300 ? `${out.slice(0, 300)}…` : out
}

// --- the backend ---------------------------------------------------------------------------

interface Exchange {
  readonly status: number
  readonly headers: Headers
  readonly text: string
}

export const makeOpenRouterBackend = (options: OpenRouterBackendOptions): ProviderBackend => {
  const baseUrl = (options.baseUrl ?? OPENROUTER_DEFAULT_BASE_URL).replace(/\/+$/, "")
  const fetchImpl = options.fetch ?? providerFetch
  const downloadFetch = options.downloadFetch ?? globalThis.fetch
  const platformKey = options.apiKey

  /**
   * One HTTP exchange within `remainingMs`. A connection that failed before the request could be
   * sent is retryable; a reset or timeout after it was sent is not when the request bills
   * (`idempotent: false`), and neither is a failure while reading a 2xx body: the provider may
   * have drawn and billed the image.
   */
  const exchange = (
    url: string,
    init: RequestInit & { readonly idempotent: boolean },
    key: Redacted.Redacted<string>,
    remainingMs: number,
    timeoutMs: number
  ): Effect.Effect<Exchange, Failure> =>
    Effect.gen(function*() {
      const timedOut = () => fail(new ProviderTimeout({ provider: PROVIDER, timeoutMs }))
      const deadlineSignal = AbortSignal.timeout(remainingMs)
      const logCause = (stage: string, cause: unknown) =>
        Effect.logWarning("OpenRouter exchange failed", {
          stage,
          error: scrubProviderText(describe(cause), [Redacted.value(key)])
        })
      const { idempotent, ...request } = init
      const response = yield* Effect.tryPromise({
        try: (signal) =>
          fetchImpl(url, {
            ...request,
            headers: { ...request.headers, authorization: `Bearer ${Redacted.value(key)}` },
            signal: AbortSignal.any([signal, deadlineSignal])
          }),
        catch: (cause) => cause
      }).pipe(
        Effect.catch((cause) =>
          Effect.andThen(
            logCause("connect", cause),
            Effect.fail(
              deadlineSignal.aborted
                ? timedOut()
                : fail(new ProviderUnavailable({ provider: PROVIDER }), idempotent || notSent(cause))
            )
          )
        )
      )
      const text = yield* Effect.tryPromise({ try: () => response.text(), catch: (cause) => cause }).pipe(
        Effect.catch((cause) =>
          deadlineSignal.aborted
            ? Effect.andThen(logCause("body", cause), Effect.fail(timedOut()))
            : response.ok
            ? Effect.andThen(logCause("body", cause), Effect.fail(fail(new ProviderUnavailable({ provider: PROVIDER }))))
            // An error status with an unreadable body is still that status.
            : Effect.succeed("")
        )
      )
      return { status: response.status, headers: response.headers, text }
    })

  /** The shared retry policy over one kind of attempt, within the call's deadline. */
  const withRetries = <A>(
    deadlineMs: number,
    timeoutMs: number,
    attempt: (remainingMs: number) => Effect.Effect<A, Failure>
  ): Effect.Effect<A, ProviderError> =>
    retryWithinDeadline({
      attempt,
      classify: (f) => f.retryable ? retryable(f.retryAfterMs) : final,
      deadlineMs,
      onDeadline: () => fail(new ProviderTimeout({ provider: PROVIDER, timeoutMs })),
      policy: { ...options.retryPolicy, ...(options.maxAttempts === undefined ? {} : { maxAttempts: options.maxAttempts }) }
    }).pipe(Effect.mapError((f) => f.error))

  /** Maps an error status (or an `error` in a 2xx body) and logs the provider's text, scrubbed. */
  const failed = (
    ex: Exchange,
    body: Option.Option<ErrorBody>,
    status: number,
    byok: boolean,
    key: Redacted.Redacted<string>,
    timeoutMs: number
  ) => {
    const detail = Option.getOrUndefined(body)?.error
    return Effect.andThen(
      Effect.logWarning("OpenRouter refused the call", {
        status: ex.status,
        code: typeof detail?.code === "number" ? detail.code : undefined,
        message: scrubProviderText(
          typeof detail?.message === "string" ? detail.message : ex.text.slice(0, 300),
          [Redacted.value(key)]
        )
      }),
      Effect.flatMap(Clock.currentTimeMillis, (now) => Effect.fail(fromStatus(status, body, ex.headers, byok, timeoutMs, now)))
    )
  }

  const completion = (
    call: ProviderCall,
    key: Redacted.Redacted<string>,
    byok: boolean,
    remainingMs: number
  ): Effect.Effect<typeof Completion.Type, Failure> =>
    Effect.gen(function*() {
      const ex = yield* exchange(
        `${baseUrl}/chat/completions`,
        {
          method: "POST",
          headers: { "content-type": "application/json", accept: "application/json" },
          body: JSON.stringify({
            model: call.model,
            messages: [{ role: "user", content: call.prompt }],
            modalities: ["image", "text"],
            ...aspectRatioOf(call.size),
            ...(call.seed === undefined ? {} : { seed: call.seed })
          }),
          idempotent: false
        },
        key,
        remainingMs,
        call.timeoutMs
      )
      const json = parseJson(ex.text)
      const errorBody = Option.flatMap(json, decodeErrorBody)
      if (ex.status < 200 || ex.status >= 300) {
        return yield* failed(ex, errorBody, ex.status, byok, key, call.timeoutMs)
      }
      // OpenRouter reports a failure met after the model started as a 2xx with an `error` body.
      if (Option.isSome(errorBody)) {
        const code = errorBody.value.error.code
        const status = typeof code === "number" ? code : Number(code)
        const mapped = yield* Effect.flip(
          failed(ex, errorBody, Number.isInteger(status) ? status : 502, byok, key, call.timeoutMs)
        )
        // The model had started: sending again could bill twice.
        return yield* Effect.fail(fail(mapped.error))
      }
      const malformed = (why: string) =>
        Effect.andThen(
          Effect.logWarning("OpenRouter answered without usable images", { status: ex.status, why }),
          Effect.fail(fail(new ProviderMalformed({ provider: PROVIDER })))
        )
      if (Option.isNone(json)) return yield* malformed("body is not JSON")
      const decoded = decodeCompletion(json.value)
      if (Option.isNone(decoded)) return yield* malformed("body is not a chat completion")
      if (decoded.value.choices.length === 0) return yield* malformed("no choices")
      return decoded.value
    })

  /** The image bytes behind one of the URLs a completion returned. */
  const imageOf = (url: string, deadline: number, timeoutMs: number): Effect.Effect<ProviderImage, ProviderError> => {
    const dataUrl = /^data:([^;,]+)?(;[^,]*)?,(.*)$/s.exec(url)
    if (dataUrl !== null) {
      const contentType = dataUrl[1] ?? "image/png"
      const isBase64 = (dataUrl[2] ?? "").includes(";base64")
      const payload = dataUrl[3] ?? ""
      const bytes = isBase64 ? decodeBase64(payload) : undefined
      return bytes === undefined || bytes.length === 0 || !contentType.startsWith("image/")
        ? Effect.andThen(
          Effect.logWarning("OpenRouter returned an image data URL that does not decode", { contentType }),
          Effect.fail(new ProviderMalformed({ provider: PROVIDER }))
        )
        : Effect.succeed({ bytes, contentType })
    }
    if (/^https?:\/\//i.test(url)) {
      return Effect.flatMap(
        Clock.currentTimeMillis,
        (now) => fetchImage({ provider: PROVIDER, url, remainingMs: deadline - now, timeoutMs, fetch: downloadFetch })
      )
    }
    return Effect.andThen(
      Effect.logWarning("OpenRouter returned an image that is neither a data URL nor a URL"),
      Effect.fail(new ProviderMalformed({ provider: PROVIDER }))
    )
  }

  const oneCall = (call: ProviderCall, key: Redacted.Redacted<string>, byok: boolean, deadline: number) =>
    Effect.gen(function*() {
      const body = yield* withRetries(deadline, call.timeoutMs, (remainingMs) => completion(call, key, byok, remainingMs))
      const choice = body.choices[0]!
      const urls = (choice.message.images ?? []).map((i) => i.image_url.url)
      if (urls.length === 0) {
        if (choice.finish_reason === "content_filter") {
          yield* Effect.logWarning("OpenRouter's model refused the prompt", { finishReason: choice.finish_reason })
          return yield* new ProviderRejected({ provider: PROVIDER, reason: "content_policy", byok })
        }
        yield* Effect.logWarning("OpenRouter answered without images", { finishReason: choice.finish_reason ?? null })
        return yield* new ProviderMalformed({ provider: PROVIDER })
      }
      const images = yield* Effect.forEach(urls, (url) => imageOf(url, deadline, call.timeoutMs))
      const cost = body.usage?.cost
      return { images, cost: typeof cost === "number" && Number.isFinite(cost) && cost >= 0 ? cost : undefined }
    })

  const generate = Effect.fn("OpenRouterBackend.generate")(function*(call: ProviderCall) {
    const byok = Option.isSome(call.apiKey)
    const key = Option.isSome(call.apiKey) ? Option.some(call.apiKey.value) : platformKey
    if (Option.isNone(key)) return yield* new ProviderNotConfigured({ provider: PROVIDER })
    const deadline = (yield* Clock.currentTimeMillis) + call.timeoutMs
    const calls = yield* Effect.forEach(
      Array.from({ length: Math.max(1, call.n) }),
      () => Effect.result(oneCall(call, key.value, byok, deadline)),
      { concurrency: "unbounded" }
    )
    const succeeded = calls.flatMap((r) => r._tag === "Success" ? [r.success] : [])
    if (succeeded.length === 0) {
      const first = calls[0]!
      return yield* Effect.fail(first._tag === "Failure" ? first.failure : new ProviderMalformed({ provider: PROVIDER }))
    }
    const costs = succeeded.flatMap((s) => s.cost === undefined ? [] : [s.cost])
    const result: ProviderResult = {
      images: succeeded.flatMap((s) => s.images),
      providerUsed: PROVIDER,
      ...(costs.length === 0 ? {} : { providerCostMicroUsd: Math.round(costs.reduce((a, b) => a + b, 0) * 1e6) })
    }
    return result
  })

  const check = Effect.fn("OpenRouterBackend.check")(function*(apiKey: Redacted.Redacted<string>, timeoutMs: number) {
    const deadline = (yield* Clock.currentTimeMillis) + timeoutMs
    yield* withRetries(deadline, timeoutMs, (remainingMs) => Effect.gen(function*() {
      const ex = yield* exchange(
        `${baseUrl}/key`,
        { method: "GET", headers: { accept: "application/json" }, idempotent: true },
        apiKey,
        remainingMs,
        timeoutMs
      )
      if (ex.status < 200 || ex.status >= 300) {
        return yield* failed(ex, Option.flatMap(parseJson(ex.text), decodeErrorBody), ex.status, true, apiKey, timeoutMs)
      }
    }))
  })

  return { name: PROVIDER, platformKey, generate, check }
}

/** The aspect ratios OpenRouter's `image_config` accepts. */
const ASPECT_RATIOS = new Set(["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"])

/**
 * OpenRouter's image models take an aspect ratio rather than pixel sizes: "1536x1024" asks for
 * "3:2". `auto`, or a size with no matching ratio, leaves the choice to the model.
 */
export const aspectRatioOf = (size: string): { readonly image_config?: { readonly aspect_ratio: string } } => {
  const match = /^(\d+)x(\d+)$/.exec(size)
  if (match === null) return {}
  const width = Number(match[1])
  const height = Number(match[2])
  const gcd = (a: number, b: number): number => (b === 0 ? a : gcd(b, a % b))
  const d = gcd(width, height)
  const ratio = d === 0 ? "" : `${width / d}:${height / d}`
  return ASPECT_RATIOS.has(ratio) ? { image_config: { aspect_ratio: ratio } } : {}
}

const describe = (cause: unknown): string => {
  if (cause instanceof Error) {
    return [cause.name, cause.message, ...causeCodes(cause)].filter((s) => s !== "").join(": ")
  }
  return String(cause)
}

const decodeBase64 = (payload: string): Uint8Array | undefined => {
  const clean = payload.replace(/\s+/g, "")
  if (!/^[A-Za-z0-9+/]*={0,2}$/.test(clean) || clean.length % 4 === 1) return undefined
  return Uint8Array.from(Buffer.from(clean, "base64"))
}
