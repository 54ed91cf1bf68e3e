import { Cause, Effect, Exit, Latch, type Scope, Semaphore } from "effect"

export interface BufferedWriterOptions {
  /** How often waiting items are written. */
  readonly flushIntervalMs: number
  /** Waiting items that start a write before the interval is up. */
  readonly flushAtItems: number
  /** Items held at most (waiting plus being written); beyond it new ones are dropped and counted. */
  readonly capacity: number
  /** Tries of one write before its batch is dropped and counted. */
  readonly maxAttempts: number
  /** The pause before the second try; doubled before each later one. */
  readonly retryDelayMs: number
  /** The deadline of one store call. */
  readonly writeTimeoutMs: number
  /** The deadline of the last write when the scope closes. */
  readonly shutdownTimeoutMs: number
}

/** What the buffer has done since it was made. */
export interface BufferedWriterStats {
  /** Items waiting or being written. */
  readonly pending: number
  readonly written: number
  /** Items refused because the buffer was full. */
  readonly droppedFull: number
  /** Items given up after every try to write them failed (or the shutdown deadline passed). */
  readonly droppedFailed: number
}

/** What the writer's log lines call things, e.g. `Credential audit`, `entries`, `audit append`, `audit log`. */
export interface BufferedWriterNaming {
  readonly label: string
  readonly noun: string
  readonly write: string
  readonly store: string
}

/** Items with the same key wait as one (`keep` picks what is written), taking no more room. */
export interface Coalescing<A> {
  readonly key: (item: A) => string
  readonly keep: (waiting: A, offered: A) => A
}

export interface BufferedWriter<A> {
  /** Puts `item` in the buffer; never waits on the store. */
  readonly offer: (item: A) => Effect.Effect<void>
  /** Writes what waits now (after any write in flight); for callers that must read their own items. */
  readonly flush: Effect.Effect<void>
  readonly stats: Effect.Effect<BufferedWriterStats>
}

/** A store failure, for the log: its kind and message, never the batch (or anything in it). */
const describeFailure = (cause: Cause.Cause<unknown>): string => {
  const error: unknown = Cause.squash(cause)
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 300)
  return Cause.hasInterruptsOnly(cause) ? "interrupted" : String(error).slice(0, 300)
}

/**
 * Facts written off the request path (the credential audit, refused requests): `offer` puts an
 * item into an in-process buffer that a background fiber writes with one `write` call every
 * `flushIntervalMs` (sooner once `flushAtItems` wait). The buffer is bounded: past `capacity`
 * new items are dropped and counted, with one warning per streak of drops. A failed write is
 * logged (never with its items) and tried again a bounded number of times, then dropped and
 * counted; items keep their order across writes. When the scope closes, what waits is written,
 * within a deadline.
 */
export const makeBufferedWriter = <A>(
  naming: BufferedWriterNaming,
  write: (batch: ReadonlyArray<A>) => Effect.Effect<void>,
  options: BufferedWriterOptions,
  coalescing?: Coalescing<A>
): Effect.Effect<BufferedWriter<A>, never, Scope.Scope> =>
  Effect.gen(function*() {
    const { label, noun } = naming
    let items: Array<A> = []
    // With coalescing: where each key's item waits in `items`.
    let slots = new Map<string, number>()
    let inFlight = 0
    let written = 0
    let droppedFull = 0
    let droppedFailed = 0
    // Set from the first drop until an item is taken again: one warning per streak.
    let overflowing = false
    let streakDropped = 0

    // Opened when `flushAtItems` wait: the writer need not wait for the interval.
    const wake = Latch.makeUnsafe(false)
    // Open while anything waits: an idle writer sleeps on it instead of ticking.
    const waiting = Latch.makeUnsafe(false)
    // One write at a time (the timer's, `flush`, the last one on close), so batches land in order.
    const writing = Semaphore.makeUnsafe(1)

    const offer = (item: A): Effect.Effect<void> =>
      Effect.suspend(() => {
        const key = coalescing?.key(item)
        const slot = key === undefined ? undefined : slots.get(key)
        if (slot !== undefined) {
          items[slot] = coalescing!.keep(items[slot]!, item)
          return Effect.void
        }
        if (items.length + inFlight >= options.capacity) {
          droppedFull++
          streakDropped++
          if (overflowing) return Effect.void
          overflowing = true
          return Effect.logWarning(
            `${label}: ${options.capacity} ${noun} wait to be written; new ${noun} are dropped until the ${naming.store} catches up`
          )
        }
        const count = items.push(item)
        if (key !== undefined) slots.set(key, count - 1)
        if (count === 1) waiting.openUnsafe()
        if (count === options.flushAtItems) wake.openUnsafe()
        if (!overflowing) return Effect.void
        overflowing = false
        const dropped = streakDropped
        streakDropped = 0
        return Effect.logWarning(`${label}: taking ${noun} again after dropping ${dropped} for a full buffer`)
      })

    /** One store call, tried up to `maxAttempts` times, each within `writeTimeoutMs`. */
    const attempt = (batch: ReadonlyArray<A>, tried = 1): Effect.Effect<boolean> =>
      Effect.flatMap(Effect.exit(Effect.timeout(write(batch), options.writeTimeoutMs)), (exit) => {
        if (Exit.isSuccess(exit)) return Effect.succeed(true)
        const failure = describeFailure(exit.cause)
        if (tried >= options.maxAttempts) {
          return Effect.as(Effect.logError(`${label}: ${naming.write} of ${batch.length} failed ${tried} times (${failure}); dropped`), false)
        }
        return Effect.logWarning(`${label}: ${naming.write} of ${batch.length} failed (${failure}); trying again`).pipe(
          Effect.andThen(Effect.sleep(options.retryDelayMs * 2 ** (tried - 1))),
          Effect.andThen(attempt(batch, tried + 1))
        )
      })

    const writeOnce: Effect.Effect<void> = Effect.suspend(() => {
      wake.closeUnsafe()
      waiting.closeUnsafe()
      const batch = items
      if (batch.length === 0) return Effect.void
      items = []
      slots = new Map()
      inFlight = batch.length
      return attempt(batch).pipe(
        Effect.map((ok) => {
          if (ok) written += batch.length
          else droppedFailed += batch.length
        }),
        // Only when the shutdown deadline cuts the write short.
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            droppedFailed += batch.length
          })
        ),
        Effect.ensuring(Effect.sync(() => {
          inFlight = 0
        }))
      )
    })

    const flush: Effect.Effect<void> = writing.withPermit(writeOnce)

    /** Writes until nothing waits: items offered during a write go in the next. */
    const drain: Effect.Effect<void> = Effect.suspend(() => items.length === 0 ? Effect.void : Effect.andThen(flush, drain))

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
            const lost = items.length
            droppedFailed += lost
            items = []
            slots = new Map()
            return Effect.logError(
              `${label}: not written within ${options.shutdownTimeoutMs} ms of shutdown; the batch being written and ${lost} more ${noun} dropped`
            )
          })
        )
      )
    )

    return {
      offer,
      flush,
      stats: Effect.sync(() => ({ pending: items.length + inFlight, written, droppedFull, droppedFailed }))
    }
  })
