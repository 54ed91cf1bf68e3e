import { Effect, Layer } from "effect"
import { ProviderKeyCheck } from "../../application/ports/ProviderKeyCheck.ts"

/**
 * The local provider's key check: it calls no provider, so every key passes. It stands in where
 * no real provider backend is wired to check keys.
 */
export const LocalProviderKeyCheck = Layer.succeed(ProviderKeyCheck, ProviderKeyCheck.of({ check: () => Effect.void }))
