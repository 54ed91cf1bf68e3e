import { Effect, Layer } from "effect"
import { type UsageEvent, UsageLog } from "../../application/ports/UsageLog.ts"

/**
 * How many usage events the in-memory log keeps: the newest, the oldest making way. An event
 * takes about 450 bytes of heap, so 10,000 of them about 4.5 MB.
 */
export const MEMORY_USAGE_EVENTS = 10_000

/**
 * The usage log in process memory, as a ring of the newest `capacity` events: a process on
 * `STORAGE=memory` that runs for days must not grow without bound (PostgreSQL keeps them all).
 */
export const makeMemoryUsageLog = (capacity: number = MEMORY_USAGE_EVENTS) => {
  const ring: Array<UsageEvent | undefined> = []
  let next = 0 // where the next event goes once the ring is full
  return UsageLog.of({
    record: (e) =>
      Effect.sync(() => {
        if (ring.length < capacity) {
          ring.push(e)
        } else {
          ring[next] = e
          next = (next + 1) % capacity
        }
      }),
    list: (filter) =>
      Effect.sync(() => {
        const out: Array<UsageEvent> = []
        const limit = filter.limit ?? Infinity
        // Newest first: from the slot before `next` backwards around the ring.
        for (let k = 1; k <= ring.length && out.length < limit; k++) {
          const e = ring[(next - k + ring.length) % ring.length]!
          if (filter.payer !== undefined && e.payer !== filter.payer) continue
          if (filter.service !== undefined && e.service !== filter.service) continue
          if (filter.since !== undefined && e.at < filter.since) continue
          out.push(e)
        }
        return out
      })
  })
}

export const MemoryUsageLog = Layer.sync(UsageLog, () => makeMemoryUsageLog())
