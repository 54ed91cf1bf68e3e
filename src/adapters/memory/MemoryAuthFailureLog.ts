import { Effect, Layer } from "effect"
import { type AuthFailure, type AuthFailureCount, AuthFailureLog } from "../../application/ports/AuthFailureLog.ts"
import { bucketStart } from "../../domain/TimeBuckets.ts"

/**
 * How many refusals the in-memory log keeps, the newest: anyone can send refused requests, so a
 * process on `STORAGE=memory` must not grow with them (PostgreSQL keeps them all).
 */
export const MEMORY_AUTH_FAILURES = 10_000

/** The log of refused requests in process memory, as a ring of the newest `capacity`. */
export const makeMemoryAuthFailureLog = (capacity: number = MEMORY_AUTH_FAILURES) => {
  const ring: Array<AuthFailure> = []
  let next = 0 // where the next refusal goes once the ring is full

  const inRange = (since: number, until: number) => (f: AuthFailure) => f.at >= since && f.at < until

  return AuthFailureLog.of({
    append: (failures) =>
      Effect.sync(() => {
        for (const f of failures) {
          if (ring.length < capacity) ring.push(f)
          else {
            ring[next] = f
            next = (next + 1) % capacity
          }
        }
      }),
    count: (since, until, filter = {}) =>
      Effect.sync(() =>
        ring.filter(inRange(since, until)).filter((f) =>
          (filter.route === undefined || f.route === filter.route) &&
          (filter.kind === undefined || f.kind === filter.kind) &&
          (filter.service === undefined || f.service === filter.service)
        ).length
      ),
    countPerService: (since, until) =>
      Effect.sync(() => {
        const counts = new Map<string, number>()
        for (const f of ring) {
          if (f.service !== undefined && inRange(since, until)(f)) counts.set(f.service, (counts.get(f.service) ?? 0) + 1)
        }
        return [...counts].map(([service, count]) => ({ service, count }))
      }),
    perBucket: ({ bucket, route, since, until }) =>
      Effect.sync(() => {
        const counts = new Map<string, AuthFailureCount>()
        for (const f of ring) {
          if (f.route !== route || !inRange(since, until)(f)) continue
          const start = bucketStart(bucket, f.at)
          const key = `${start}/${f.kind}`
          const c = counts.get(key)
          counts.set(key, { bucket: start, kind: f.kind, count: (c?.count ?? 0) + 1 })
        }
        return [...counts.values()].sort((a, b) => a.bucket - b.bucket || (a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : 0))
      })
  })
}

export const MemoryAuthFailureLog = Layer.sync(AuthFailureLog, () => makeMemoryAuthFailureLog())
