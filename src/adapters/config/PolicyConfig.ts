import { Config, ConfigProvider, Effect, Layer, Option, Schema } from "effect"
import type { ServiceRateLimits } from "../../domain/Entities.ts"
import { defaultGatewayPolicy, GatewayPolicy } from "../../application/GatewayPolicy.ts"

const seconds = (name: string, fallbackMs: number) =>
  Config.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), name).pipe(Config.withDefault(fallbackMs / 1000))

/** A default rate limit: a whole number from 1 to 1,000,000, as a service's own (Administration). */
const rateLimit = (name: string) =>
  Config.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1), Schema.isLessThanOrEqualTo(1_000_000)), name).pipe(
    Config.option
  )

/**
 * PROVIDER_TIMEOUT_SECONDS (120): the deadline of one generation's provider call.
 * HOLD_TTL_SECONDS (600): how long a credit hold lives before the sweeper releases it. A hold
 * left by a process that died mid-call is released after this, so a shorter one returns a
 * crashed request's credits sooner; it must outlive the provider call, or a call that succeeds
 * could find its hold already released.
 * RATE_LIMIT_REQUESTS_PER_MINUTE, RATE_LIMIT_PER_KEY_REQUESTS_PER_MINUTE, RATE_LIMIT_CONCURRENT
 * (unset): the limits of every service that has none of its own (docs/rate-limits.md).
 */
export const PolicyConfig = Config.all({
  providerTimeoutSeconds: seconds("PROVIDER_TIMEOUT_SECONDS", defaultGatewayPolicy.providerTimeoutMs),
  holdTtlSeconds: seconds("HOLD_TTL_SECONDS", defaultGatewayPolicy.holdTtlMs),
  requestsPerMinute: rateLimit("RATE_LIMIT_REQUESTS_PER_MINUTE"),
  perKeyRequestsPerMinute: rateLimit("RATE_LIMIT_PER_KEY_REQUESTS_PER_MINUTE"),
  concurrent: rateLimit("RATE_LIMIT_CONCURRENT")
}).pipe(Config.flatMap((c) =>
  c.holdTtlSeconds > c.providerTimeoutSeconds
    ? Config.succeed(c)
    : Config.fail(
      new ConfigProvider.SourceError({
        message: `HOLD_TTL_SECONDS: ${c.holdTtlSeconds} s must be longer than PROVIDER_TIMEOUT_SECONDS (${c.providerTimeoutSeconds} s).`
      })
    )
))

/** The gateway's policy with the time limits the environment sets. */
export const ConfiguredGatewayPolicy = Layer.unwrap(Effect.gen(function*() {
  const c = yield* PolicyConfig
  const defaults: ServiceRateLimits = {
    ...(Option.isSome(c.requestsPerMinute) ? { requestsPerMinute: c.requestsPerMinute.value } : {}),
    ...(Option.isSome(c.perKeyRequestsPerMinute) ? { perKeyRequestsPerMinute: c.perKeyRequestsPerMinute.value } : {}),
    ...(Option.isSome(c.concurrent) ? { concurrent: c.concurrent.value } : {})
  }
  return GatewayPolicy.layer({
    providerTimeoutMs: c.providerTimeoutSeconds * 1000,
    holdTtlMs: c.holdTtlSeconds * 1000,
    defaultRateLimits: Object.keys(defaults).length === 0 ? undefined : defaults
  })
}))
