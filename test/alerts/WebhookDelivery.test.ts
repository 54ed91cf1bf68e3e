import { assert, describe, it } from "@effect/vitest"
import { Effect, Layer, Option, Redacted } from "effect"
import { FetchHttpClient } from "effect/http"
import { TestClock } from "effect/testing"
import { createHmac, timingSafeEqual } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"
import { WebhookAlertNotifier } from "../../src/adapters/alerts/WebhookAlertNotifier.ts"
import { makeMemoryAlertStore } from "../../src/adapters/memory/MemoryAlertStore.ts"
import { AlertDelivery, DEFAULT_DELIVERY_POLICY, retryDelayMs } from "../../src/application/AlertsDelivery.ts"
import { AlertStore } from "../../src/application/ports/AlertStore.ts"
import type { AccountId } from "../../src/domain/Ids.ts"

const SECRET = "whsec-0123456789abcdef0123456789abcdef"

/** A receiver as docs/alerts.md tells one to write it: verifies X-Gateway-Signature, answers `statuses` in turn. */
const receiver = (statuses: ReadonlyArray<number>) =>
  Effect.acquireRelease(
    Effect.promise(() =>
      new Promise<{ url: URL; bodies: Array<Record<string, any>>; verified: Array<boolean>; close: () => void }>((resolve) => {
        const bodies: Array<Record<string, any>> = []
        const verified: Array<boolean> = []
        let i = 0
        const server = createServer((req, res) => {
          let raw = ""
          req.on("data", (c) => (raw += c))
          req.on("end", () => {
            const header = String(req.headers["x-gateway-signature"] ?? "")
            const t = /t=(\d+)/.exec(header)?.[1] ?? ""
            const v1 = /v1=([0-9a-f]+)/.exec(header)?.[1] ?? ""
            const expected = createHmac("sha256", SECRET).update(`${t}.${raw}`).digest("hex")
            verified.push(v1.length === expected.length && timingSafeEqual(Buffer.from(v1), Buffer.from(expected)))
            bodies.push(JSON.parse(raw))
            res.statusCode = statuses[Math.min(i++, statuses.length - 1)]!
            res.end()
          })
        })
        server.listen(0, "127.0.0.1", () => {
          const { port } = server.address() as AddressInfo
          resolve({ url: new URL(`http://127.0.0.1:${port}/hooks/alerts`), bodies, verified, close: () => server.close() })
        })
      })
    ),
    (r) => Effect.sync(r.close)
  )

const fire = Effect.flatMap(AlertStore, (store) =>
  store.checkBalance({ account: "org_low" as AccountId, available: Effect.succeed(5), defaultThreshold: 1_000_000, at: 0 }))

const deliveryOn = (url: URL) => {
  const store = Layer.sync(AlertStore, makeMemoryAlertStore)
  const notifier = WebhookAlertNotifier({ url, secret: Redacted.make(SECRET) }).pipe(Layer.provide(FetchHttpClient.layer))
  return Layer.effect(AlertDelivery, AlertDelivery.make(DEFAULT_DELIVERY_POLICY)).pipe(
    Layer.provideMerge(Layer.merge(store, notifier))
  )
}

const latest = Effect.flatMap(AlertStore, (s) => Effect.map(s.list({ limit: 1 }), (all) => all[0]!))

describe("webhook delivery", () => {
  it.effect("retries a failing receiver with back-off until it answers 2xx; every request carries a verifiable signature", () =>
    Effect.gen(function*() {
      const r = yield* receiver([500, 503, 204])
      yield* Effect.gen(function*() {
        const delivery = yield* AlertDelivery
        const alert = Option.getOrThrow(yield* fire)
        assert.deepStrictEqual(yield* delivery.deliverDue, ["retry"])
        const first = yield* latest
        assert.strictEqual(first.status, "pending")
        assert.strictEqual(first.lastError, "receiver answered 500")
        // Not due before its back-off (at least half of 30 s) has passed.
        assert.isTrue(first.nextAttemptAt! >= 15_000 && first.nextAttemptAt! <= 30_000)
        yield* TestClock.adjust("14 seconds")
        assert.deepStrictEqual(yield* delivery.deliverDue, [])
        yield* TestClock.adjust("16 seconds")
        assert.deepStrictEqual(yield* delivery.deliverDue, ["retry"])
        yield* TestClock.adjust("61 seconds")
        assert.deepStrictEqual(yield* delivery.deliverDue, ["delivered"])
        const done = yield* latest
        assert.strictEqual(done.status, "delivered")
        assert.strictEqual(done.attempts, 3)
        assert.deepStrictEqual(r.verified, [true, true, true])
        assert.deepStrictEqual(Object.keys(r.bodies[0]!).sort(), ["created_at", "data", "id", "type"])
        assert.strictEqual(r.bodies[0]!["id"], alert.id)
        assert.strictEqual(r.bodies[0]!["data"]["account"], "org_low")
        // Delivered once: nothing is due any more.
        yield* TestClock.adjust("2 hours")
        assert.deepStrictEqual(yield* delivery.deliverDue, [])
      }).pipe(Effect.provide(deliveryOn(r.url)))
    }).pipe(Effect.scoped))

  it.effect("gives up at once on a 4xx other than 408 and 429, and after the last attempt otherwise", () =>
    Effect.gen(function*() {
      const refused = yield* receiver([410])
      yield* Effect.gen(function*() {
        yield* fire
        assert.deepStrictEqual(yield* (yield* AlertDelivery).deliverDue, ["failed"])
        const a = yield* latest
        assert.strictEqual(a.status, "failed")
        assert.strictEqual(a.lastError, "receiver answered 410")
      }).pipe(Effect.provide(deliveryOn(refused.url)))
      const busy = yield* receiver([429])
      yield* Effect.gen(function*() {
        const delivery = yield* AlertDelivery
        yield* fire
        const results: Array<string> = []
        for (let i = 0; i < 8; i++) {
          results.push(...(yield* delivery.deliverDue))
          yield* TestClock.adjust("1 hour")
        }
        assert.deepStrictEqual(results, ["retry", "retry", "retry", "retry", "retry", "retry", "retry", "failed"])
        assert.strictEqual((yield* latest).attempts, 8)
      }).pipe(Effect.provide(deliveryOn(busy.url)))
    }).pipe(Effect.scoped))

  it("spreads 8 attempts over about an hour, each wait between half and all of its doubling step", () => {
    const p = DEFAULT_DELIVERY_POLICY
    const lo = Array.from({ length: 7 }, (_, i) => retryDelayMs(p, i + 1, 0)).reduce((a, b) => a + b)
    const hi = Array.from({ length: 7 }, (_, i) => retryDelayMs(p, i + 1, 1)).reduce((a, b) => a + b)
    assert.strictEqual(hi, 30_000 * (2 ** 7 - 1))
    assert.strictEqual(lo, hi / 2)
  })
})
