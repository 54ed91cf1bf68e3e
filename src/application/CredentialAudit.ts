import { Cause, Context, Effect, Exit, Latch, Layer, Semaphore } from "effect"
import type { KeyId } from "../domain/Ids.ts"
import { type AuditEntry, AuditLog } from "./ports/AuditLog.ts"
import { KeyStore } from "./ports/KeyStore.ts"

export interface CredentialAuditOptions {
  /** How often waiting entries and key uses are written. */
  readonly flushIntervalMs: number
  /** Waiting entries that start a write before the interval is up. */
  readonly flushAtEntries: number
  /** Entries held at most (waiting plus being written); beyond it new ones are dropped and counted. */
  readonly capacity: number
  /** Tries of one write before its batch is dropped and counted. */
  readonly maxAttempts: number
  /** The pause before the second try; doubled before each later one. */
  readonly retryDelayMs: number
  /** The deadline of one store call. */
  readonly writeTimeoutMs: number
  /** The deadline of the last write when the layer closes. */
  readonly shutdownTimeoutMs: number
}

export const defaultCredentialAuditOptions: CredentialAuditOptions = {
  flushIntervalMs: 250,
  flushAtEntries: 1_000,
  capacity: 100_000,
  maxAttempts: 3,
  retryDelayMs: 200,
  writeTimeoutMs: 10_000,
  shutdownTimeoutMs: 5_000
}

/** What the buffer has done since the layer was built. */
export interface CredentialAuditStats {
  /** Entries waiting or being written. */
  readonly pending: number
  /** Entries written to the audit log. */
  readonly written: number
  /** Entries refused because the buffer was full. */
  readonly droppedFull: number
  /** Entries given up after every try to write them failed (or the shutdown deadline passed). */
  readonly droppedFailed: number
  /** Key uses refused because as many distinct keys were already waiting as the buffer holds. */
  readonly touchesDroppedFull: number
  /** Key uses given up after every try to write them failed. */
  readonly touchesDroppedFailed: number
}

/** A store failure, for the log: its kind and message, never the batch (or anything in it). */
const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const error: unknown = Cause.squash(cause)
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 300)
  return Cause.hasInterruptsOnly(cause) ? "interrupted" : String(error).slice(0, 300)
}

/**
 * The audit of service credentials: every use (`record`) and every key's last use (`touch`).
 * Neither waits on a store: they put the fact into an in-process buffer, which a background
 * fiber writes every `flushIntervalMs` (sooner once `flushAtEntries` entries wait) with one
 * `AuditLog.append` and one `KeyStore.touch` (each key's latest time only). The buffer is
 * bounded: past `capacity` new entries are dropped and counted, with one warning per streak of
 * drops. A failed write is logged and tried again a bounded number of times, then dropped and
 * counted; entries keep their order across writes. When the layer closes, what waits is
 * written, within a deadline.
 */
export class CredentialAudit extends Context.Service<CredentialAudit, {
  readonly record: (entry: AuditEntry) => Effect.Effect<void>
  readonly touch: (keyId: KeyId, at: number) => Effect.Effect<void>
  /** Writes what waits now (after any write in flight); for callers that must read their own entries. */
  readonly flush: Effect.Effect<void>
  readonly stats: Effect.Effect<CredentialAuditStats>
}>()("image-gateway/CredentialAudit") {
  static readonly layerWith = (
    overrides: Partial<CredentialAuditOptions> = {}
  ): Layer.Layer<CredentialAudit, never, AuditLog | KeyStore> =>
    Layer.effect(
      CredentialAudit,
      Effect.gen(function*() {
        const options = { ...defaultCredentialAuditOptions, ...overrides }
        const log = yield* AuditLog
        const keys = yield* KeyStore

        let entries: Array<AuditEntry> = []
        let uses = new Map<KeyId, number>()
        let inFlight = 0
        let written = 0
        let droppedFull = 0
        let droppedFailed = 0
        let touchesDroppedFull = 0
        let touchesDroppedFailed = 0
        // Set from the first drop until an entry is taken again: one warning per streak.
        let overflowing = false
        let streakDropped = 0
        let touchesOverflowing = false

        // Opened when `flushAtEntries` entries wait: the writer need not wait for the interval.
        const wake = Latch.makeUnsafe(false)
        // Open while anything waits: an idle gateway's writer sleeps on it instead of ticking.
        const waiting = Latch.makeUnsafe(false)
        // One write at a time (the timer's, `flush`, the last one on close), so batches land in order.
        const writing = Semaphore.makeUnsafe(1)

        const record = (entry: AuditEntry): Effect.Effect<void> =>
          Effect.suspend(() => {
            if (entries.length + inFlight >= options.capacity) {
              droppedFull++
              streakDropped++
              if (overflowing) return Effect.void
              overflowing = true
              return Effect.logWarning(
                `Credential audit: ${options.capacity} entries wait to be written; new entries are dropped until the audit log catches up`
              )
            }
            const count = entries.push(entry)
            if (count === 1) waiting.openUnsafe()
            if (count === options.flushAtEntries) wake.openUnsafe()
            if (!overflowing) return Effect.void
            overflowing = false
            const dropped = streakDropped
            streakDropped = 0
            return Effect.logWarning(`Credential audit: taking entries again after dropping ${dropped} for a full buffer`)
          })

        const touch = (keyId: KeyId, at: number): Effect.Effect<void> =>
          Effect.suspend(() => {
            const previous = uses.get(keyId)
            if (previous !== undefined) {
              if (at > previous) uses.set(keyId, at)
              return Effect.void
            }
            if (uses.size >= options.capacity) {
              touchesDroppedFull++
              if (touchesOverflowing) return Effect.void
              touchesOverflowing = true
              return Effect.logWarning(
                `Credential audit: ${options.capacity} keys' last uses wait to be written; uses of other keys are dropped until the key store catches up`
              )
            }
            touchesOverflowing = false
            if (uses.size === 0) waiting.openUnsafe()
            uses.set(keyId, at)
            return Effect.void
          })

        /** One store call, tried up to `maxAttempts` times, each within `writeTimeoutMs`. */
        const attempt = (what: string, size: number, write: Effect.Effect<void>, tried = 1): Effect.Effect<boolean> =>
          Effect.flatMap(Effect.exit(Effect.timeout(write, options.writeTimeoutMs)), (exit) => {
            if (Exit.isSuccess(exit)) return Effect.succeed(true)
            const failure = describeFailure(exit.cause)
            if (tried >= options.maxAttempts) {
              return Effect.as(
                Effect.logError(`Credential audit: ${what} of ${size} failed ${tried} times (${failure}); dropped`),
                false
              )
            }
            return Effect.logWarning(`Credential audit: ${what} of ${size} failed (${failure}); trying again`).pipe(
              Effect.andThen(Effect.sleep(options.retryDelayMs * 2 ** (tried - 1))),
              Effect.andThen(attempt(what, size, write, tried + 1))
            )
          })

        /** Takes everything that waits and writes it: one append, one touch. */
        const writeOnce: Effect.Effect<void> = Effect.suspend(() => {
          wake.closeUnsafe()
          waiting.closeUnsafe()
          const batch = entries
          const touched = uses
          if (batch.length === 0 && touched.size === 0) return Effect.void
          entries = []
          uses = new Map()
          inFlight = batch.length
          const appended = batch.length === 0
            ? Effect.void
            : attempt("audit append", batch.length, log.append(batch)).pipe(
              Effect.map((ok) => {
                if (ok) written += batch.length
                else droppedFailed += batch.length
              }),
              // Only when the shutdown deadline cuts the write short.
              Effect.onInterrupt(() =>
                Effect.sync(() => {
                  droppedFailed += batch.length
                })
              )
            )
          const touches = touched.size === 0 ? Effect.void : Effect.suspend(() => {
            const list = Array.from(touched, ([id, at]) => ({ id, at }))
            return attempt("key last-use update", list.length, keys.touch(list)).pipe(
              Effect.map((ok) => {
                if (!ok) touchesDroppedFailed += list.length
              }),
              Effect.onInterrupt(() =>
                Effect.sync(() => {
                  touchesDroppedFailed += list.length
                })
              )
            )
          })
          // Two stores, two independent writes: side by side.
          return Effect.ensuring(
            Effect.all([appended, touches], { concurrency: 2, discard: true }),
            Effect.sync(() => {
              inFlight = 0
            })
          )
        })

        const flush: Effect.Effect<void> = writing.withPermit(writeOnce)

        /** Writes until nothing waits: entries recorded during a write go in the next. */
        const drain: Effect.Effect<void> = Effect.suspend(() =>
          entries.length === 0 && uses.size === 0 ? Effect.void : Effect.andThen(flush, drain)
        )

        yield* waiting.await.pipe(
          Effect.andThen(Effect.raceFirst(Effect.sleep(options.flushIntervalMs), wake.await)),
          Effect.andThen(flush),
          Effect.forever,
          Effect.forkScoped
        )

        // Runs before the writer above is interrupted (finalizers run last added, first run).
        yield* Effect.addFinalizer(() =>
          drain.pipe(
            Effect.timeout(options.shutdownTimeoutMs),
            Effect.catchCause(() =>
              Effect.suspend(() => {
                // What a cut-short write held is counted where it was cut.
                const lost = entries.length
                const lostUses = uses.size
                droppedFailed += lost
                touchesDroppedFailed += lostUses
                entries = []
                uses = new Map()
                return Effect.logError(
                  `Credential audit: not written within ${options.shutdownTimeoutMs} ms of shutdown; the batch being written, ${lost} more entries and ${lostUses} more key uses dropped`
                )
              })
            )
          )
        )

        return CredentialAudit.of({
          record,
          touch,
          flush,
          stats: Effect.sync(() => ({
            pending: entries.length + inFlight,
            written,
            droppedFull,
            droppedFailed,
            touchesDroppedFull,
            touchesDroppedFailed
          }))
        })
      })
    )

  static readonly layer = CredentialAudit.layerWith()
}
