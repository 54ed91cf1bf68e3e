import { Effect, Layer } from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { DiskImageStore } from "../../src/adapters/disk/DiskImageStore.ts"
import type { ImageStore } from "../../src/application/ports/ImageStore.ts"
import type { PortAdapter } from "../ports/PortAdapter.ts"
import { IMAGE_BASE_URL } from "./AdapterSet.ts"

/** The disk image store in a temporary directory of its own per test, removed after it. */
export const diskImageStore: PortAdapter<ImageStore> = {
  name: "disk",
  fresh: () =>
    Layer.unwrap(Effect.gen(function*() {
      const root = yield* Effect.acquireRelease(
        Effect.promise(() => mkdtemp(join(tmpdir(), "image-gateway-disk-spec-"))),
        (dir) => Effect.promise(() => rm(dir, { recursive: true, force: true }))
      )
      // A directory the store creates itself, as it does under DATA_DIR.
      return DiskImageStore({ dir: join(root, "images"), baseUrl: IMAGE_BASE_URL })
    }))
}
