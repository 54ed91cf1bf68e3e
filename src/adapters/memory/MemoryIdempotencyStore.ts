import { Effect, Layer } from "effect"
import { type IdempotencyBegin, IdempotencyStore } from "../../application/ports/IdempotencyStore.ts"
import { IdempotencyConflict } from "../../domain/Errors.ts"
import type { StoredResponse } from "../../application/ports/IdempotencyStore.ts"

/**
 * What the in-memory store keeps, so that a long `STORAGE=memory` run stays bounded (PostgreSQL
 * keeps every record until it expires). Records are forgotten at their expiry (the replay window,
 * 24 h, measured by the `now` each request brings from the Clock); beyond `records` completed
 * records, or `bytes` of stored responses, the oldest completed ones make way early, and a replay
 * of one of those then runs as a new request. A claim still running is never dropped: it is what
 * keeps a duplicate from running at the same time.
 */
export interface MemoryIdempotencyLimits {
  readonly records: number
  /** An estimate of the stored responses' size: their strings' lengths, with a little per value. */
  readonly bytes: number
}

export const MEMORY_IDEMPOTENCY_LIMITS: MemoryIdempotencyLimits = {
  records: 10_000,
  bytes: 16 * 1024 * 1024
}

interface Entry {
  readonly fingerprint: string
  readonly expiresAt: number
  /** The attempt that holds the claim, and when it began. */
  readonly attempt: string
  readonly startedAt: number
  response: StoredResponse | undefined
  done: boolean
  bytes: number
}

/** About how many bytes `value` holds: a stored response is JSON-like data (an image in base64 dominates it). */
export const approximateBytes = (value: unknown): number => {
  switch (typeof value) {
    case "string":
      return 16 + value.length
    case "object": {
      if (value === null) return 8
      let total = 16
      if (Array.isArray(value)) {
        for (const item of value) total += 8 + approximateBytes(item)
      } else {
        for (const [key, item] of Object.entries(value)) total += 8 + key.length + approximateBytes(item)
      }
      return total
    }
    default:
      return 8
  }
}

/** How much the store holds right now, for tests of its bounds. */
export interface MemoryIdempotencyRetained {
  readonly records: number
  readonly completed: number
  readonly bytes: number
}

export const makeMemoryIdempotencyStore = (limits: MemoryIdempotencyLimits = MEMORY_IDEMPOTENCY_LIMITS) => {
  // In the order they were claimed: with one replay window for every request, also the order they expire in.
  const entries = new Map<string, Entry>()
  let completed = 0
  let bytes = 0
  const id = (scope: string, key: string) => `${scope}\u0000${key}`

  const remove = (k: string, e: Entry) => {
    entries.delete(k)
    if (e.done) completed--
    bytes -= e.bytes
  }

  /** Forgets what has expired at `now`, oldest claims first, stopping at the first one still live. */
  const expire = (now: number) => {
    for (const [k, e] of entries) {
      if (e.expiresAt > now) break
      remove(k, e)
    }
  }

  /** Drops the oldest completed records until both limits hold. */
  const trim = () => {
    if (completed <= limits.records && bytes <= limits.bytes) return
    for (const [k, e] of entries) {
      if (!e.done) continue
      remove(k, e)
      if (completed <= limits.records && bytes <= limits.bytes) return
    }
  }

  /** Whether `attempt` holds the running claim of the key. */
  const owns = (scope: string, key: string, attempt: string): boolean => {
    const e = entries.get(id(scope, key))
    return e !== undefined && !e.done && e.attempt === attempt
  }

  /** Stores the response under the key (if `attempt` is given, only while it holds the claim). */
  const completeNow = (input: {
    readonly scope: string
    readonly key: string
    readonly response: StoredResponse
    readonly attempt?: string | undefined
  }): boolean => {
    const e = entries.get(id(input.scope, input.key))
    if (e === undefined) return false
    if (input.attempt !== undefined && (e.done || e.attempt !== input.attempt)) return false
    if (e.done) bytes -= e.bytes
    else completed++
    e.response = input.response
    e.done = true
    e.bytes = approximateBytes(input.response)
    bytes += e.bytes
    trim()
    return true
  }

  const store = IdempotencyStore.of({
    begin: (input) =>
      Effect.suspend((): Effect.Effect<IdempotencyBegin, IdempotencyConflict> => {
        expire(input.now)
        const k = id(input.scope, input.key)
        const existing = entries.get(k)
        if (existing !== undefined && existing.expiresAt > input.now) {
          if (existing.fingerprint !== input.fingerprint) {
            return Effect.fail(new IdempotencyConflict({ id: input.key, reason: "different_content" }))
          }
          if (existing.done) return Effect.succeed({ _tag: "Replay", response: existing.response! })
          // A running claim is taken over only once it is stale.
          if (input.staleBefore === undefined || existing.startedAt > input.staleBefore) {
            return Effect.fail(new IdempotencyConflict({ id: input.key, reason: "in_progress" }))
          }
        }
        // A running claim still within its window is being taken over.
        const tookOver = existing !== undefined && existing.expiresAt > input.now && !existing.done ? existing.attempt : undefined
        // A new claim goes to the end, where the newest are.
        if (existing !== undefined) remove(k, existing)
        entries.set(k, {
          fingerprint: input.fingerprint,
          expiresAt: input.expiresAt,
          attempt: input.attempt ?? "",
          startedAt: input.now,
          response: undefined,
          done: false,
          bytes: 0
        })
        return Effect.succeed(tookOver === undefined ? { _tag: "Started" } : { _tag: "Started", tookOver })
      }),
    complete: (input) => Effect.sync(() => completeNow(input)),
    abandon: (input) =>
      Effect.sync(() => {
        const k = id(input.scope, input.key)
        const e = entries.get(k)
        if (e === undefined) return
        if (input.attempt !== undefined && (e.done || e.attempt !== input.attempt)) return
        remove(k, e)
      })
  })

  const retained = (): MemoryIdempotencyRetained => ({ records: entries.size, completed, bytes })
  return Object.assign(store, { retained, owns, completeNow })
}

export const MemoryIdempotencyStore = Layer.sync(IdempotencyStore, () => makeMemoryIdempotencyStore())
