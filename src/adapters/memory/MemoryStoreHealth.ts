import { Effect, Layer } from "effect"
import { StoreHealth } from "../../application/ports/StoreHealth.ts"

/** Process memory is always there. */
export const MemoryStoreHealth = Layer.succeed(StoreHealth, StoreHealth.of({ ping: Effect.void }))
