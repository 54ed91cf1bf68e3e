import { Effect, Layer, Option } from "effect"
import { TestClock } from "effect/testing"
import { describe, expect, it } from "vitest"
import { CreditLedger } from "../../src/application/CreditLedger.ts"
import { GatewayPolicy } from "../../src/application/GatewayPolicy.ts"
import { ImageStore } from "../../src/application/ports/ImageStore.ts"
import { LocalImageProvider } from "../../src/adapters/local/LocalImageProvider.ts"
import { MemoryAdapters } from "../../src/adapters/memory/MemoryAdapters.ts"
import { type AccountId, type HoldId, type TransferId } from "../../src/domain/Ids.ts"
import { ServerCore } from "../../src/Layers.ts"
import { SWEEP_INTERVAL_MS, Sweeper } from "../../src/Startup.ts"

describe("the background sweeper", () => {
  it("releases expired holds and deletes expired images every 30 s", () =>
    Effect.runPromise(Effect.gen(function*() {
      const ledger = yield* CreditLedger
      const images = yield* ImageStore
      const account = "org_sweep" as AccountId
      yield* ledger.grant({ id: "sweep-grant" as TransferId, account, amount: 10_000, reason: "test" })
      yield* ledger.reserve({ id: "sweep-hold" as HoldId, account, amount: 4_000, ttlMs: 1_000 })
      const image = yield* images.put({ bytes: new Uint8Array([1]), contentType: "image/png", expiresAt: 1_000 })
      yield* Layer.build(Sweeper)
      expect((yield* ledger.balance(account)).pending).toBe(4_000)

      yield* TestClock.adjust(SWEEP_INTERVAL_MS - 1)
      expect((yield* ledger.balance(account)).pending).toBe(4_000)
      yield* TestClock.adjust(1)
      expect((yield* ledger.balance(account)).pending).toBe(0)
      expect((yield* ledger.balance(account)).available).toBe(10_000)
      // Expired images are gone from the store itself, not only hidden.
      expect(Option.isNone(yield* images.get(image.id, 0))).toBe(true)
    }).pipe(
      Effect.scoped,
      Effect.provide(ServerCore.pipe(Layer.provideMerge(Layer.mergeAll(MemoryAdapters("http://x"), GatewayPolicy.layer(), LocalImageProvider)))),
      Effect.provide(TestClock.layer())
    )))
})
