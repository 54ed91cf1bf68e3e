import { Cause, Clock, Duration, Effect, Random, Schedule } from "effect"

/**
 * The gateway's retry policy for provider calls, shared by every backend.
 *
 * A backend classifies each failure of one attempt:
 * - `Retryable`: the provider answered 429 or 5xx (so it produced no image), or the connection
 *   failed before any response (refused, DNS, TLS, reset before the request was written).
 * - `Final`: everything else — a refusal (4xx), an unreadable answer, and, on purpose, a
 *   timeout or a connection reset AFTER the request was sent. In that case the provider may
 *   have received the request, drawn the image and billed it; trying again could bill the
 *   platform (or the payer's own key) twice for one request the caller is not charged for, so
 *   the failure goes back to the caller, who decides whether to send it again.
 *
 * Waits are full-jitter exponential back-off (a uniform delay in [0, min(max, base·2^(n-1)))),
 * replaced by the server's own `retry-after-ms` / `retry-after` when it sends one. Every wait
 * and every attempt is bounded by the call's overall deadline: a wait that would end at or past
 * the deadline is not taken (the last failure is returned), and an attempt still running at the
 * deadline is interrupted and answered with the backend's timeout failure. Time comes from
 * Effect's `Clock` and randomness from `Random`, so tests drive both (TestClock, `Random.withSeed`).
 */

export type Retryability =
  | { readonly _tag: "Retryable"; readonly retryAfterMs?: number | undefined }
  | { readonly _tag: "Final" }

export const retryable = (retryAfterMs?: number): Retryability =>
  retryAfterMs === undefined ? { _tag: "Retryable" } : { _tag: "Retryable", retryAfterMs }

export const final: Retryability = { _tag: "Final" }

export interface RetryPolicy {
  /** Attempts in all, the first one included. */
  readonly maxAttempts: number
  /** The back-off ceiling of the first retry; it doubles for each later one. */
  readonly baseDelayMs: number
  /** No back-off wait (without a server's `retry-after`) exceeds this. */
  readonly maxDelayMs: number
}

export const defaultRetryPolicy: RetryPolicy = { maxAttempts: 3, baseDelayMs: 250, maxDelayMs: 4_000 }

/** The full-jitter wait before retry number `retry` (1 for the first retry), given `random` in [0, 1). */
export const backoffDelayMs = (policy: RetryPolicy, retry: number, random: number): number =>
  Math.floor(random * Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (retry - 1)))

/** Reads a header from a fetch `Headers`, a plain record or nothing. */
type HeaderSource = { readonly get: (name: string) => string | null } | Record<string, string | undefined> | undefined

const header = (headers: HeaderSource, name: string): string | undefined => {
  if (headers === undefined) return undefined
  if (typeof headers.get === "function") return (headers as { get: (n: string) => string | null }).get(name) ?? undefined
  const record = headers as Record<string, string | undefined>
  const key = Object.keys(record).find((k) => k.toLowerCase() === name)
  return key === undefined ? undefined : record[key]
}

/**
 * How long the server asked to wait, in milliseconds: `retry-after-ms` (OpenAI's), else
 * `retry-after` as seconds or as an HTTP date (relative to `nowMs`). Unreadable values are ignored.
 */
export const retryAfterMs = (headers: HeaderSource, nowMs: number): number | undefined => {
  const ms = header(headers, "retry-after-ms")
  if (ms !== undefined && ms.trim() !== "") {
    const value = Number(ms)
    if (Number.isFinite(value) && value >= 0) return Math.ceil(value)
  }
  const after = header(headers, "retry-after")?.trim()
  if (after === undefined || after === "") return undefined
  if (/^\d+(\.\d+)?$/.test(after)) return Math.ceil(Number(after) * 1000)
  const date = Date.parse(after)
  return Number.isNaN(date) ? undefined : Math.max(0, date - nowMs)
}

/**
 * The schedule that decides, from the failure of the attempt just made, whether and how long to
 * wait before the next one. It stops on a final failure, after `maxAttempts`, or when the wait
 * would reach the deadline (`deadlineMs`, on the `Clock`'s epoch-millisecond time).
 */
export const retrySchedule = <E>(options: {
  readonly policy: RetryPolicy
  readonly deadlineMs: number
  readonly classify: (error: E) => Retryability
}): Schedule.Schedule<number, E> =>
  Schedule.fromStepWithMetadata(Effect.succeed((meta: Schedule.InputMetadata<E>) => {
    const verdict = options.classify(meta.input)
    if (verdict._tag === "Final" || meta.attempt >= options.policy.maxAttempts) return Cause.done(meta.attempt)
    return Effect.flatMap(Random.next, (random) => {
      const waitMs = verdict.retryAfterMs ?? backoffDelayMs(options.policy, meta.attempt, random)
      return meta.now + waitMs >= options.deadlineMs
        ? Cause.done(meta.attempt)
        : Effect.succeed([meta.attempt, Duration.millis(waitMs)] as [number, Duration.Duration])
    })
  }))

/**
 * Runs `attempt` until it succeeds, a failure is final, the attempts run out or the deadline
 * comes. Each attempt is told how many milliseconds remain (for its own timeout) and its number
 * (1-based), and is interrupted at the deadline — its `AbortSignal` then cancels the request —
 * failing with `onDeadline()`. The failure returned is the last attempt's.
 */
export const retryWithinDeadline = <A, E, R>(options: {
  readonly attempt: (remainingMs: number, attemptNumber: number) => Effect.Effect<A, E, R>
  readonly classify: (error: E) => Retryability
  readonly deadlineMs: number
  readonly onDeadline: () => E
  readonly policy?: Partial<RetryPolicy> | undefined
}): Effect.Effect<A, E, R> =>
  Effect.suspend(() => {
    const policy: RetryPolicy = { ...defaultRetryPolicy, ...options.policy }
    let attempts = 0
    const once = Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const remainingMs = options.deadlineMs - now
      if (remainingMs <= 0) return Effect.fail(options.onDeadline())
      attempts += 1
      return options.attempt(remainingMs, attempts).pipe(
        Effect.timeoutOrElse({ duration: Duration.millis(remainingMs), orElse: () => Effect.fail(options.onDeadline()) })
      )
    })
    return Effect.retry(once, retrySchedule({ policy, deadlineMs: options.deadlineMs, classify: options.classify }))
  })

/**
 * Connection failures that prove the request never reached the provider: nothing was drawn, so
 * the call may be tried again. A reset or close after the connection was up is not among them —
 * the request may have been received, drawn and billed.
 */
const NOT_SENT_CODES = new Set([
  "ECONNREFUSED",
  "ENOTFOUND",
  "EAI_AGAIN",
  "ENETUNREACH",
  "EHOSTUNREACH",
  "UND_ERR_CONNECT_TIMEOUT"
])

/** The error codes along a fetch failure's cause chain (and an AggregateError's members). */
export const causeCodes = (cause: unknown): ReadonlyArray<string> => {
  const codes: Array<string> = []
  let current: unknown = cause
  for (let depth = 0; depth < 5 && typeof current === "object" && current !== null; depth++) {
    const { code, errors } = current as { code?: unknown; errors?: unknown }
    if (typeof code === "string") codes.push(code)
    // AggregateError: every address refused.
    if (Array.isArray(errors)) {
      for (const e of errors) {
        const c = (e as { code?: unknown } | null)?.code
        if (typeof c === "string") codes.push(c)
      }
    }
    current = (current as { cause?: unknown }).cause
  }
  return codes
}

/** Whether a failed exchange certainly never reached the provider (see NOT_SENT_CODES). */
export const notSent = (cause: unknown): boolean => causeCodes(cause).some((code) => NOT_SENT_CODES.has(code))
