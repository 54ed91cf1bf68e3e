/**
 * Rate alerts (a service's auth failures, generation 401s) and the weekly report, as the
 * gateway's background workers run them, over the memory and the PostgreSQL stores, on the test
 * clock: a count going above its threshold raises one alert, staying above raises none, back at
 * or below then above raises another; two checkers or producers at once raise one; a report
 * missed while the gateway was down is raised by the next start within the week.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Layer, Option, Scope } from "effect"
import { TestClock } from "effect/testing"
import { rateCheck, type RateThresholds } from "../../src/application/AlertsRate.ts"
import { WeeklyReport, weeklyReportKey, weeklyReportProducer } from "../../src/application/AlertsWeekly.ts"
import { type Alert, AlertStore } from "../../src/application/ports/AlertStore.ts"
import { type AuthFailure, AuthFailureLog } from "../../src/application/ports/AuthFailureLog.ts"
import { type UsageEvent, UsageLog } from "../../src/application/ports/UsageLog.ts"
import type { AccountId } from "../../src/domain/Ids.ts"
import { type AdapterSet, memoryAdapterSet, type Ports } from "../../specs/support/AdapterSet.ts"
import { postgresAdapterSet } from "../../specs/support/postgres.ts"

/** Monday 30 November 2026, 00:00 UTC; the week before starts on the 23rd. */
const MONDAY = Date.UTC(2026, 10, 30)
const LAST_WEEK = Date.UTC(2026, 10, 23)
const HOUR = 3_600_000
const MINUTE = 60_000
const THRESHOLDS: RateThresholds = { serviceAuthFailures: 10, generation401: 5 }

const refusal = (at: number, fields: Partial<AuthFailure> = {}): AuthFailure => ({
  at,
  route: "generation",
  kind: "unauthenticated",
  reason: "invalid_api_key",
  ...fields
})

/** `n` refusals, one a second, the last one second before `at` (a window ends before its end time). */
const refusals = (n: number, at: number, fields: Partial<AuthFailure> = {}) =>
  Effect.flatMap(AuthFailureLog, (log) =>
    log.append(Array.from({ length: n }, (_, i) => refusal(at - (n - i) * 1_000, fields))))

const usage = (at: number, fields: Partial<UsageEvent> = {}): UsageEvent => ({
  requestId: `req_${at}_${fields.model ?? "dall-e-3"}_${fields.service ?? "presenton-service"}`,
  at,
  actorKind: "service",
  actor: fields.service ?? "presenton-service",
  service: "presenton-service",
  authMethod: "service_key",
  payer: "org_presenton_service" as AccountId,
  model: "dall-e-3",
  provider: "openai",
  n: 1,
  images: 1,
  costMillicredits: 48_000,
  mode: "billed",
  outcome: "success",
  latencyMs: 100,
  ...fields
})

const listed = Effect.flatMap(AlertStore, (store) => store.list({ limit: 100 }))
const ofType = (type: Alert["type"]) => Effect.map(listed, (all) => all.filter((a) => a.type === type))

/** A checker of its own (another instance of the gateway, as far as the store can tell): its `check`. */
const checker = rateCheck(THRESHOLDS)

/** Polls `effect` (real time, 20 ms apart, at most 5 s) until it returns a value. */
const eventually = <A, E, R>(what: string, effect: Effect.Effect<A | undefined, E, R>) =>
  Effect.gen(function*() {
    for (let i = 0; i < 250; i++) {
      const value = yield* effect
      if (value !== undefined) return value
      yield* Effect.promise(() => new Promise((resolve) => setTimeout(resolve, 20)))
    }
    return yield* Effect.die(new Error(`${what}: not within 5 s`))
  })

const suite = (adapters: AdapterSet) =>
  describe(`rate alerts and the weekly report [${adapters.name}]`, () => {
    /** Runs `body` with the stores of one fresh adapter set, shared by everything it builds. */
    const withStores = <A, E>(body: (ports: Layer.Layer<Ports>) => Effect.Effect<A, E, Ports | Scope.Scope>) =>
      Effect.gen(function*() {
        const context = yield* Layer.build(adapters.fresh())
        const ports = Layer.succeedContext(context)
        return yield* Effect.provide(body(ports), context)
      })

    it.effect("generation 401s: above 5 in the hour fires once; staying above is quiet; back at or below re-arms; above again fires again", () =>
      withStores((ports) =>
        Effect.gen(function*() {
          const T = MONDAY + 10 * HOUR
          yield* TestClock.setTime(T)
          const check = yield* checker
          // Not counted: 401s on other routes, a service's refusal after authenticating, an hour ago.
          yield* refusals(9, T, { route: "other" })
          yield* refusals(9, T, { kind: "service_refused", reason: "missing_user_context", service: "bolt-diy-service" })
          yield* refusals(9, T - HOUR)
          yield* refusals(5, T)
          expect(yield* check).toEqual([]) // 5 is not above 5
          yield* refusals(1, T + 1)
          yield* TestClock.adjust(MINUTE)
          const [first, ...none] = yield* check
          expect(none).toEqual([])
          expect(first).toMatchObject({
            type: "generation_401.rate_exceeded",
            createdAt: T + MINUTE,
            data: { count: 6, threshold: 5, window_start: (T + MINUTE - HOUR) / 1000, window_end: (T + MINUTE) / 1000 }
          })
          expect(Object.keys(first!.data).sort()).toEqual(["count", "threshold", "window_end", "window_start"])
          yield* refusals(20, T + 2 * MINUTE)
          yield* TestClock.adjust(MINUTE)
          expect(yield* check).toEqual([])
          // An hour later the window holds none: re-armed, nothing raised.
          yield* TestClock.adjust(HOUR)
          expect(yield* check).toEqual([])
          yield* refusals(6, T + HOUR + 3 * MINUTE)
          yield* TestClock.adjust(MINUTE)
          expect((yield* check).map((a) => a.data["count"])).toEqual([6])
          expect(yield* ofType("generation_401.rate_exceeded")).toHaveLength(2)
          expect(yield* ofType("auth_failures.rate_exceeded")).toHaveLength(0) // 9 for bolt-diy-service: not above 10
        })
      ))

    it.effect("a service's auth failures: every refusal attributed to it counts, per service; above 10 fires once per service", () =>
      withStores((ports) =>
        Effect.gen(function*() {
          const T = MONDAY + 10 * HOUR
          yield* TestClock.setTime(T)
          const check = yield* checker
          // bolt-diy-service: 11 of both kinds on both routes; presenton-service: 10; unattributed refusals: not a service's.
          yield* refusals(6, T, { service: "bolt-diy-service", reason: "invalid_api_key", keyPrefix: "sk-bolt-diy" })
          yield* refusals(5, T, { service: "bolt-diy-service", kind: "service_refused", reason: "missing_user_context", route: "other" })
          yield* refusals(10, T, { service: "presenton-service", kind: "service_refused", reason: "unknown_user" })
          yield* refusals(30, T, { route: "other" })
          const raised = (yield* check).filter((a) => a.type === "auth_failures.rate_exceeded")
          expect(raised.map((a) => a.data)).toEqual([
            { service: "bolt-diy-service", count: 11, threshold: 10, window_start: (T - HOUR) / 1000, window_end: T / 1000 }
          ])
          expect(JSON.stringify(raised)).not.toContain("sk-bolt-diy")
          yield* refusals(1, T + 1, { service: "presenton-service", kind: "service_refused", reason: "unknown_user" })
          yield* TestClock.adjust(MINUTE)
          const next = yield* check
          expect(next.filter((a) => a.type === "auth_failures.rate_exceeded").map((a) => a.data["service"])).toEqual(["presenton-service"])
          yield* TestClock.adjust(MINUTE)
          expect((yield* check).filter((a) => a.type === "auth_failures.rate_exceeded")).toEqual([])
          // An hour on, both re-arm (neither has a refusal in the window any more); one more episode for bolt-diy-service.
          yield* TestClock.adjust(HOUR)
          expect(yield* check).toEqual([])
          expect(yield* Effect.flatMap(AlertStore, (s) => s.firedRates)).toEqual([])
          yield* refusals(11, T + HOUR + 2 * MINUTE, { service: "bolt-diy-service", route: "other" })
          yield* TestClock.adjust(MINUTE)
          expect((yield* check).map((a) => a.data["service"])).toEqual(["bolt-diy-service"])
          expect(yield* ofType("auth_failures.rate_exceeded")).toHaveLength(3)
        })
      ))

    it.effect("two checkers at once over one store raise one alert per episode", () =>
      withStores((ports) =>
        Effect.gen(function*() {
          const T = MONDAY + 10 * HOUR
          yield* TestClock.setTime(T)
          const [a, b] = [yield* checker, yield* checker]
          yield* refusals(7, T)
          yield* refusals(12, T, { service: "brigade-service", kind: "service_refused", reason: "scope_denied" })
          const raised = yield* Effect.all([a, b, a, b], { concurrency: "unbounded" })
          expect(raised.flat().map((x) => x.type).sort()).toEqual(["auth_failures.rate_exceeded", "generation_401.rate_exceeded"])
          expect(yield* listed).toHaveLength(2)
        })
      ))

    it.effect("the weekly report: last week's totals and top groups at Monday 00:00, once under two producers, not again after a restart that week", () =>
      withStores((ports) =>
        Effect.gen(function*() {
          const usageLog = yield* UsageLog
          yield* usageLog.record(usage(LAST_WEEK)) // Monday 00:00: in
          yield* usageLog.record(usage(MONDAY - 1, { model: "gpt-image-1", costMillicredits: 90_000, service: "bolt-diy-service", payer: "org_bolt_diy_service" as AccountId }))
          yield* usageLog.record(usage(LAST_WEEK + HOUR, { outcome: "ProviderFailed", images: 0, costMillicredits: 0 }))
          yield* usageLog.record(usage(LAST_WEEK - 1, { costMillicredits: 1_000_000 })) // the week before: out
          yield* usageLog.record(usage(MONDAY, { costMillicredits: 1_000_000 })) // this week: out
          const producers = [yield* weeklyReportProducer, yield* weeklyReportProducer]
          // Sunday 23:59:59.999: the report due is the week before last's (its one request at LAST_WEEK - 1).
          yield* TestClock.setTime(MONDAY - 1)
          expect((yield* producers[0]!).pipe(Option.map((a) => a.data["week_start"]))).toEqual(Option.some((LAST_WEEK - 7 * 24 * HOUR) / 1000))
          yield* TestClock.setTime(MONDAY)
          const raised = (yield* Effect.all([...producers, ...producers], { concurrency: "unbounded" })).flatMap(Option.toArray)
          expect(raised).toHaveLength(1)
          expect(raised[0]!.data).toEqual({
            week_start: LAST_WEEK / 1000,
            week_end: MONDAY / 1000,
            total: { requests: 3, succeeded: 2, images: 2, cost_millicredits: 138_000 },
            top_services: [
              { service: "bolt-diy-service", requests: 1, succeeded: 1, images: 1, cost_millicredits: 90_000 },
              { service: "presenton-service", requests: 2, succeeded: 1, images: 1, cost_millicredits: 48_000 }
            ],
            top_payers: [
              { payer: "org_bolt_diy_service", requests: 1, succeeded: 1, images: 1, cost_millicredits: 90_000 },
              { payer: "org_presenton_service", requests: 2, succeeded: 1, images: 1, cost_millicredits: 48_000 }
            ],
            top_models: [
              { model: "gpt-image-1", requests: 1, succeeded: 1, images: 1, cost_millicredits: 90_000 },
              { model: "dall-e-3", requests: 2, succeeded: 1, images: 1, cost_millicredits: 48_000 }
            ]
          })
          // A restart on Thursday: the new process's look at start-up finds the week reported.
          yield* TestClock.setTime(MONDAY + 3 * 24 * HOUR)
          const restarted = yield* weeklyReportProducer
          expect(yield* restarted).toEqual(Option.none())
          expect((yield* ofType("report.weekly")).map((a) => a.data["week_start"])).toEqual([LAST_WEEK / 1000, (LAST_WEEK - 7 * 24 * HOUR) / 1000])
        })
      ))

    it.effect("a report missed while the gateway was down is raised by the next start within the week", () =>
      withStores((ports) =>
        Effect.gen(function*() {
          const usageLog = yield* UsageLog
          yield* usageLog.record(usage(LAST_WEEK + 5 * HOUR))
          // Down from Sunday to Wednesday: the start-up look raises last week's report.
          yield* TestClock.setTime(MONDAY + 2 * 24 * HOUR + 9 * HOUR)
          yield* Layer.build(WeeklyReport.layer.pipe(Layer.provide(ports)))
          const [report] = yield* eventually("the report after the restart", Effect.map(ofType("report.weekly"), (r) => r.length > 0 ? r : undefined))
          expect(report!.data).toMatchObject({ week_start: LAST_WEEK / 1000, total: { requests: 1, cost_millicredits: 48_000 } })
          expect(yield* Effect.flatMap(AlertStore, (s) => s.raised(weeklyReportKey(LAST_WEEK)))).toBe(true)
          // The worker sleeps until next Monday 00:00, then raises that week's report.
          yield* usageLog.record(usage(MONDAY + 3 * 24 * HOUR, { costMillicredits: 40_000 }))
          yield* TestClock.setTime(MONDAY + 7 * 24 * HOUR)
          const reports = yield* eventually("next week's report", Effect.map(ofType("report.weekly"), (r) => r.length > 1 ? r : undefined))
          expect(reports.map((r) => r.data["week_start"])).toEqual([MONDAY / 1000, LAST_WEEK / 1000])
          expect(reports[0]!.data["total"]).toEqual({ requests: 1, succeeded: 1, images: 1, cost_millicredits: 40_000 })
        })
      ))
  })

suite(memoryAdapterSet)
suite(postgresAdapterSet())
