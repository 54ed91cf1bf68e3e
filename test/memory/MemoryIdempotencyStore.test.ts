import { Effect, Exit, Layer } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import { CreditLedger } from "../../src/application/CreditLedger.ts"
import { IdempotencyStore } from "../../src/application/ports/IdempotencyStore.ts"
import { MemoryAdapters } from "../../src/adapters/memory/MemoryAdapters.ts"
import {
  approximateBytes,
  MEMORY_IDEMPOTENCY_LIMITS,
  makeMemoryIdempotencyStore
} from "../../src/adapters/memory/MemoryIdempotencyStore.ts"
import type { AdapterSet } from "../../specs/support/AdapterSet.ts"
import { IMAGE_BASE_URL } from "../../specs/support/AdapterSet.ts"
import { accounts, bearer, makeGateway, seedWorld, WORLD } from "../../specs/support/Harness.ts"
import { generateAs } from "../../specs/support/Calls.ts"
import type { StoredGeneration } from "../../src/domain/Generation.ts"

const T0 = Date.UTC(2030, 0, 1)
const DAY = 24 * 60 * 60_000
const UNICORN = { prompt: "A unicorn with a magic wand", model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 }

/** A stored generation whose one image is `image` (its Base64). */
const stored = (image: string, hold = "hold_1"): StoredGeneration => ({
  createdAt: T0,
  images: [{ _tag: "Inline", bytes: image, contentType: "image/png" }],
  costMillicredits: 48_000,
  chargedMillicredits: 48_000,
  remainingMillicredits: 1,
  hold,
  billing: "billed",
  providerUsed: "local",
  payer: { account: "org_a", kind: "org", tier: "managed" },
  replayed: false
} as StoredGeneration)

type Store = ReturnType<typeof makeMemoryIdempotencyStore>
const begin = (store: Store, key: string, now = T0) =>
  Effect.runSync(Effect.result(store.begin({ scope: "org_a", key, fingerprint: "fp", now, expiresAt: now + DAY })))
const complete = (store: Store, key: string, response: StoredGeneration = stored("", key)) =>
  Effect.runSync(store.complete({ scope: "org_a", key, response }))
const tagOf = (r: ReturnType<typeof begin>) => (r._tag === "Success" ? r.success._tag : r.failure.reason)

describe("MemoryIdempotencyStore bounds", () => {
  it("forgets records once their 24 h replay window has passed on the Clock, and then charges a retried key anew", async () => {
    const store = makeMemoryIdempotencyStore()
    const adapters: AdapterSet = {
      name: "memory (this store)",
      // The ledger completes its settlements' claims in this very store.
      fresh: () => Layer.fresh(MemoryAdapters(IMAGE_BASE_URL, { idempotency: store }))
    }
    const generate = (key: string) =>
      generateAs(bearer(WORLD.alice.key), UNICORN, key)
    const posted = CreditLedger.use((l) => Effect.map(l.balance(accounts.alice), (b) => b.posted))
    await Effect.runPromise(Effect.gen(function*() {
      yield* seedWorld
      yield* TestClock.setTime(T0)
      for (const key of ["k1", "k2", "k3"]) yield* generate(key)
      expect(store.retained()).toMatchObject({ records: 3, completed: 3 })
      expect(yield* posted).toBe(1_000_000 - 3 * 48_000)
      // Within the window: replayed, nothing charged, nothing added.
      yield* TestClock.adjust(DAY - 1)
      expect((yield* generate("k1")).replayed).toBe(true)
      expect(store.retained().records).toBe(3)
      // The window has passed: the next request's `begin` forgets all three.
      yield* TestClock.adjust(1)
      yield* generate("k4")
      expect(store.retained()).toMatchObject({ records: 1, completed: 1 })
      const again = yield* generate("k1")
      expect(again.replayed).toBe(false)
      expect(again.chargedMillicredits).toBe(48_000)
      expect(yield* posted).toBe(1_000_000 - 5 * 48_000)
      // The pricing poll would otherwise wake 86,400 times while the test clock jumps a day.
    }).pipe(Effect.provide(makeGateway(adapters, { policy: { pricingRefreshMs: 2 * DAY } }).layer), Effect.provide(TestClock.layer())))
  })

  it("keeps at most `records` completed records, the oldest making way; a dropped key starts afresh", () => {
    const store = makeMemoryIdempotencyStore({ records: 3, bytes: MEMORY_IDEMPOTENCY_LIMITS.bytes })
    for (const key of ["a", "b", "c", "d", "e"]) {
      expect(tagOf(begin(store, key))).toBe("Started")
      complete(store, key)
    }
    expect(store.retained()).toMatchObject({ records: 3, completed: 3 })
    expect(["c", "d", "e"].map((key) => tagOf(begin(store, key)))).toEqual(["Replay", "Replay", "Replay"])
    expect(tagOf(begin(store, "a"))).toBe("Started")
  })

  it("never drops a claim still running, whatever the limits: a duplicate stays refused", () => {
    const store = makeMemoryIdempotencyStore({ records: 1, bytes: 1 })
    for (const key of ["a", "b", "c"]) expect(tagOf(begin(store, key))).toBe("Started")
    // Over the byte limit on its own: dropped at once (a retry then runs again), the running claims stay.
    complete(store, "c", stored("x".repeat(1_000)))
    expect(store.retained()).toMatchObject({ records: 2, completed: 0, bytes: 0 })
    expect(tagOf(begin(store, "a"))).toBe("in_progress")
    expect(tagOf(begin(store, "b"))).toBe("in_progress")
    expect(tagOf(begin(store, "c"))).toBe("Started")
  })

  it("keeps stored responses within `bytes`, images counted by their base64 length", () => {
    const image = "i".repeat(10_000)
    const response = stored(image)
    expect(approximateBytes(response)).toBeGreaterThan(10_000)
    // The image and the rest of the stored generation (ids, amounts, the payer): well under 1 KB.
    expect(approximateBytes(response)).toBeLessThan(11_000)
    const store = makeMemoryIdempotencyStore({ records: 1_000, bytes: 35_000 })
    for (let i = 0; i < 10; i++) {
      begin(store, `k${i}`)
      complete(store, `k${i}`, response)
      expect(store.retained().bytes).toBeLessThanOrEqual(35_000)
    }
    expect(store.retained().completed).toBe(3)
    expect(["k6", "k7", "k8", "k9"].map((key) => tagOf(begin(store, key)))).toEqual(["Started", "Replay", "Replay", "Replay"])
  })

  it("stays within its default limits over 100,000 keyed requests", () => {
    const store = makeMemoryIdempotencyStore()
    const response = stored("p".repeat(4_000))
    for (let i = 0; i < 100_000; i++) {
      const exit = Effect.runSyncExit(store.begin({ scope: "org_a", key: `k${i}`, fingerprint: "fp", now: T0 + i, expiresAt: T0 + i + DAY }))
      expect(Exit.isSuccess(exit)).toBe(true)
      complete(store, `k${i}`, response)
    }
    const retained = store.retained()
    expect(retained.records).toBeLessThanOrEqual(MEMORY_IDEMPOTENCY_LIMITS.records)
    expect(retained.bytes).toBeLessThanOrEqual(MEMORY_IDEMPOTENCY_LIMITS.bytes)
    expect(tagOf(begin(store, "k99999", T0 + 100_000))).toBe("Replay")
  })
})
