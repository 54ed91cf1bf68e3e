import { Effect, Layer, Redacted } from "effect"
import { ImageProvider, type ProviderCall, type ProviderResult } from "../../src/application/ports/ImageProvider.ts"
import { generateLocally } from "../../src/adapters/local/LocalImageProvider.ts"
import {
  type ProviderError,
  ProviderMalformed,
  ProviderRateLimited,
  ProviderRejected,
  ProviderTimeout,
  ProviderUnavailable
} from "../../src/domain/Errors.ts"

/**
 * The local provider, steered by markers in the prompt so tests choose the outcome:
 * `[fail:unavailable|rate_limited|timeout|malformed|rejected]`, `[partial:K]` (return K images),
 * `[hang]` (never answer). It records every call, and the key it was given.
 */
export interface RecordedCall {
  readonly call: ProviderCall
  readonly apiKey: string | undefined
}

export const OUTCOMES = ["ok", "unavailable", "rate_limited", "timeout", "malformed", "rejected", "partial"] as const
export type Outcome = (typeof OUTCOMES)[number]

export const promptFor = (outcome: Outcome, text = "a lighthouse at dusk", partial = 1): string =>
  outcome === "ok" ? text : outcome === "partial" ? `${text} [partial:${partial}]` : `${text} [fail:${outcome}]`

const failure = (kind: string, call: ProviderCall): ProviderError => {
  const provider = call.provider
  switch (kind) {
    case "rate_limited":
      return new ProviderRateLimited({ provider, retryAfterSeconds: 7 })
    case "timeout":
      return new ProviderTimeout({ provider, timeoutMs: call.timeoutMs })
    case "malformed":
      return new ProviderMalformed({ provider })
    case "rejected":
      return new ProviderRejected({ provider, reason: "content_policy", byok: call.apiKey._tag === "Some" })
    default:
      return new ProviderUnavailable({ provider })
  }
}

export const makeScriptedProvider = (options: { readonly tiny?: boolean } = {}) => {
  const calls: Array<RecordedCall> = []
  const generate = (call: ProviderCall): Effect.Effect<ProviderResult, ProviderError> =>
    Effect.suspend(() => {
      calls.push({ call, apiKey: call.apiKey._tag === "Some" ? Redacted.value(call.apiKey.value) : undefined })
      if (call.prompt.includes("[hang]")) return Effect.never
      const fail = /\[fail:([a-z_]+)\]/.exec(call.prompt)
      if (fail !== null) return Effect.fail(failure(fail[1]!, call))
      const partial = /\[partial:(\d+)\]/.exec(call.prompt)
      const n = partial === null ? call.n : Math.min(call.n, Number(partial[1]))
      // Tiny images keep property tests fast; the size rule is covered by the renderer's tests.
      return generateLocally({ ...call, n, size: options.tiny ? "8x8" : call.size })
    })
  return { calls, layer: Layer.succeed(ImageProvider, ImageProvider.of({ generate })) }
}
