import { assert, describe, it } from "@effect/vitest"
import { Clock, Duration, Effect, Exit, Fiber, Random, Schedule } from "effect"
import { TestClock } from "effect/testing"
import {
  backoffDelayMs,
  defaultRetryPolicy,
  final,
  type Retryability,
  retryable,
  retryAfterMs,
  retrySchedule,
  retryWithinDeadline
} from "../../src/adapters/providers/Retry.ts"

interface Failure {
  readonly kind: "rate_limited" | "unavailable" | "rejected" | "timeout"
  readonly retryAfterMs?: number
}

const classify = (f: Failure): Retryability =>
  f.kind === "rate_limited" || f.kind === "unavailable" ? retryable(f.retryAfterMs) : final

const timeout: Failure = { kind: "timeout" }

/** Runs attempts scripted in order; records when (Clock time) and with how much time left each ran. */
const scripted = (script: ReadonlyArray<Failure | "ok" | "hang">) => {
  const calls: Array<{ at: number; remainingMs: number; attempt: number }> = []
  const attempt = (remainingMs: number, n: number) =>
    Effect.flatMap(Clock.currentTimeMillis, (at) => {
      calls.push({ at, remainingMs, attempt: n })
      const step = script[Math.min(n - 1, script.length - 1)]!
      if (step === "ok") return Effect.succeed(`image from attempt ${n}`)
      if (step === "hang") return Effect.never
      return Effect.fail(step)
    })
  return { calls, attempt }
}

describe("retry policy for provider calls", () => {
  it.effect("waits the server's retry-after before the next attempt, then succeeds", () =>
    Effect.gen(function*() {
      const { calls, attempt } = scripted([{ kind: "rate_limited", retryAfterMs: 2_000 }, "ok"])
      const fiber = yield* retryWithinDeadline({ attempt, classify, deadlineMs: 60_000, onDeadline: () => timeout })
        .pipe(Effect.forkChild)
      yield* TestClock.adjust(1_999)
      assert.strictEqual(calls.length, 1, "no second attempt before retry-after has passed")
      yield* TestClock.adjust(1)
      assert.strictEqual(yield* Fiber.join(fiber), "image from attempt 2")
      assert.deepStrictEqual(calls.map((c) => c.at), [0, 2_000])
      assert.strictEqual(calls[1]!.remainingMs, 58_000, "the second attempt gets what remains of the deadline")
    }))

  it.effect("returns the last failure without waiting when retry-after would pass the deadline", () =>
    Effect.gen(function*() {
      const { calls, attempt } = scripted([{ kind: "rate_limited", retryAfterMs: 30_000 }, "ok"])
      const exit = yield* retryWithinDeadline({ attempt, classify, deadlineMs: 10_000, onDeadline: () => timeout })
        .pipe(Effect.exit)
      assert.deepStrictEqual(exit, Exit.fail<Failure>({ kind: "rate_limited", retryAfterMs: 30_000 }))
      assert.strictEqual(calls.length, 1)
      assert.strictEqual(yield* Clock.currentTimeMillis, 0, "no time was spent waiting")
    }))

  it.effect("interrupts an attempt still running at the deadline and answers with the timeout failure, not retried", () =>
    Effect.gen(function*() {
      const { calls, attempt } = scripted(["hang", "ok"])
      const fiber = yield* retryWithinDeadline({ attempt, classify, deadlineMs: 5_000, onDeadline: () => timeout })
        .pipe(Effect.exit, Effect.forkChild)
      yield* TestClock.adjust(4_999)
      assert.isUndefined(fiber.pollUnsafe())
      yield* TestClock.adjust(1)
      assert.deepStrictEqual(yield* Fiber.join(fiber), Exit.fail(timeout))
      assert.strictEqual(calls.length, 1)
      assert.strictEqual(calls[0]!.remainingMs, 5_000)
    }))

  it.effect("never retries a final failure", () =>
    Effect.gen(function*() {
      const { calls, attempt } = scripted([{ kind: "rejected" }, "ok"])
      const exit = yield* retryWithinDeadline({ attempt, classify, deadlineMs: 60_000, onDeadline: () => timeout })
        .pipe(Effect.exit)
      assert.deepStrictEqual(exit, Exit.fail<Failure>({ kind: "rejected" }))
      assert.strictEqual(calls.length, 1)
    }))

  it.effect("a timeout classified final (sent, maybe drawn and billed) is not retried", () =>
    Effect.gen(function*() {
      const { calls, attempt } = scripted([timeout, "ok"])
      const exit = yield* retryWithinDeadline({ attempt, classify, deadlineMs: 60_000, onDeadline: () => timeout })
        .pipe(Effect.exit)
      assert.deepStrictEqual(exit, Exit.fail(timeout))
      assert.strictEqual(calls.length, 1)
    }))

  it.effect("makes at most maxAttempts attempts (default 3) and returns the last failure", () =>
    Effect.gen(function*() {
      const { calls, attempt } = scripted([{ kind: "unavailable" }])
      const fiber = yield* retryWithinDeadline({ attempt, classify, deadlineMs: 600_000, onDeadline: () => timeout })
        .pipe(Effect.exit, Effect.forkChild)
      yield* TestClock.adjust(60_000)
      assert.deepStrictEqual(yield* Fiber.join(fiber), Exit.fail<Failure>({ kind: "unavailable" }))
      assert.strictEqual(calls.length, defaultRetryPolicy.maxAttempts)
      assert.deepStrictEqual(calls.map((c) => c.attempt), [1, 2, 3])
      // Full jitter: the first wait is below base, the second below 2 × base.
      assert.isAtMost(calls[1]!.at - calls[0]!.at, defaultRetryPolicy.baseDelayMs - 1)
      assert.isAtMost(calls[2]!.at - calls[1]!.at, 2 * defaultRetryPolicy.baseDelayMs - 1)
    }))

  it.effect("honours a custom number of attempts", () =>
    Effect.gen(function*() {
      const { calls, attempt } = scripted([{ kind: "unavailable" }, { kind: "unavailable" }, { kind: "unavailable" }, "ok"])
      const fiber = yield* retryWithinDeadline({
        attempt,
        classify,
        deadlineMs: 600_000,
        onDeadline: () => timeout,
        policy: { maxAttempts: 4 }
      }).pipe(Effect.forkChild)
      yield* TestClock.adjust(60_000)
      assert.strictEqual(yield* Fiber.join(fiber), "image from attempt 4")
      assert.strictEqual(calls.length, 4)
    }))

  it.effect("back-off waits stay within full-jitter bounds and never reach the deadline", () =>
    Effect.gen(function*() {
      const policy = { maxAttempts: 10, baseDelayMs: 100, maxDelayMs: 1_000 }
      const seen: Array<number> = []
      for (let seed = 0; seed < 200; seed++) {
        const delays = yield* Effect.gen(function*() {
          const step = yield* Schedule.toStep(retrySchedule<Failure>({ policy, deadlineMs: 1_000_000, classify }))
          const out: Array<number> = []
          for (let retry = 1; retry <= 6; retry++) {
            const [, delay] = yield* step(0, { kind: "unavailable" })
            out.push(Duration.toMillis(delay))
          }
          return out
        }).pipe(Random.withSeed(seed))
        delays.forEach((d, i) => {
          const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** i)
          assert.isAtLeast(d, 0)
          assert.isBelow(d, ceiling)
        })
        seen.push(...delays)
      }
      // Full jitter spreads over the whole range, not ±20 % around the ceiling.
      assert.isBelow(Math.min(...seen), 10)
      assert.isAbove(Math.max(...seen), 900)

      const step = yield* Schedule.toStep(retrySchedule<Failure>({ policy, deadlineMs: 50, classify }))
      const stopped = yield* step(0, { kind: "unavailable", retryAfterMs: 50 }).pipe(Effect.exit)
      assert.isTrue(Exit.isFailure(stopped), "a wait ending at the deadline is not scheduled")
    }))

  it("computes the full-jitter wait from the retry number", () => {
    const policy = { maxAttempts: 3, baseDelayMs: 200, maxDelayMs: 1_000 }
    assert.strictEqual(backoffDelayMs(policy, 1, 0), 0)
    assert.strictEqual(backoffDelayMs(policy, 1, 0.5), 100)
    assert.strictEqual(backoffDelayMs(policy, 3, 0.999_999), 799)
    assert.strictEqual(backoffDelayMs(policy, 10, 0.5), 500, "capped at maxDelayMs")
  })

  it("reads retry-after-ms, retry-after seconds and retry-after HTTP dates", () => {
    const now = Date.parse("2026-01-01T00:00:00Z")
    assert.strictEqual(retryAfterMs(new Headers({ "retry-after-ms": "1500" }), now), 1_500)
    assert.strictEqual(retryAfterMs(new Headers({ "retry-after-ms": "250", "retry-after": "9" }), now), 250)
    assert.strictEqual(retryAfterMs(new Headers({ "retry-after": "7" }), now), 7_000)
    assert.strictEqual(retryAfterMs({ "Retry-After": "2" }, now), 2_000)
    assert.strictEqual(retryAfterMs(new Headers({ "retry-after": "Thu, 01 Jan 2026 00:00:12 GMT" }), now), 12_000)
    assert.strictEqual(retryAfterMs(new Headers({ "retry-after": "Wed, 31 Dec 2025 00:00:00 GMT" }), now), 0)
    assert.isUndefined(retryAfterMs(new Headers({ "retry-after": "soon" }), now))
    assert.isUndefined(retryAfterMs(new Headers({}), now))
    assert.isUndefined(retryAfterMs(undefined, now))
  })
})
