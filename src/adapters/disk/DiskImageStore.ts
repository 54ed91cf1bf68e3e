import { Effect, Layer, Option } from "effect"
import { randomBytes } from "node:crypto"
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises"
import { join } from "node:path"
import { ImageStore } from "../../application/ports/ImageStore.ts"

interface Meta {
  readonly contentType: string
  readonly expiresAt: number
}

const ID = /^[0-9a-f]{32}$/
const ORPHAN_GRACE_MS = 10 * 60_000

/**
 * Images on local disk, under 128-bit random ids: `<dir>/<id>.png` and a `<id>.json` holding
 * the content type and expiry. The metadata is written last, by rename, so an image is visible
 * only once it is complete. `baseUrl` is where the HTTP adapter serves them.
 */
export const makeDiskImageStore = (options: { readonly dir: string; readonly baseUrl: string }) =>
  Effect.gen(function*() {
    const { dir, baseUrl } = options
    yield* Effect.promise(() => mkdir(dir, { recursive: true, mode: 0o700 }))
    const file = (id: string, ext: string) => join(dir, `${id}.${ext}`)

    const readMeta = (id: string) =>
      Effect.promise(() =>
        readFile(file(id, "json"), "utf8").then(
          (text) => JSON.parse(text) as Meta,
          () => undefined
        )
      )

    const remove = (id: string) =>
      Effect.promise(() => Promise.all([rm(file(id, "json"), { force: true }), rm(file(id, "png"), { force: true })]))

    return ImageStore.of({
      put: (image) =>
        Effect.promise(async () => {
          const id = randomBytes(16).toString("hex")
          await writeFile(file(id, "png"), image.bytes, { mode: 0o600 })
          const meta: Meta = { contentType: image.contentType, expiresAt: image.expiresAt }
          await writeFile(file(id, "json.tmp"), JSON.stringify(meta), { mode: 0o600 })
          await rename(file(id, "json.tmp"), file(id, "json"))
          return { id, url: `${baseUrl}/${id}.png` }
        }),
      get: (id, now) =>
        Effect.gen(function*() {
          if (!ID.test(id)) return Option.none()
          const meta = yield* readMeta(id)
          if (meta === undefined || meta.expiresAt <= now) return Option.none()
          const bytes = yield* Effect.promise(() => readFile(file(id, "png")).then((b) => new Uint8Array(b), () => undefined))
          if (bytes === undefined) return Option.none()
          return Option.some({ id, bytes, contentType: meta.contentType, expiresAt: meta.expiresAt })
        }),
      removeExpired: (now) =>
        Effect.gen(function*() {
          const names = yield* Effect.promise(() => readdir(dir).catch(() => [] as Array<string>))
          const present = new Set(names)
          let removed = 0
          for (const name of names) {
            const id = name.slice(0, 32)
            if (!ID.test(id)) continue
            if (name === `${id}.json`) {
              const meta = yield* readMeta(id)
              if (meta !== undefined && meta.expiresAt > now) continue
            } else if (name === `${id}.png` && !present.has(`${id}.json`)) {
              // An image whose metadata never landed (a crash mid-write) is removed once it is stale.
              const modified = yield* Effect.promise(() => stat(file(id, "png")).then((s) => s.mtimeMs, () => 0))
              if (now - modified < ORPHAN_GRACE_MS) continue
            } else {
              continue
            }
            yield* remove(id)
            removed++
          }
          return removed
        })
    })
  })

export const DiskImageStore = (options: { readonly dir: string; readonly baseUrl: string }) =>
  Layer.effect(ImageStore, makeDiskImageStore(options))
