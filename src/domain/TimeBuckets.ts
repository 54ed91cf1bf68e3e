/**
 * Calendar buckets of a time series, in UTC: a day, an ISO week (Monday to Sunday) or a month.
 * PostgreSQL's `date_trunc('day' | 'week' | 'month', …)` on a UTC timestamp gives the same starts;
 * both adapters of a port answer with these.
 */
export const BUCKETS = ["day", "week", "month"] as const
export type Bucket = (typeof BUCKETS)[number]

const DAY_MS = 86_400_000
const WEEK_MS = 7 * DAY_MS
// 1970-01-01 was a Thursday: the first Monday after the epoch is 4 days later.
const FIRST_MONDAY_MS = 4 * DAY_MS

/** The start (epoch ms) of the bucket that holds `at`. */
export const bucketStart = (bucket: Bucket, at: number): number => {
  switch (bucket) {
    case "day":
      return Math.floor(at / DAY_MS) * DAY_MS
    case "week":
      return Math.floor((at - FIRST_MONDAY_MS) / WEEK_MS) * WEEK_MS + FIRST_MONDAY_MS
    case "month": {
      const d = new Date(at)
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth(), 1)
    }
  }
}

/** The start of the bucket after the one starting at `start`. */
export const nextBucket = (bucket: Bucket, start: number): number => {
  switch (bucket) {
    case "day":
      return start + DAY_MS
    case "week":
      return start + WEEK_MS
    case "month": {
      const d = new Date(start)
      return Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1)
    }
  }
}

/**
 * The starts of every bucket that meets [since, until), oldest first; the first may start before
 * `since`. Stops after `max + 1` starts, so a caller can refuse a range with too many.
 */
export const bucketStarts = (bucket: Bucket, since: number, until: number, max: number): ReadonlyArray<number> => {
  const starts: Array<number> = []
  for (let s = bucketStart(bucket, since); s < until && starts.length <= max; s = nextBucket(bucket, s)) starts.push(s)
  return starts
}
