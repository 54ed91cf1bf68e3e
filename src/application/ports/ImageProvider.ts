import { Context, type Effect, type Option, type Redacted } from "effect"
import type { ProviderError } from "../../domain/Errors.ts"
import type { ProviderName } from "../../domain/Models.ts"

export interface ProviderCall {
  readonly provider: ProviderName
  readonly model: string
  readonly prompt: string
  readonly n: number
  readonly size: string
  readonly quality: string
  readonly style?: string | undefined
  readonly outputFormat?: string | undefined
  readonly background?: string | undefined
  readonly seed?: number | undefined
  /** The payer's own key (BYOK); none means the platform's key. */
  readonly apiKey: Option.Option<Redacted.Redacted<string>>
  readonly timeoutMs: number
}

export interface ProviderImage {
  /** The image file (PNG unless `contentType` says otherwise). */
  readonly bytes: Uint8Array
  readonly contentType: string
  readonly revisedPrompt?: string | undefined
}

export interface ProviderResult {
  readonly images: ReadonlyArray<ProviderImage>
  /** The provider that really answered (`local` when it stood in for an unconfigured one). */
  readonly providerUsed: ProviderName
  /** What the provider reported the call cost it (OpenRouter's `usage.cost`), in millionths of a US dollar. */
  readonly providerCostMicroUsd?: number | undefined
}

/** Generates images; every failure is one of the typed provider errors. */
export class ImageProvider extends Context.Service<ImageProvider, {
  readonly generate: (call: ProviderCall) => Effect.Effect<ProviderResult, ProviderError>
}>()("image-gateway/ImageProvider") {}
