import { Effect, Exit, Fiber } from "effect"
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest"
import { withDeadline } from "../../src/application/Deadline.ts"

class TooSlow {
  readonly _tag = "TooSlow"
}

describe("withDeadline", () => {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout"] })
  })
  afterEach(() => {
    vi.useRealTimers()
  })

  it("returns what finishes synchronously without arming a timer", async () => {
    const armed = vi.spyOn(globalThis, "setTimeout")
    const exit = await Effect.runPromiseExit(withDeadline(Effect.succeed(7), 1_000, () => new TooSlow()))
    expect(exit).toEqual(Exit.succeed(7))
    expect(armed).not.toHaveBeenCalled()
  })

  it("returns a synchronous failure as it is", async () => {
    const exit = await Effect.runPromiseExit(withDeadline(Effect.fail("boom"), 1_000, () => new TooSlow()))
    expect(exit).toEqual(Exit.fail("boom"))
  })

  it("returns what finishes before the deadline and clears the timer", async () => {
    let resume: ((value: Effect.Effect<number>) => void) | undefined
    const slow = Effect.callback<number>((r) => {
      resume = r
    })
    const fiber = Effect.runFork(withDeadline(slow, 1_000, () => new TooSlow()))
    await vi.advanceTimersByTimeAsync(999)
    expect(fiber.pollUnsafe()).toBeUndefined()
    resume!(Effect.succeed(3))
    expect(await Effect.runPromise(Fiber.join(fiber))).toBe(3)
    expect(vi.getTimerCount()).toBe(0)
  })

  it("fails with the timeout error at the deadline, after interrupting the work", async () => {
    let finalized = false
    let finalizedWhenFailed: boolean | undefined
    const never = Effect.never.pipe(Effect.ensuring(Effect.sync(() => void (finalized = true))))
    const fiber = Effect.runFork(
      withDeadline(never, 1_000, () => new TooSlow()).pipe(
        // The caller sees the failure only once the work's finalizers have run.
        Effect.tapError(() => Effect.sync(() => void (finalizedWhenFailed = finalized)))
      )
    )
    await vi.advanceTimersByTimeAsync(999)
    expect(fiber.pollUnsafe()).toBeUndefined()
    expect(finalized).toBe(false)
    await vi.advanceTimersByTimeAsync(1)
    const exit = await Effect.runPromise(Fiber.await(fiber))
    expect(exit).toEqual(Exit.fail(new TooSlow()))
    expect(finalizedWhenFailed).toBe(true)
  })

  it("interrupts the work and clears the timer when the caller is interrupted", async () => {
    let finalized = false
    const never = Effect.never.pipe(Effect.ensuring(Effect.sync(() => void (finalized = true))))
    const fiber = Effect.runFork(withDeadline(never, 1_000, () => new TooSlow()))
    await vi.advanceTimersByTimeAsync(10)
    await Effect.runPromise(Fiber.interrupt(fiber))
    expect(finalized).toBe(true)
    expect(vi.getTimerCount()).toBe(0)
  })
})
