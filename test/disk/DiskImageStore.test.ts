import { Effect, Option } from "effect"
import { mkdtemp, readdir, rm, stat, utimes, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterEach, describe, expect, it } from "vitest"
import { makeDiskImageStore } from "../../src/adapters/disk/DiskImageStore.ts"

const dirs: Array<string> = []
afterEach(async () => {
  for (const dir of dirs.splice(0)) await rm(dir, { recursive: true, force: true })
})

const store = async () => {
  const root = await mkdtemp(join(tmpdir(), "disk-images-"))
  dirs.push(root)
  const dir = join(root, "images")
  return { dir, images: await Effect.runPromise(makeDiskImageStore({ dir, baseUrl: "http://gw.test/v1/images/files" })) }
}

const PNG = new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])

describe("DiskImageStore", () => {
  it("stores an image under a 128-bit random id and serves it back until it expires", async () => {
    const { dir, images } = await store()
    const put = await Effect.runPromise(images.put({ bytes: PNG, contentType: "image/png", expiresAt: 2_000 }))
    expect(put.id).toMatch(/^[0-9a-f]{32}$/)
    expect(put.url).toBe(`http://gw.test/v1/images/files/${put.id}.png`)
    const found = await Effect.runPromise(images.get(put.id, 1_999))
    expect(Option.getOrThrow(found)).toMatchObject({ id: put.id, contentType: "image/png", expiresAt: 2_000 })
    expect([...Option.getOrThrow(found).bytes]).toEqual([...PNG])
    expect(Option.isNone(await Effect.runPromise(images.get(put.id, 2_000)))).toBe(true)
    expect((await stat(join(dir, `${put.id}.png`))).mode & 0o077).toBe(0)
    const other = await Effect.runPromise(images.put({ bytes: PNG, contentType: "image/png", expiresAt: 2_000 }))
    expect(other.id).not.toBe(put.id)
  })

  it("finds nothing for unknown ids, and never reads outside its directory", async () => {
    const { dir, images } = await store()
    await writeFile(join(dir, "..", "secret.json"), JSON.stringify({ contentType: "text/plain", expiresAt: 1e15 }))
    for (const id of ["0".repeat(32), "../secret", "", "A".repeat(32)]) {
      expect(Option.isNone(await Effect.runPromise(images.get(id, 0)))).toBe(true)
    }
  })

  it("removes expired images, and images whose metadata never landed once they are stale", async () => {
    const { dir, images } = await store()
    const old = await Effect.runPromise(images.put({ bytes: PNG, contentType: "image/png", expiresAt: 1_000 }))
    const fresh = await Effect.runPromise(images.put({ bytes: PNG, contentType: "image/png", expiresAt: 1e15 }))
    const orphan = "f".repeat(32)
    await writeFile(join(dir, `${orphan}.png`), PNG)
    await utimes(join(dir, `${orphan}.png`), new Date(0), new Date(0))
    const removed = await Effect.runPromise(images.removeExpired(Date.now()))
    expect(removed).toBe(2)
    expect((await readdir(dir)).sort()).toEqual([`${fresh.id}.json`, `${fresh.id}.png`])
    expect(Option.isNone(await Effect.runPromise(images.get(old.id, 0)))).toBe(true)
  })
})
