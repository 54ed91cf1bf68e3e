import { Context, Duration, Effect, Layer } from "effect"
import * as RateLimiter from "effect/persistence/RateLimiter"
import { RateLimitExceeded } from "../domain/Errors.ts"
import type { ServiceName } from "../domain/Ids.ts"
import type { Principal } from "../domain/Principal.ts"
import { ConcurrencySlots } from "./ports/ConcurrencySlots.ts"

/** How long the limiter's store may take to answer before a request goes through unchecked. */
const STORE_DEADLINE = Duration.seconds(2)

const NO_RELEASE: Effect.Effect<void> = Effect.void

/**
 * A service's rate limits (`Principal.rateLimits`, from its configuration), checked before a
 * generation holds anything: requests per minute for the whole service and for each of its
 * credentials (effect's RateLimiter, fixed window, refused requests not counted) and requests in
 * flight (`ConcurrencySlots`). Both stores are shared across instances on Redis, per process in
 * memory. A refused request fails with `RateLimitExceeded`; an admitted one gets the effect that
 * gives its in-flight slot back.
 *
 * A store that fails or does not answer within 2 s admits the request (logged): an outage of the
 * limiter must not stop a gateway whose money path does not depend on it.
 */
export class RateLimits extends Context.Service<RateLimits, {
  readonly admit: (principal: Principal, slotTtlMs: number) => Effect.Effect<Effect.Effect<void>, RateLimitExceeded>
}>()("image-gateway/RateLimits") {
  static readonly layer: Layer.Layer<RateLimits, never, RateLimiter.RateLimiter | ConcurrencySlots> = Layer.effect(
    RateLimits,
    Effect.gen(function*() {
      const limiter = yield* RateLimiter.RateLimiter
      const slots = yield* ConcurrencySlots

      /** A refusal in domain words; anything else the store said admits the request, logged. */
      const checked = <A>(
        service: ServiceName,
        limit: RateLimitExceeded["limit"],
        allowed: number,
        check: Effect.Effect<A, RateLimiter.RateLimiterError>,
        admitted: A
      ): Effect.Effect<A, RateLimitExceeded> =>
        check.pipe(
          Effect.timeoutOrElse({
            duration: STORE_DEADLINE,
            orElse: () => Effect.as(Effect.logWarning("rate limit store did not answer in time; request admitted"), admitted)
          }),
          Effect.catch((error) =>
            error.reason._tag === "RateLimitExceeded"
              ? Effect.fail(
                new RateLimitExceeded({
                  service,
                  limit,
                  allowed,
                  retryAfterSeconds: Math.max(1, Math.ceil(Duration.toMillis(error.reason.retryAfter) / 1000))
                })
              )
              : Effect.as(Effect.logWarning("rate limit store failed; request admitted", error.reason.message), admitted)
          )
        )

      const perMinute = (service: ServiceName, limit: RateLimitExceeded["limit"], allowed: number, key: string) =>
        checked(service, limit, allowed, Effect.asVoid(limiter.consume({ algorithm: "fixed-window", window: "1 minute", limit: allowed, key })), undefined)

      const admit = (principal: Principal, slotTtlMs: number): Effect.Effect<Effect.Effect<void>, RateLimitExceeded> => {
        const limits = principal.rateLimits
        // Users and unlimited services: nothing to check (the common case, kept free of any store call).
        if (limits === undefined || principal.actor._tag !== "Service") return Effect.succeed(NO_RELEASE)
        const service = principal.actor.service
        const { concurrent, perKeyRequestsPerMinute: perKey, requestsPerMinute: perService } = limits
        // A service JWT has no key id: all its tokens count as one credential.
        const credential = principal.keyId ?? "jwt"
        // The credential's window before the service's: a key over its own limit is refused without
        // using up the service's window for its other keys (a window only counts what it admits).
        const windows = Effect.andThen(
          perKey === undefined ? Effect.void : perMinute(service, "per_key_requests_per_minute", perKey, `rpm:${service}:${credential}`),
          perService === undefined ? Effect.void : perMinute(service, "requests_per_minute", perService, `rpm:${service}`)
        )
        if (concurrent === undefined) return Effect.as(windows, NO_RELEASE)
        // The slot first, given back when a window then refuses: a refused request holds nothing.
        const slot = checked(
          service,
          "concurrent",
          concurrent,
          Effect.flatMap(slots.take({ key: `inflight:${service}`, limit: concurrent, ttlMs: slotTtlMs }), (release) =>
            release === undefined
              ? Effect.fail(
                new RateLimiter.RateLimiterError({
                  reason: new RateLimiter.RateLimitExceeded({
                    key: service,
                    limit: concurrent,
                    remaining: 0,
                    retryAfter: Duration.seconds(1)
                  })
                })
              )
              : Effect.succeed(release)),
          NO_RELEASE
        )
        return Effect.flatMap(slot, (release) => Effect.as(Effect.onError(windows, () => release), release))
      }

      return RateLimits.of({ admit })
    })
  )

  /** Both stores in this process's memory: limits per instance. */
  static readonly layerMemory: Layer.Layer<RateLimits> = RateLimits.layer.pipe(
    Layer.provide(Layer.mergeAll(
      RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreMemory)),
      ConcurrencySlots.layerMemory
    ))
  )
}
