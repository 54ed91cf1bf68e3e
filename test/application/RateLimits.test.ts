import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer } from "effect"
import * as RateLimiter from "effect/persistence/RateLimiter"
import * as Redis from "effect/persistence/Redis"
import * as NodeRedis from "@effect/platform-node/NodeRedis"
import { TestClock } from "effect/testing"
import { randomUUID } from "node:crypto"
import { Socket } from "node:net"
import { ConcurrencySlots } from "../../src/application/ports/ConcurrencySlots.ts"
import { RateLimits } from "../../src/application/RateLimits.ts"
import { RedisConcurrencySlots } from "../../src/adapters/redis/RedisRateLimits.ts"
import type { ServiceRateLimits } from "../../src/domain/Entities.ts"
import type { KeyId, ServiceName } from "../../src/domain/Ids.ts"
import type { Principal } from "../../src/domain/Principal.ts"

const service = (rateLimits: ServiceRateLimits | undefined, keyId = "key_a"): Principal => ({
  actor: { _tag: "Service", service: "svc" as ServiceName },
  payer: { account: "org_svc" as never, kind: "org", tier: "managed" as never },
  authMethod: "service_key",
  keyId: keyId as KeyId,
  rateLimits
})

const TTL = 60_000
const admit = (p: Principal) => RateLimits.use((limits) => limits.admit(p, TTL))
const refusal = <A>(exit: Exit.Exit<A, { readonly limit: string; readonly retryAfterSeconds: number }>) =>
  Exit.isFailure(exit) ? exit.cause.reasons.flatMap((r) => (r._tag === "Fail" ? [r.error] : []))[0] : undefined

describe("RateLimits on memory", () => {
  it.effect("admits requests_per_minute requests, refuses the next with the seconds until the window frees, and admits again a minute later", () =>
    Effect.gen(function*() {
      const p = service({ requestsPerMinute: 3 })
      for (let i = 0; i < 3; i++) yield* admit(p)
      const refused = refusal(yield* Effect.exit(admit(p)))
      assert.strictEqual(refused?.limit, "requests_per_minute")
      assert.isTrue(refused!.retryAfterSeconds >= 1 && refused!.retryAfterSeconds <= 60)
      yield* TestClock.adjust("61 seconds")
      yield* admit(p)
    }).pipe(Effect.provide(RateLimits.layerMemory)))

  it.effect("counts each credential alone under per_key_requests_per_minute", () =>
    Effect.gen(function*() {
      const limits = { perKeyRequestsPerMinute: 1 }
      yield* admit(service(limits, "key_a"))
      assert.strictEqual(refusal(yield* Effect.exit(admit(service(limits, "key_a"))))?.limit, "per_key_requests_per_minute")
      yield* admit(service(limits, "key_b"))
    }).pipe(Effect.provide(RateLimits.layerMemory)))

  it.effect("holds `concurrent` slots at once and gives one back on release, once only", () =>
    Effect.gen(function*() {
      const p = service({ concurrent: 2 })
      const first = yield* admit(p)
      yield* admit(p)
      const refused = refusal(yield* Effect.exit(admit(p)))
      assert.strictEqual(refused?.limit, "concurrent")
      yield* first
      yield* first // a second release gives nothing more back
      yield* admit(p)
      assert.strictEqual(refusal(yield* Effect.exit(admit(p)))?.limit, "concurrent")
    }).pipe(Effect.provide(RateLimits.layerMemory)))

  it.effect("gives the slot back when a per-minute window refuses: a refused request holds nothing", () =>
    Effect.gen(function*() {
      const p = service({ concurrent: 1, requestsPerMinute: 1 })
      const release = yield* admit(p)
      yield* release
      assert.strictEqual(refusal(yield* Effect.exit(admit(p)))?.limit, "requests_per_minute")
      yield* TestClock.adjust("61 seconds")
      yield* admit(p) // the slot is free: the refusal above did not keep it
    }).pipe(Effect.provide(RateLimits.layerMemory)))

  it.effect("checks nothing for a user or an unlimited service", () =>
    Effect.gen(function*() {
      for (let i = 0; i < 100; i++) yield* admit(service(undefined))
    }).pipe(Effect.provide(RateLimits.layer.pipe(Layer.provide(Layer.mergeAll(
      // Stores that would fail any call: none is made.
      Layer.succeed(RateLimiter.RateLimiter, null as never),
      Layer.succeed(ConcurrencySlots, null as never)
    ))))))

  it.effect("admits the request when the store fails (the limiter is not on the money path)", () =>
    Effect.gen(function*() {
      yield* admit(service({ concurrent: 1, requestsPerMinute: 1 }))
    }).pipe(Effect.provide(RateLimits.layer.pipe(Layer.provide(Layer.mergeAll(
      RateLimiter.layer.pipe(Layer.provide(RateLimiter.layerStoreMemory)),
      Layer.succeed(ConcurrencySlots, ConcurrencySlots.of({
        take: () =>
          Effect.fail(new RateLimiter.RateLimiterError({ reason: new RateLimiter.RateLimitStoreError({ message: "down" }) }))
      }))
    ))))))
})

const redisUp = await new Promise<boolean>((resolve) => {
  const socket = new Socket()
  const done = (up: boolean) => (socket.destroy(), resolve(up))
  socket.setTimeout(1_000, () => done(false))
  socket.once("error", () => done(false))
  socket.connect(6379, "127.0.0.1", () => done(true))
})
if (!redisUp) console.log("Redis is not reachable at 127.0.0.1:6379: the Redis in-flight slot tests are skipped.")

describe.skipIf(!redisUp)("ConcurrencySlots on Redis", () => {
  const prefix = `image-gateway-test:${randomUUID()}:`
  const RedisLayer = NodeRedis.layer({ url: "redis://127.0.0.1:6379" })
  const slots = RedisConcurrencySlots(prefix).pipe(Layer.provideMerge(RedisLayer))
  const take = (limit: number, ttlMs: number) => ConcurrencySlots.use((s) => s.take({ key: "k", limit, ttlMs }))

  it.live("takes up to the limit, gives back on release, and lets a slot never given back (a crashed instance) lapse after its TTL", () =>
    Effect.gen(function*() {
      const a = yield* take(2, 300)
      const b = yield* take(2, 300)
      assert.isDefined(a)
      assert.isDefined(b)
      assert.isUndefined(yield* take(2, 300))
      yield* a!
      const c = yield* take(2, 300)
      assert.isDefined(c)
      // Neither b nor c is given back: both lapse.
      yield* Effect.sleep("400 millis")
      assert.isDefined(yield* take(2, 300))
      assert.isDefined(yield* take(2, 300))
      assert.isUndefined(yield* take(2, 300))
      // Clean up: everything this test wrote.
      const redis = yield* Redis.Redis
      yield* redis.send("DEL", `${prefix}k`)
      assert.strictEqual(yield* redis.send<number>("EXISTS", `${prefix}k`), 0)
    }).pipe(Effect.provide(slots)))

  it.live("admits exactly `limit` of many simultaneous takes from two instances (two connections)", () =>
    Effect.gen(function*() {
      // Each instance with its own Redis connection, as two gateway processes have.
      const instance = () =>
        Effect.map(
          Layer.build(RedisConcurrencySlots(prefix).pipe(Layer.provide(NodeRedis.layer({ url: "redis://127.0.0.1:6379" })))),
          (context) => Context.get(context, ConcurrencySlots)
        )
      const [one, two] = yield* Effect.all([instance(), instance()])
      const taken = yield* Effect.all(
        Array.from({ length: 12 }, (_, i) => (i % 2 === 0 ? one : two).take({ key: "shared", limit: 4, ttlMs: 10_000 })),
        { concurrency: "unbounded" }
      )
      assert.strictEqual(taken.filter((t) => t !== undefined).length, 4)
      for (const release of taken) if (release !== undefined) yield* release
      const redis = yield* Redis.Redis
      assert.strictEqual(yield* redis.send<number>("EXISTS", `${prefix}shared`), 0)
    }).pipe(Effect.scoped, Effect.provide(RedisLayer)))
})
