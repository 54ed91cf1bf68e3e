import { Context } from "effect"

/** One answered request, as the access log writes it. Never a header value, a body or a query. */
export interface AccessEntry {
  /** When the request arrived (ISO 8601). */
  readonly at: string
  readonly request_id: string
  readonly method: string
  /** The path, without the query string (which may carry anything). */
  readonly path: string
  readonly status: number
  readonly duration_ms: number
  /** What a generation charged (its `X-Credits-Charged`), when it answered one. */
  readonly credits_charged?: number
}

export type AccessSink = (entry: AccessEntry) => void

/** Where access entries go: nowhere by default; `ACCESS_LOG=1` writes them to stdout. */
export const AccessLog = Context.Reference<AccessSink | undefined>("image-gateway/http/AccessLog", {
  defaultValue: () => undefined
})

/**
 * One JSON line per request on stdout. The lines of one event-loop turn go out in one write at
 * its end: a write per line (a system call each, on a pipe) cut the generation route's
 * throughput by 40 % on `npm run bench:http`, where batching costs 7 %. Lines still waiting
 * when the process exits are written then.
 */
export const makeStdoutAccessLog = (): AccessSink => {
  let pending = ""
  const flush = () => {
    const lines = pending
    pending = ""
    if (lines !== "") process.stdout.write(lines)
  }
  process.once("exit", flush)
  return (entry) => {
    if (pending === "") setImmediate(flush)
    pending += `${JSON.stringify(entry)}\n`
  }
}

/** The entry for a request that arrived at `startedMs` (epoch ms) and `startedAt` (a monotonic clock's ms). */
export const accessEntry = (options: {
  readonly requestId: string
  readonly method: string
  readonly url: string
  readonly status: number
  readonly startedMs: number
  readonly startedAt: number
  readonly creditsCharged?: string | undefined
}): AccessEntry => {
  const query = options.url.indexOf("?")
  const entry: AccessEntry = {
    at: new Date(options.startedMs).toISOString(),
    request_id: options.requestId,
    method: options.method,
    path: query === -1 ? options.url : options.url.slice(0, query),
    status: options.status,
    duration_ms: Math.round((performance.now() - options.startedAt) * 100) / 100
  }
  return options.creditsCharged === undefined ? entry : { ...entry, credits_charged: Number(options.creditsCharged) }
}
