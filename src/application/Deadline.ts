import { Effect, Fiber } from "effect"

/**
 * `self`, or `onTimeout()`'s failure if it has not finished within `ms` (by the Clock service, so
 * a test drives it with TestClock); `self` is then interrupted (and its finalizers run) before
 * the failure is returned. Interrupting the caller interrupts `self`.
 *
 * What `Effect.timeoutOrElse` does, without its cost on the request path when the work is
 * already done: `self` is forked once and starts at once, and if it has finished (the embedded
 * provider answers synchronously) its exit is returned with no race and no timer. Only work
 * still running is raced against the deadline (`Effect.timeoutOrElse`).
 */
export const withDeadline = <A, E, R, E2>(
  self: Effect.Effect<A, E, R>,
  ms: number,
  onTimeout: () => E2
): Effect.Effect<A, E | E2, R> =>
  Effect.flatMap(Effect.forkChild(self, { startImmediately: true }), (fiber) => {
    const done = fiber.pollUnsafe()
    if (done !== undefined) return done
    return Fiber.join(fiber).pipe(
      Effect.timeoutOrElse({
        duration: ms,
        orElse: () => Effect.andThen(Fiber.interrupt(fiber), Effect.fail(onTimeout()))
      }),
      Effect.onInterrupt(() => Fiber.interrupt(fiber))
    )
  })
