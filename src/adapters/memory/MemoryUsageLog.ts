import { Context, Effect, Layer } from "effect"
import {
  INSUFFICIENT_CREDITS_OUTCOME,
  type SeriesCursor,
  type SeriesGroup,
  type SeriesGrouping,
  type SeriesQuery,
  UsageAnalytics,
  type UsagePoint
} from "../../application/ports/UsageAnalytics.ts"
import { type UsageEvent, type UsageGroup, UsageLog, type UsageReport } from "../../application/ports/UsageLog.ts"
import { bucketStart } from "../../domain/TimeBuckets.ts"

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

const seriesKey: Record<SeriesGrouping, (e: UsageEvent) => string> = {
  service: (e) => e.service ?? "-",
  payer: (e) => e.payer,
  model: (e) => e.model,
  credential: credentialKind,
  mode: (e) => e.mode,
  none: () => "total"
}

type Point = { -readonly [K in keyof UsagePoint]: UsagePoint[K] }

const point = (bucket: number): Point => ({ bucket, requests: 0, succeeded: 0, images: 0, costMillicredits: 0, insufficientCredits: 0 })

const addPoint = (p: Point, e: UsageEvent) => {
  p.requests++
  if (e.outcome === "success") p.succeeded++
  if (e.outcome === INSUFFICIENT_CREDITS_OUTCOME) p.insufficientCredits++
  p.images += e.images
  p.costMillicredits += e.costMillicredits
}

/** Bytewise, as PostgreSQL's "C" collation (keys are ids and names in ASCII). */
const compareKeys = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0)

/** The series' order: cost, then requests, descending; then key. */
const compareGroups = (a: SeriesCursor, b: SeriesCursor) =>
  b.costMillicredits - a.costMillicredits || b.requests - a.requests || compareKeys(a.key, b.key)

/** A time series of `events`, as `UsageLog.series` answers it. */
export const seriesOf = (events: Iterable<UsageEvent>, query: SeriesQuery) => {
  const keyOf = seriesKey[query.groupBy]
  const groups = new Map<string, { total: Point; points: Map<number, Point> }>()
  for (const e of events) {
    if (e.at < query.since || e.at >= query.until) continue
    const key = keyOf(e)
    let g = groups.get(key)
    if (g === undefined) groups.set(key, g = { total: point(0), points: new Map() })
    addPoint(g.total, e)
    const start = bucketStart(query.bucket, e.at)
    let p = g.points.get(start)
    if (p === undefined) g.points.set(start, p = point(start))
    addPoint(p, e)
  }
  const ordered: Array<SeriesGroup> = [...groups].map(([key, g]) => {
    const { bucket: _bucket, ...total } = g.total
    return { key, ...total, points: [...g.points.values()].sort((a, b) => a.bucket - b.bucket) }
  }).sort(compareGroups)
  const after = query.after
  const rest = after === undefined ? ordered : ordered.filter((g) => compareGroups(after, g) < 0)
  const page = rest.slice(0, query.limit)
  const last = page.at(-1)
  return {
    groups: page,
    ...(rest.length > page.length && last !== undefined
      ? { next: { costMillicredits: last.costMillicredits, requests: last.requests, key: last.key } }
      : {})
  }
}

/**
 * The usage log in process memory, as a ring of the newest `capacity` events: a process on
 * `STORAGE=memory` that runs for days must not grow without bound (PostgreSQL keeps them all).
 */
export const makeMemoryUsageLog = (capacity: number = MEMORY_USAGE_EVENTS) => makeMemoryUsage(capacity).log

/** The usage log and its analytics over one ring. */
const makeMemoryUsage = (capacity: number) => {
  const ring: Array<UsageEvent | undefined> = []
  let next = 0 // where the next event goes once the ring is full
  // Over the events still in the ring, like `report`.
  const analytics = UsageAnalytics.of({
    series: (query) => Effect.sync(() => seriesOf(ring.filter((e) => e !== undefined), query))
  })
  const log = UsageLog.of({
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
  return { log, analytics }
}

/** The usage log, and the analytics over it. */
export const MemoryUsageLog = Layer.syncContext(() => {
  const { analytics, log } = makeMemoryUsage(MEMORY_USAGE_EVENTS)
  return Context.make(UsageLog, log).pipe(Context.add(UsageAnalytics, analytics))
})
