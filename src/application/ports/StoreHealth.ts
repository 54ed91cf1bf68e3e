import { Context, Data, type Effect } from "effect"

/** The store cannot be reached (`reason` is for logs; it never names a secret). */
export class StoreUnreachable extends Data.TaggedError("StoreUnreachable")<{ readonly reason: string }> {}

/**
 * Whether the persistent store answers: what `GET /readyz` reports. A round trip and nothing
 * more, so that a load balancer polling it costs the store nothing as the journal grows.
 */
export class StoreHealth extends Context.Service<StoreHealth, {
  readonly ping: Effect.Effect<void, StoreUnreachable>
}>()("image-gateway/StoreHealth") {}
