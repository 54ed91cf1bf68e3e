import { Effect, Layer, Option } from "effect"
import { SecureRandom } from "effect/crypto"
import { ImageStore, type StoredImage } from "../../application/ports/ImageStore.ts"

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")

/** Images in memory under 128-bit random ids; `baseUrl` is where the HTTP adapter serves them. */
export const makeMemoryImageStore = (baseUrl: string) =>
  Effect.gen(function*() {
    const random = yield* SecureRandom.SecureRandom
    const images = new Map<string, StoredImage>()
    return ImageStore.of({
      put: (image) =>
        Effect.map(random.randomBytes(16), (bytes) => {
          const id = hex(bytes)
          images.set(id, { id, ...image })
          return { id, url: `${baseUrl}/${id}.png` }
        }),
      get: (id, now) =>
        Effect.sync(() => Option.fromUndefinedOr(images.get(id)).pipe(Option.filter((i) => i.expiresAt > now))),
      removeExpired: (now) =>
        Effect.sync(() => {
          let removed = 0
          for (const [id, image] of images) {
            if (image.expiresAt <= now) {
              images.delete(id)
              removed++
            }
          }
          return removed
        })
    })
  })

export const MemoryImageStore = (baseUrl: string) => Layer.effect(ImageStore, makeMemoryImageStore(baseUrl))
