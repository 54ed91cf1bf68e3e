import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { ImageStore } from "../../src/application/ports/ImageStore.ts"
import { IMAGE_BASE_URL } from "../support/AdapterSet.ts"
import type { PortAdapter } from "./PortAdapter.ts"

/** Epoch ms in 2100: beyond 32 bits, and still ahead of any clock an adapter might read (TestClock or real). */
const T0 = 4_102_444_800_000
const HOUR = 3_600_000

/** Every byte value, several times over, in a pattern that differs per seed. */
const bytesOf = (seed: number, length = 4096) => Uint8Array.from({ length }, (_, i) => (i * 31 + seed * 7 + (i >> 8)) & 0xff)

const put = (bytes: Uint8Array, expiresAt: number, contentType = "image/png") =>
  ImageStore.use((s) => s.put({ bytes, contentType, expiresAt }))
const get = (id: string, now: number) => ImageStore.use((s) => s.get(id, now))
const removeExpired = (now: number) => ImageStore.use((s) => s.removeExpired(now))

const bytesFound = (found: Option.Option<{ readonly bytes: Uint8Array }>) => Option.map(found, (i) => [...i.bytes])

/**
 * The ImageStore port's contract: an image put under an unguessable id is served back intact
 * until it expires; `removeExpired` deletes what has expired and says how many.
 * Every test adapter is built with `IMAGE_BASE_URL` as the base its URLs point to.
 */
export const imageStoreSuite = (adapter: PortAdapter<ImageStore>) =>
  describe(`ImageStore [${adapter.name}]`, () => {
    const test = <E>(name: string, body: Effect.Effect<void, E, ImageStore>) =>
      it.effect(name, () => Effect.provide(body, adapter.fresh()))

    test("serves a stored image back byte for byte, with its content type and expiry, at its URL", Effect.gen(function*() {
      const png = bytesOf(1)
      const stored = yield* put(png, T0 + HOUR)
      expect(stored.id).toMatch(/^[0-9a-f]{32,}$/)
      expect(stored.url).toBe(`${IMAGE_BASE_URL}/${stored.id}.png`)
      const found = Option.getOrThrow(yield* get(stored.id, T0))
      expect(found).toMatchObject({ id: stored.id, contentType: "image/png", expiresAt: T0 + HOUR })
      expect(found.bytes).toBeInstanceOf(Uint8Array)
      expect([...found.bytes]).toEqual([...png])
    }))

    test("keeps each image's own content type", Effect.gen(function*() {
      const webp = yield* put(bytesOf(2, 64), T0 + HOUR, "image/webp")
      const jpeg = yield* put(bytesOf(3, 64), T0 + HOUR, "image/jpeg")
      expect(Option.map(yield* get(webp.id, T0), (i) => i.contentType)).toEqual(Option.some("image/webp"))
      expect(Option.map(yield* get(jpeg.id, T0), (i) => i.contentType)).toEqual(Option.some("image/jpeg"))
    }))

    test("gives every image its own id, and each id its own bytes", Effect.gen(function*() {
      const same = bytesOf(4, 256)
      const stored = yield* Effect.all(
        Array.from({ length: 8 }, (_, i) => put(i < 2 ? same : bytesOf(10 + i, 256), T0 + HOUR)),
        { concurrency: "unbounded" }
      )
      expect(new Set(stored.map((s) => s.id)).size).toBe(8)
      for (const [i, s] of stored.entries()) {
        expect(bytesFound(yield* get(s.id, T0))).toEqual(Option.some([...(i < 2 ? same : bytesOf(10 + i, 256))]))
      }
    }))

    test("hands out bytes that a later read does not overwrite", Effect.gen(function*() {
      const a = yield* put(bytesOf(5, 2048), T0 + HOUR)
      const b = yield* put(bytesOf(6, 2048), T0 + HOUR)
      const first = Option.getOrThrow(yield* get(a.id, T0))
      yield* get(b.id, T0)
      yield* get(b.id, T0)
      expect([...first.bytes]).toEqual([...bytesOf(5, 2048)])
    }))

    test("finds nothing under an id it never issued", Effect.gen(function*() {
      const stored = yield* put(bytesOf(7, 16), T0 + HOUR)
      const other = stored.id.replace(/^./, (c) => (c === "0" ? "1" : "0"))
      for (const id of [other, "0".repeat(32), "", "../images", `${stored.id}.png`]) {
        expect(yield* get(id, T0)).toEqual(Option.none())
      }
    }))

    test("stops serving an image at its expiry, though it is not yet removed", Effect.gen(function*() {
      const stored = yield* put(bytesOf(8, 16), T0 + HOUR)
      expect(Option.isSome(yield* get(stored.id, T0 + HOUR - 1))).toBe(true)
      expect(yield* get(stored.id, T0 + HOUR)).toEqual(Option.none())
      expect(yield* get(stored.id, T0 + 2 * HOUR)).toEqual(Option.none())
      // Asked at an earlier instant, it is still there: expiry is judged at `now`, nothing was deleted.
      expect(Option.isSome(yield* get(stored.id, T0))).toBe(true)
    }))

    test("removes the images expired at `now`, counts them, and keeps the rest", Effect.gen(function*() {
      const early = yield* put(bytesOf(9, 16), T0 + 1_000)
      const boundary = yield* put(bytesOf(10, 16), T0 + 2_000)
      const late = yield* put(bytesOf(11, 16), T0 + 2_001)
      expect(yield* removeExpired(T0)).toBe(0)
      expect(yield* removeExpired(T0 + 2_000)).toBe(2)
      // Gone for good: not even an earlier `now` finds them.
      expect(yield* get(early.id, T0)).toEqual(Option.none())
      expect(yield* get(boundary.id, T0)).toEqual(Option.none())
      expect(bytesFound(yield* get(late.id, T0 + 2_000))).toEqual(Option.some([...bytesOf(11, 16)]))
      expect(yield* removeExpired(T0 + 2_000)).toBe(0)
      expect(yield* removeExpired(T0 + 2_001)).toBe(1)
      expect(yield* get(late.id, T0)).toEqual(Option.none())
    }))
  })
