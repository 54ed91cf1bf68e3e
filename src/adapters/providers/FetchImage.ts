import { Data, Duration, Effect } from "effect"
import type { ProviderImage } from "../../application/ports/ImageProvider.ts"
import { ProviderMalformed, ProviderTimeout, ProviderUnavailable } from "../../domain/Errors.ts"

/** A provider image larger than this is refused rather than buffered. */
export const MAX_IMAGE_BYTES = 20 * 1024 * 1024

export type FetchImageError = ProviderMalformed | ProviderUnavailable | ProviderTimeout

export interface FetchImageOptions {
  readonly provider: string
  readonly url: string
  /** What remains of the call's deadline. */
  readonly remainingMs: number
  /** The call's whole budget, reported in `ProviderTimeout`. */
  readonly timeoutMs: number
  readonly fetch?: typeof globalThis.fetch | undefined
  readonly maxBytes?: number | undefined
}

/**
 * Downloads an image a provider answered with as a URL, so the gateway re-serves the bytes and
 * never hands the provider's URL out. It is made once, never retried: the image was already
 * drawn (and billed), and a second request to the same URL within the same deadline rarely
 * fares better. A refused or failed download is `ProviderUnavailable`; an answer that is not an
 * image (status, content type, empty, over `maxBytes`) is `ProviderMalformed`; the deadline
 * passing is `ProviderTimeout`. The provider's text is logged, never returned.
 */
export const fetchImage = (options: FetchImageOptions): Effect.Effect<ProviderImage, FetchImageError> => {
  const { provider } = options
  const maxBytes = options.maxBytes ?? MAX_IMAGE_BYTES
  const doFetch = options.fetch ?? globalThis.fetch
  const malformed = (why: string) =>
    Effect.logWarning(`${provider}: image download refused: ${why}`).pipe(
      Effect.andThen(Effect.fail(new ProviderMalformed({ provider })))
    )
  const unavailable = (why: string) =>
    Effect.logWarning(`${provider}: image download failed: ${why}`).pipe(
      Effect.andThen(Effect.fail(new ProviderUnavailable({ provider })))
    )

  let parsed: URL
  try {
    parsed = new URL(options.url)
  } catch {
    return malformed("the image URL does not parse")
  }
  if (parsed.protocol !== "https:" && parsed.protocol !== "http:") return malformed(`URL scheme ${parsed.protocol}`)
  // The URL's query string is often a signed token: only its origin and path are logged.
  const where = `${parsed.origin}${parsed.pathname}`

  const download = Effect.tryPromise({
    try: async (signal) => {
      const response = await doFetch(parsed, { signal, redirect: "follow" })
      if (!response.ok) {
        await response.body?.cancel().catch(() => undefined)
        return { _tag: "Status", status: response.status } as const
      }
      const contentType = (response.headers.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase()
      if (!contentType.startsWith("image/")) {
        await response.body?.cancel().catch(() => undefined)
        return { _tag: "NotImage", contentType } as const
      }
      const declared = Number(response.headers.get("content-length") ?? "NaN")
      if (Number.isFinite(declared) && declared > maxBytes) {
        await response.body?.cancel().catch(() => undefined)
        return { _tag: "TooLarge" } as const
      }
      const bytes = await readCapped(response, maxBytes)
      if (bytes === undefined) return { _tag: "TooLarge" } as const
      return { _tag: "Image", bytes, contentType } as const
    },
    catch: (cause) => new DownloadFailed({ cause })
  })

  return download.pipe(
    Effect.catch((e: DownloadFailed) => unavailable(`${where}: ${describeFetchFailure(e.cause)}`)),
    Effect.timeoutOrElse({
      duration: Duration.millis(Math.max(0, options.remainingMs)),
      orElse: () =>
        Effect.logWarning(`${provider}: image download from ${where} did not finish before the deadline`).pipe(
          Effect.andThen(Effect.fail(new ProviderTimeout({ provider, timeoutMs: options.timeoutMs })))
        )
    }),
    Effect.flatMap((outcome): Effect.Effect<ProviderImage, FetchImageError> => {
      switch (outcome._tag) {
        case "Status":
          return outcome.status >= 500 || outcome.status === 429 || outcome.status === 404 || outcome.status === 403
            ? unavailable(`${where} answered ${outcome.status}`)
            : malformed(`${where} answered ${outcome.status}`)
        case "NotImage":
          return malformed(`${where} sent content type '${outcome.contentType.slice(0, 80)}'`)
        case "TooLarge":
          return malformed(`${where} sent more than ${maxBytes} bytes`)
        case "Image":
          return outcome.bytes.length === 0
            ? malformed(`${where} sent an empty body`)
            : Effect.succeed({ bytes: outcome.bytes, contentType: outcome.contentType })
      }
    })
  )
}

class DownloadFailed extends Data.TaggedError("DownloadFailed")<{ readonly cause: unknown }> {}

/** The body, or `undefined` as soon as it passes `maxBytes` (the rest is not read). */
const readCapped = async (response: Response, maxBytes: number): Promise<Uint8Array | undefined> => {
  if (response.body === null) return new Uint8Array(0)
  const reader = response.body.getReader()
  const chunks: Array<Uint8Array> = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > maxBytes) {
      await reader.cancel().catch(() => undefined)
      return undefined
    }
    chunks.push(value)
  }
  const out = new Uint8Array(total)
  let offset = 0
  for (const chunk of chunks) {
    out.set(chunk, offset)
    offset += chunk.byteLength
  }
  return out
}

/** A short description of a fetch failure from its cause chain (error names and codes only). */
export const describeFetchFailure = (error: unknown): string => {
  const parts: Array<string> = []
  let current: unknown = error
  for (let depth = 0; depth < 4 && current !== undefined && current !== null; depth++) {
    if (typeof current === "object") {
      const e = current as { name?: unknown; code?: unknown; message?: unknown; cause?: unknown }
      const code = typeof e.code === "string" ? ` ${e.code}` : ""
      const message = typeof e.message === "string" ? `: ${e.message.slice(0, 120)}` : ""
      parts.push(`${String(e.name ?? "Error")}${code}${message}`)
      current = e.cause
    } else {
      parts.push(String(current).slice(0, 120))
      break
    }
  }
  return parts.join(" <- ")
}
