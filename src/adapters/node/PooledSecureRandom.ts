import { Layer } from "effect"
import { SecureRandom } from "effect/crypto"
import { randomFillSync } from "node:crypto"

/**
 * Random bytes from a pool that node:crypto refills 4 KiB at a time, as Node's own `randomUUID`
 * does: every request draws a few (a hold id), and one system call per draw costs more than the
 * draw. Each byte is handed out once.
 */
export const PooledSecureRandom = Layer.sync(SecureRandom.SecureRandom, () => {
  const POOL = 4096
  const pool = new Uint8Array(POOL)
  let offset = POOL
  return SecureRandom.make((size) => {
    if (size > 256) return new Uint8Array(randomFillSync(new Uint8Array(size)))
    if (offset + size > POOL) {
      randomFillSync(pool)
      offset = 0
    }
    const bytes = pool.slice(offset, offset + size)
    offset += size
    return bytes
  })
})
