import { assert, describe, it } from "@effect/vitest"
import { Cause, Effect, Exit, Fiber } from "effect"
import { TestClock } from "effect/testing"
import { withDeadline } from "../../src/application/Deadline.ts"

class TooSlow {
  readonly _tag = "TooSlow"
}

describe("withDeadline (driven by TestClock)", () => {
  it.effect("returns what finishes synchronously as it is, whatever the clock", () =>
    Effect.gen(function*() {
      assert.deepStrictEqual(yield* Effect.exit(withDeadline(Effect.succeed(7), 1_000, () => new TooSlow())), Exit.succeed(7))
      assert.deepStrictEqual(yield* Effect.exit(withDeadline(Effect.fail("boom"), 1_000, () => new TooSlow())), Exit.fail("boom"))
    }))

  it.effect("returns what finishes before the deadline", () =>
    Effect.gen(function*() {
      const fiber = yield* Effect.forkChild(withDeadline(Effect.as(Effect.sleep(999), 3), 1_000, () => new TooSlow()))
      yield* TestClock.adjust(998)
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust(1)
      assert.strictEqual(yield* Fiber.join(fiber), 3)
    }))

  it.effect("fails with the timeout error at the deadline, only after the work is interrupted and finalized", () =>
    Effect.gen(function*() {
      let finalized = false
      let finalizedWhenFailed: boolean | undefined
      const never = Effect.never.pipe(Effect.ensuring(Effect.sync(() => void (finalized = true))))
      const fiber = yield* Effect.forkChild(
        withDeadline(never, 1_000, () => new TooSlow()).pipe(
          Effect.tapError(() => Effect.sync(() => void (finalizedWhenFailed = finalized)))
        )
      )
      yield* TestClock.adjust(999)
      assert.isUndefined(fiber.pollUnsafe())
      assert.isFalse(finalized)
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(yield* Fiber.await(fiber), Exit.fail(new TooSlow()))
      assert.isTrue(finalizedWhenFailed)
    }))

  it.effect("interrupts the work when the caller is interrupted", () =>
    Effect.gen(function*() {
      let finalized = false
      const never = Effect.never.pipe(Effect.ensuring(Effect.sync(() => void (finalized = true))))
      const fiber = yield* Effect.forkChild(withDeadline(never, 1_000, () => new TooSlow()))
      yield* TestClock.adjust(10)
      yield* Fiber.interrupt(fiber)
      assert.isTrue(finalized)
      // Nothing is left waiting for the deadline: moving the clock past it changes nothing.
      yield* TestClock.adjust(5_000)
      const exit = yield* Fiber.await(fiber)
      assert.isTrue(Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause))
    }))
})
