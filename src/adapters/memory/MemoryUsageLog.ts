import { Effect, Layer } from "effect"
import { type UsageEvent, type UsageGroup, UsageLog, type UsageReport } from "../../application/ports/UsageLog.ts"

/**
 * How many usage events the in-memory log keeps: the newest, the oldest making way. An event
 * takes about 450 bytes of heap, so 10,000 of them about 4.5 MB.
 */
export const MEMORY_USAGE_EVENTS = 10_000

/** The credential kind of a usage report: the auth method, `_on_behalf` when a service acted for a user. */
const credentialKind = (e: UsageEvent): string =>
  e.onBehalfOf !== undefined && (e.authMethod === "service_key" || e.authMethod === "service_jwt")
    ? `${e.authMethod}_on_behalf`
    : e.authMethod

interface Tally {
  key: string
  requests: number
  succeeded: number
  images: number
  costMillicredits: number
}

const tally = (key: string): Tally => ({ key, requests: 0, succeeded: 0, images: 0, costMillicredits: 0 })

const add = (t: Tally, e: UsageEvent) => {
  t.requests++
  if (e.outcome === "success") t.succeeded++
  t.images += e.images
  t.costMillicredits += e.costMillicredits
}

/** One dimension of a report: events tallied by `keyOf`, then the `top` largest. */
const dimension = (keyOf: (e: UsageEvent) => string) => {
  const groups = new Map<string, Tally>()
  return {
    add: (e: UsageEvent) => {
      const key = keyOf(e)
      let t = groups.get(key)
      if (t === undefined) groups.set(key, t = tally(key))
      add(t, e)
    },
    // By cost, then requests, descending; then by key, so that ties come out the same every time.
    top: (n: number): ReadonlyArray<UsageGroup> =>
      [...groups.values()]
        .sort((a, b) =>
          b.costMillicredits - a.costMillicredits || b.requests - a.requests || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
        )
        .slice(0, Math.max(0, n))
  }
}

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
      }),
    // Over the events still in the ring: a range older than the ring's oldest event is partly gone.
    report: (range) =>
      Effect.sync((): UsageReport => {
        const total = tally("total")
        const byService = dimension((e) => e.service ?? "-")
        const byPayer = dimension((e) => e.payer)
        const byModel = dimension((e) => e.model)
        const byCredential = dimension(credentialKind)
        const byMode = dimension((e) => e.mode)
        for (const e of ring) {
          if (e === undefined || e.at < range.since || e.at >= range.until) continue
          add(total, e)
          for (const d of [byService, byPayer, byModel, byCredential, byMode]) d.add(e)
        }
        return {
          since: range.since,
          until: range.until,
          total,
          byService: byService.top(range.top),
          byPayer: byPayer.top(range.top),
          byModel: byModel.top(range.top),
          byCredential: byCredential.top(range.top),
          byMode: byMode.top(range.top)
        }
      })
  })
}

export const MemoryUsageLog = Layer.sync(UsageLog, () => makeMemoryUsageLog())
