import { Config, ConfigProvider, Effect, Layer, Schema } from "effect"
import { defaultGatewayPolicy, GatewayPolicy } from "../../application/GatewayPolicy.ts"

const seconds = (name: string, fallbackMs: number) =>
  Config.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), name).pipe(Config.withDefault(fallbackMs / 1000))

/**
 * PROVIDER_TIMEOUT_SECONDS (120): the deadline of one generation's provider call.
 * HOLD_TTL_SECONDS (600): how long a credit hold lives before the sweeper releases it. A hold
 * left by a process that died mid-call is released after this, so a shorter one returns a
 * crashed request's credits sooner; it must outlive the provider call, or a call that succeeds
 * could find its hold already released.
 */
export const PolicyConfig = Config.all({
  providerTimeoutSeconds: seconds("PROVIDER_TIMEOUT_SECONDS", defaultGatewayPolicy.providerTimeoutMs),
  holdTtlSeconds: seconds("HOLD_TTL_SECONDS", defaultGatewayPolicy.holdTtlMs)
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
  return GatewayPolicy.layer({ providerTimeoutMs: c.providerTimeoutSeconds * 1000, holdTtlMs: c.holdTtlSeconds * 1000 })
}))
