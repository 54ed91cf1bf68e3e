import { Deferred, Effect, Exit } from "effect"

interface Waiter<I, A, E> {
  readonly item: I
  readonly deferred: Deferred.Deferred<A, E>
}

/** Exists, with its queue, exactly while a fiber is draining it. */
interface Lane<I, A, E> {
  queue: Array<Waiter<I, A, E>>
}

export interface GroupCommit<K, I, A, E> {
  /** Runs `item` in the next batch of `key`: at once if that key is idle. */
  readonly submit: (key: K, item: I) => Effect.Effect<A, E>
  /** Whether a batch of `key` is in flight (or about to be). */
  readonly active: (key: K) => boolean
}

/**
 * Group commit, per key (TigerBeetle batches the same way): while one batch of a key is in
 * flight, later items of that key queue up, and all of them go in the next batch when it
 * lands. An idle key's first item is not delayed; under load, batches grow by themselves.
 *
 * Items with the same `identity` never share a batch: the later ones wait for the next, so
 * that they see the earlier one's outcome exactly as a sequential replay would.
 *
 * `run` answers one value per item, in order; a failure or defect of `run` is every item's.
 */
export const makeGroupCommit = <K, I, A, E>(options: {
  readonly maxBatch: number
  readonly identity: (item: I) => string
  readonly run: (key: K, items: ReadonlyArray<I>) => Effect.Effect<ReadonlyArray<A>, E>
}): GroupCommit<K, I, A, E> => {
  const lanes = new Map<K, Lane<I, A, E>>()

  const take = (lane: Lane<I, A, E>): Array<Waiter<I, A, E>> => {
    const batch: Array<Waiter<I, A, E>> = []
    const later: Array<Waiter<I, A, E>> = []
    const seen = new Set<string>()
    for (const waiter of lane.queue) {
      const id = options.identity(waiter.item)
      if (batch.length >= options.maxBatch || seen.has(id)) {
        later.push(waiter)
      } else {
        seen.add(id)
        batch.push(waiter)
      }
    }
    lane.queue = later
    return batch
  }

  const settleAll = (batch: ReadonlyArray<Waiter<I, A, E>>, exit: Exit.Exit<ReadonlyArray<A>, E>) => {
    batch.forEach((waiter, i) =>
      Deferred.doneUnsafe(
        waiter.deferred,
        Exit.isSuccess(exit)
          ? i < exit.value.length
            ? Exit.succeed(exit.value[i]!)
            : Exit.die(new Error(`a batch of ${batch.length} answered ${exit.value.length} items`))
          : exit as Exit.Exit<never, E>
      )
    )
  }

  const drain = (key: K, lane: Lane<I, A, E>): Effect.Effect<void> =>
    Effect.suspend(() => {
      const batch = take(lane)
      if (batch.length === 0) {
        // Synchronously with the emptiness check: the next submit starts a new drain.
        lanes.delete(key)
        return Effect.void
      }
      return Effect.suspend(() => options.run(key, batch.map((w) => w.item))).pipe(
        Effect.exit,
        Effect.flatMap((exit) => {
          settleAll(batch, exit)
          return drain(key, lane)
        }),
        Effect.onInterrupt(() =>
          Effect.sync(() => {
            // Only when the runtime itself shuts down: nobody is left waiting in vain.
            lanes.delete(key)
            settleAll([...batch, ...lane.queue], Exit.interrupt())
          })
        )
      )
    })

  return {
    active: (key) => lanes.has(key),
    submit: (key, item) =>
      Effect.suspend(() => {
        const waiter: Waiter<I, A, E> = { item, deferred: Deferred.makeUnsafe<A, E>() }
        const lane = lanes.get(key)
        if (lane !== undefined) {
          lane.queue.push(waiter)
          return Deferred.await(waiter.deferred)
        }
        const fresh: Lane<I, A, E> = { queue: [waiter] }
        lanes.set(key, fresh)
        // Detached: the batch belongs to every waiter in it, not to the caller that started it.
        return Effect.andThen(Effect.forkDetach(drain(key, fresh)), Deferred.await(waiter.deferred))
      })
  }
}
