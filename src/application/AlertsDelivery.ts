import { Cause, Clock, Context, Duration, Effect, Layer, Random, Semaphore } from "effect"
import { AlertNotifier } from "./ports/AlertNotifier.ts"
import { type AlertRecord, AlertStore, type AttemptOutcome } from "./ports/AlertStore.ts"

/** How alerts are delivered and retried. */
export interface DeliveryPolicy {
  /** Attempts in all, the first included; after the last failure the alert is `failed`. */
  readonly maxAttempts: number
  /** The wait before the second attempt; each next wait doubles (before jitter). */
  readonly baseDelayMs: number
  /** No wait is longer than this. */
  readonly maxDelayMs: number
  /** How long one attempt may take before it counts as failed (and is retried). */
  readonly attemptTimeoutMs: number
  /** How often the outbox is looked at for due alerts. */
  readonly pollIntervalMs: number
  /** Alerts claimed per look. */
  readonly batchSize: number
}

/**
 * 8 attempts over about an hour: waits of 30 s, 1, 2, 4, 8, 16 and 32 min, each cut by a random
 * part of up to half (so that alerts failed together do not come back together): 32 to 63 min
 * from the first attempt to the last.
 */
export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 30_000,
  maxDelayMs: 32 * 60_000,
  attemptTimeoutMs: 10_000,
  pollIntervalMs: 1_000,
  batchSize: 20
}

/** The wait after the `attempt`-th failed attempt (1-based): exponential, capped, with jitter in [½, 1]. */
export const retryDelayMs = (policy: DeliveryPolicy, attempt: number, random: number): number => {
  const full = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1))
  return Math.round(full / 2 + (full / 2) * random)
}

export type DeliveryResult = "delivered" | "retry" | "failed"

/**
 * Drains the alert outbox: claims due alerts (a lease no other instance's worker can take while
 * the attempt runs), hands each to the `AlertNotifier` with a deadline, and records the outcome.
 * A restart loses nothing: what was not recorded as delivered stays in the outbox and comes due
 * again when its lease ends. Delivery is at least once: a process lost after the receiver took
 * the alert but before recording it delivers it again (receivers dedupe on `id`).
 */
export class AlertDelivery extends Context.Service<AlertDelivery, {
  /** One look at the outbox: delivers what is due now; returns each attempt's result. */
  readonly deliverDue: Effect.Effect<ReadonlyArray<DeliveryResult>>
}>()("image-gateway/AlertDelivery") {
  static readonly make = (
    policy: DeliveryPolicy,
    observe: (result: DeliveryResult) => Effect.Effect<void> = () => Effect.void
  ) =>
    Effect.gen(function*() {
      const store = yield* AlertStore
      const notifier = yield* AlertNotifier
      // The lease outlasts the attempt's deadline, so that it never ends while the attempt runs.
      const leaseMs = policy.attemptTimeoutMs * 2 + 5_000

      const attempt = (alert: AlertRecord) =>
        Effect.gen(function*() {
          const tried = yield* notifier.notify(alert).pipe(
            Effect.timeoutOrElse({
              duration: Duration.millis(policy.attemptTimeoutMs),
              orElse: () => Effect.fail({ message: `no answer within ${policy.attemptTimeoutMs} ms`, permanent: false })
            }),
            Effect.result
          )
          const now = yield* Clock.currentTimeMillis
          const attempts = alert.attempts + 1
          const outcome: AttemptOutcome = tried._tag === "Success"
            ? { _tag: "Delivered" }
            : tried.failure.permanent || attempts >= policy.maxAttempts
            ? { _tag: "Failed", error: tried.failure.message }
            : { _tag: "Retry", error: tried.failure.message, nextAttemptAt: now + retryDelayMs(policy, attempts, yield* Random.next) }
          yield* store.recordAttempt(alert.id, outcome, now)
          const result: DeliveryResult = outcome._tag === "Delivered" ? "delivered" : outcome._tag === "Retry" ? "retry" : "failed"
          if (result !== "delivered") {
            yield* Effect.logWarning("alert delivery failed", {
              alert: alert.id,
              attempt: attempts,
              error: tried._tag === "Failure" ? tried.failure.message : undefined,
              next: result
            })
          }
          yield* observe(result)
          return result
        })

      const deliverDue = Effect.gen(function*() {
        const now = yield* Clock.currentTimeMillis
        const due = yield* store.claimDue({ now, limit: policy.batchSize, leaseUntil: now + leaseMs })
        return yield* Effect.forEach(due, attempt, { concurrency: 4 })
      })

      return AlertDelivery.of({ deliverDue })
    })

  /** The service, and its worker: a look at the outbox every `pollIntervalMs` while the layer is up. */
  static readonly layer = (
    policy: DeliveryPolicy,
    observe?: (result: DeliveryResult) => Effect.Effect<void>
  ): Layer.Layer<AlertDelivery, never, AlertStore | AlertNotifier> =>
    Layer.effect(
      AlertDelivery,
      Effect.gen(function*() {
        const delivery = yield* AlertDelivery.make(policy, observe)
        // Held by a look at the outbox while it runs, and taken for good when the layer stops.
        const looking = yield* Semaphore.make(1)
        yield* looking.withPermits(1)(delivery.deliverDue).pipe(
          // A failing store is logged and tried again at the next look; the worker never stops.
          Effect.catchCause((cause) =>
            Effect.logWarning("alert outbox look failed", { cause: Cause.pretty(cause).split("\n", 1)[0] })
          ),
          Effect.andThen(Effect.sleep(Duration.millis(policy.pollIntervalMs))),
          Effect.forever,
          Effect.forkScoped
        )
        // On a clean stop (SIGTERM) the look under way finishes before the worker is interrupted
        // (finalizers run last-added first): its attempts get their answers and are recorded, so
        // none is left leased with an unknown outcome, to be sent again by another instance. An
        // attempt has its own deadline; this wait has one too, past which the worker is cut off.
        yield* Effect.addFinalizer(() =>
          looking.take(1).pipe(Effect.timeout(Duration.millis(policy.attemptTimeoutMs + 5_000)), Effect.ignore)
        )
        return delivery
      })
    )
}
