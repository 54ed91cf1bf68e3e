import { Effect, Layer, Option } from "effect"
import { SecureRandom } from "effect/crypto"
import { ImageStore, type StoredImage } from "../../application/ports/ImageStore.ts"

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")

/**
 * How many bytes of images the in-memory store keeps: past it, the oldest images go before their
 * expiry (their URLs then answer 404), so that a long `STORAGE=memory` run stays bounded.
 */
export const MEMORY_IMAGE_BYTES = 32 * 1024 * 1024

/** Images in memory under 128-bit random ids; `baseUrl` is where the HTTP adapter serves them. */
export const makeMemoryImageStore = (baseUrl: string, maxBytes: number = MEMORY_IMAGE_BYTES) =>
  Effect.gen(function*() {
    const random = yield* SecureRandom.SecureRandom
    // In the order they were stored: the first is the next to go when the store is full.
    const images = new Map<string, StoredImage>()
    let bytes = 0
    const remove = (id: string, image: StoredImage) => {
      images.delete(id)
      bytes -= image.bytes.byteLength
    }
    const store = ImageStore.of({
      put: (image) =>
        Effect.map(random.randomBytes(16), (idBytes) => {
          const id = hex(idBytes)
          images.set(id, { id, ...image })
          bytes += image.bytes.byteLength
          for (const [oldest, stored] of images) {
            // The image just stored stays, even alone over the limit.
            if (bytes <= maxBytes || oldest === id) break
            remove(oldest, stored)
          }
          return { id, url: `${baseUrl}/${id}.png` }
        }),
      get: (id, now) =>
        Effect.sync(() => Option.fromUndefinedOr(images.get(id)).pipe(Option.filter((i) => i.expiresAt > now))),
      removeExpired: (now) =>
        Effect.sync(() => {
          let removed = 0
          for (const [id, image] of images) {
            if (image.expiresAt <= now) {
              remove(id, image)
              removed++
            }
          }
          return removed
        })
    })
    return Object.assign(store, { retained: () => ({ images: images.size, bytes }) })
  })

export const MemoryImageStore = (baseUrl: string) => Layer.effect(ImageStore, makeMemoryImageStore(baseUrl))
