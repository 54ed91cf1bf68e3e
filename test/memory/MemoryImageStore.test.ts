import { Effect, Option } from "effect"
import { SecureRandom } from "effect/crypto"
import { describe, expect, it } from "vitest"
import { MEMORY_IMAGE_BYTES, makeMemoryImageStore } from "../../src/adapters/memory/MemoryImageStore.ts"

const T0 = Date.UTC(2030, 0, 1)
const make = (maxBytes?: number) =>
  Effect.runSync(makeMemoryImageStore("http://gateway.test/v1/images/files", maxBytes).pipe(Effect.provide(SecureRandom.layerWebCrypto)))
const image = (size: number) => ({ bytes: new Uint8Array(size), contentType: "image/png", expiresAt: T0 + 3_600_000 })

describe("MemoryImageStore bounds", () => {
  it("keeps at most `maxBytes` of images, the oldest going first (their URLs then find nothing)", () => {
    const store = make(3_500)
    const ids = Array.from({ length: 5 }, () => Effect.runSync(store.put(image(1_000))).id)
    expect(store.retained()).toEqual({ images: 3, bytes: 3_000 })
    const found = ids.map((id) => Option.isSome(Effect.runSync(store.get(id, T0))))
    expect(found).toEqual([false, false, true, true, true])
    // Removing expired images gives their bytes back.
    expect(Effect.runSync(store.removeExpired(T0 + 3_600_000))).toBe(3)
    expect(store.retained()).toEqual({ images: 0, bytes: 0 })
  })

  it("keeps the image just stored even when it alone is over the limit", () => {
    const store = make(500)
    Effect.runSync(store.put(image(100)))
    const big = Effect.runSync(store.put(image(1_000)))
    expect(store.retained()).toEqual({ images: 1, bytes: 1_000 })
    expect(Option.isSome(Effect.runSync(store.get(big.id, T0)))).toBe(true)
  })

  it("stays within its default limit over 100,000 images of 4 KB", () => {
    const store = make()
    for (let i = 0; i < 100_000; i++) Effect.runSync(store.put(image(4_096)))
    expect(store.retained().bytes).toBeLessThanOrEqual(MEMORY_IMAGE_BYTES)
    expect(store.retained().images).toBe(Math.floor(MEMORY_IMAGE_BYTES / 4_096))
  })
})
