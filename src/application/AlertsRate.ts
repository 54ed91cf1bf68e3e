import { Cause, Clock, Context, Duration, Effect, Layer, Option, Schedule } from "effect"
import { type Alert, AlertStore, type RateCheck } from "./ports/AlertStore.ts"
import { AuthFailureLog } from "./ports/AuthFailureLog.ts"

/** Rates are counted over the trailing hour. */
export const RATE_WINDOW_MS = 60 * 60 * 1000

/** Alerted when a count over the trailing hour goes above these (ALERT_*_PER_HOUR). */
export interface RateThresholds {
  /** Refusals attributed to one service. */
  readonly serviceAuthFailures: number
  /** 401s on the image-generation route, whoever sent them. */
  readonly generation401: number
}

export const DEFAULT_RATE_THRESHOLDS: RateThresholds = { serviceAuthFailures: 10, generation401: 5 }

/** The episode key of a service's auth failures, and of generation 401s. */
export const SERVICE_KEY_PREFIX = "auth_failures:"
export const GENERATION_401_KEY = "generation_401"

const unixSeconds = (ms: number) => Math.floor(ms / 1000)

/**
 * Rate alerts on refused requests, from the `AuthFailureLog`: a service's authentication failures
 * (every refusal the log attributes to it: a revoked or expired key of its own, a JWT naming it
 * that failed to verify, and its refusals after authenticating, e.g. a missing user) and 401s on
 * the image-generation route (all of them: most come from credentials nobody can be named for).
 *
 * `check` counts the trailing hour (two grouped counts), and evaluates in the `AlertStore` only
 * what can change: the counts above their threshold and the episodes under way. An episode
 * raises one alert when its count goes above the threshold and re-arms once the count is back at
 * or below it; the store's compare-and-set makes that one alert across instances.
 */
export class RateAlerts extends Context.Service<RateAlerts, {
  /** One evaluation at the current time: the alerts it raised. */
  readonly check: Effect.Effect<ReadonlyArray<Alert>>
}>()("image-gateway/RateAlerts") {
  static readonly make = (options: { readonly thresholds: RateThresholds; readonly intervalMs: number }) =>
    Effect.gen(function*() {
      const check = yield* rateCheck(options.thresholds)
      // A failed check is logged and the next one goes on: alerts never stop the gateway.
      const checkLogged = check.pipe(
        Effect.catchCause((cause) => Effect.logWarning("rate alert check failed", { cause: Cause.pretty(cause).split("\n", 1)[0] }))
      )
      yield* checkLogged.pipe(Effect.repeat(Schedule.spaced(Duration.millis(options.intervalMs))), Effect.forkScoped)
      return RateAlerts.of({ check })
    })

  static readonly layer = (options: { readonly thresholds: RateThresholds; readonly intervalMs: number }) =>
    Layer.effect(RateAlerts, RateAlerts.make(options))
}

/** One evaluation of the rate alerts at the current time, returning the alerts it raised (what `RateAlerts` runs every interval). */
export const rateCheck = (thresholds: RateThresholds) =>
  Effect.gen(function*() {
    const store = yield* AlertStore
    const log = yield* AuthFailureLog

    return Effect.gen(function*() {
      const now = yield* Clock.currentTimeMillis
      const since = now - RATE_WINDOW_MS
      const [generation401, perService, fired] = yield* Effect.all([
        log.count(since, now, { route: "generation", kind: "unauthenticated" }),
        log.countPerService(since, now),
        store.firedRates
      ], { concurrency: 3 })
      const underway = new Set(fired)
      const window = { window_start: unixSeconds(since), window_end: unixSeconds(now) }

      const counts = new Map(perService.map((c) => [c.service, c.count]))
      for (const key of underway) {
        if (key.startsWith(SERVICE_KEY_PREFIX)) {
          const service = key.slice(SERVICE_KEY_PREFIX.length)
          if (!counts.has(service)) counts.set(service, 0)
        }
      }
      const evaluations: Array<RateCheck> = [...counts]
        .filter(([service, count]) => count > thresholds.serviceAuthFailures || underway.has(SERVICE_KEY_PREFIX + service))
        .map(([service, count]) => ({
          key: SERVICE_KEY_PREFIX + service,
          above: count > thresholds.serviceAuthFailures,
          at: now,
          alert: {
            type: "auth_failures.rate_exceeded",
            data: { service, count, threshold: thresholds.serviceAuthFailures, ...window }
          }
        }))
      if (generation401 > thresholds.generation401 || underway.has(GENERATION_401_KEY)) {
        evaluations.push({
          key: GENERATION_401_KEY,
          above: generation401 > thresholds.generation401,
          at: now,
          alert: {
            type: "generation_401.rate_exceeded",
            data: { count: generation401, threshold: thresholds.generation401, ...window }
          }
        })
      }
      const raised = yield* Effect.forEach(evaluations, store.checkRate)
      return raised.flatMap(Option.toArray)
    }).pipe(Effect.withSpan("RateAlerts.check"))
  })
