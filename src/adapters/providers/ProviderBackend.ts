import type { Effect, Option, Redacted } from "effect"
import type { ProviderCall, ProviderResult } from "../../application/ports/ImageProvider.ts"
import type { ProviderError } from "../../domain/Errors.ts"
import type { ProviderName } from "../../domain/Models.ts"

/**
 * One real image provider (OpenAI, OpenRouter) behind the `ImageProvider` port. The router
 * (`ProviderRouter.ts`) picks the backend that serves the call's model, guards it with a circuit
 * breaker and falls back to the local provider only where configuration says so.
 */
export interface ProviderBackend {
  readonly name: ProviderName
  /** The platform's key, when one is configured; a call without `apiKey` (BYOK) uses it. */
  readonly platformKey: Option.Option<Redacted.Redacted<string>>
  /**
   * Generates with `call.apiKey` (the payer's own key) when it is some, else the platform key.
   * Every failure is a typed provider error whose text is the gateway's own (the provider's
   * text may be logged, without secrets, never returned). `providerUsed` is `name`.
   */
  readonly generate: (call: ProviderCall) => Effect.Effect<ProviderResult, ProviderError>
  /** A cheap authenticated call that checks `apiKey` works (BYOK "test this key"); costs no image. */
  readonly check: (apiKey: Redacted.Redacted<string>, timeoutMs: number) => Effect.Effect<void, ProviderError>
}
