import { Cause, Config, Data, Duration, Effect, Layer, Option, Redacted, References } from "effect"
import * as RateLimiter from "effect/persistence/RateLimiter"
import * as Redis from "effect/persistence/Redis"
import { RateLimits } from "../../application/RateLimits.ts"
import { ConcurrencySlots } from "../../application/ports/ConcurrencySlots.ts"

/** REDIS_URL (rate limits shared by every instance on it) and the prefix of every key written there. */
export const RedisConfig = Config.all({
  url: Config.Redacted("REDIS_URL").pipe(Config.option, Config.map(Option.filter((u) => Redacted.value(u) !== ""))),
  prefix: Config.NonEmptyString("REDIS_KEY_PREFIX").pipe(Config.withDefault("image-gateway:"))
})
export type RedisConfig = Config.Success<typeof RedisConfig>

/** How long start-up waits for Redis before it stops. */
const CONNECT_DEADLINE = Duration.seconds(5)

/**
 * In-flight slots as one sorted set per key: each member is a slot, scored by when it lapses.
 * Taking a slot drops the lapsed ones, counts the rest and adds one under the limit, in one script
 * (atomic across instances, and on Redis' own clock, so instances' clocks may differ). Giving it
 * back removes the member. A slot whose instance crashed before giving it back lapses on its own
 * after its TTL, one by one, rather than with a counter's single TTL that every new request would
 * push further away; the set itself expires once its last slot could have lapsed.
 */
const takeSlot = Redis.script(
  (key: string, member: string, limit: number, ttlMs: number) => [key, member, limit, ttlMs],
  {
    numberOfKeys: 1,
    lua: `
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[3])
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", now)
if redis.call("ZCARD", KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call("ZADD", KEYS[1], now + ttl, ARGV[1])
redis.call("PEXPIRE", KEYS[1], ttl)
return 1
`
  }
).withReturnType<number>()

const storeError = (message: string) => (cause: unknown) =>
  new RateLimiter.RateLimiterError({ reason: new RateLimiter.RateLimitStoreError({ message, cause }) })

/** `ConcurrencySlots` on Redis, keys under `prefix`. */
export const RedisConcurrencySlots = (prefix: string): Layer.Layer<ConcurrencySlots, never, Redis.Redis> =>
  Layer.effect(
    ConcurrencySlots,
    Effect.gen(function*() {
      const redis = yield* Redis.Redis
      const take = redis.eval(takeSlot)
      let next = 0
      const instance = `${Date.now().toString(36)}-${Math.random().toString(36).slice(2)}`
      return ConcurrencySlots.of({
        take: ({ key, limit, ttlMs }) => {
          const redisKey = `${prefix}${key}`
          // Unique across instances: the instance's random tag and a counter.
          const member = `${instance}:${next++}`
          return take(redisKey, member, limit, ttlMs).pipe(
            Effect.mapError(storeError("Failed to take an in-flight slot")),
            Effect.map((taken) =>
              Number(taken) === 1
                ? Effect.ignore(redis.send("ZREM", redisKey, member).pipe(Effect.timeout("2 seconds")), { log: "Warn" })
                : undefined
            )
          )
        }
      })
    })
  )

/** Where Redis is, without user or password, for messages. */
export const redisLocation = (url: Redacted.Redacted<string>): string => {
  try {
    const u = new URL(Redacted.value(url))
    return `${u.hostname}${u.port ? `:${u.port}` : ""}`
  } catch {
    return "an unparsable URL"
  }
}

/** Redis could not be reached at start-up; the message names REDIS_URL by host and port only. */
export class RedisUnreachable extends Data.TaggedError("RedisUnreachable")<{ readonly message: string }> {}

/**
 * `RateLimits` on Redis at `url`: effect's Redis RateLimiter store and the slots above, keys under
 * `prefix`. Connects and pings at start-up, each within 5 s (node-redis gives up on the first
 * failed connection before it was ever ready), or fails with `RedisUnreachable`.
 */
export const RedisRateLimits = (
  url: Redacted.Redacted<string>,
  prefix: string
): Layer.Layer<RateLimits, RedisUnreachable> => {
  const deadline = Duration.toMillis(CONNECT_DEADLINE)
  const connection = Layer.effectDiscard(Effect.gen(function*() {
    const redis = yield* Redis.Redis
    yield* redis.send("PING").pipe(Effect.timeout(CONNECT_DEADLINE))
  })).pipe(Layer.provideMerge(
    // The Redis client (some 650 modules) is loaded only when REDIS_URL is set: every other
    // gateway start and admin command is spared loading it.
    Layer.unwrap(Effect.map(Effect.promise(() => import("@effect/platform-node/NodeRedis")), (NodeRedis) =>
      NodeRedis.layer({ url: Redacted.value(url), socket: { connectTimeout: deadline } }).pipe(
        // The client's own warnings (a multi-line dump per socket error) are silenced: a failed
        // start-up says it in one line, and a failing store is logged once per request it admits.
        Layer.provide(Layer.succeed(References.MinimumLogLevel, "Error"))
      )))
  ))
  const stores = Layer.mergeAll(
    RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreRedis({ prefix }))),
    RedisConcurrencySlots(prefix)
  ).pipe(Layer.provide(connection))
  return RateLimits.layer.pipe(
    Layer.provide(stores),
    Layer.catchCause((cause) => {
      const error: any = Cause.squash(cause)
      const why = error?.cause?.message ?? error?.message ?? "no answer"
      return Layer.effect(
        RateLimits,
        Effect.fail(new RedisUnreachable({ message: `REDIS_URL (${redisLocation(url)}): Redis could not be reached (${String(why)}).` }))
      )
    })
  )
}
