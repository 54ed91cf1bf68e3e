import { Context, type Effect, type Redacted } from "effect"
import type { ProviderError } from "../../domain/Errors.ts"
import type { ProviderName } from "../../domain/Models.ts"

/**
 * Whether a provider accepts an API key: a cheap authenticated call that makes no image (the
 * BYOK "test this key" action). A refused key is `ProviderRejected` with reason `credential`;
 * an unreachable or failing provider is its own typed error, so "the key is bad" and "the
 * provider is down" stay apart. Failures carry the gateway's own words, never the provider's.
 */
export class ProviderKeyCheck extends Context.Service<ProviderKeyCheck, {
  readonly check: (provider: ProviderName, apiKey: Redacted.Redacted<string>) => Effect.Effect<void, ProviderError>
}>()("image-gateway/ProviderKeyCheck") {}
