import { describe, expect, it } from "@effect/vitest"
import { Effect, type Layer } from "effect"
import { type AuthFailure, AuthFailureLog } from "../../src/application/ports/AuthFailureLog.ts"
import { type SeriesGroup, type SeriesQuery, UsageAnalytics } from "../../src/application/ports/UsageAnalytics.ts"
import { type UsageEvent, UsageLog } from "../../src/application/ports/UsageLog.ts"
import type { AccountId } from "../../src/domain/Ids.ts"

type Stores = UsageLog | UsageAnalytics | AuthFailureLog

export interface AnalyticsAdapter {
  readonly name: string
  readonly fresh: () => Layer.Layer<Stores>
}

const at = (iso: string) => Date.parse(iso)
const org = (name: string) => `org_${name}` as AccountId
const alice = "7a6bfd31-0120-4a30-9e21-0fc3b8006579" as AccountId

let serial = 0
const event = (iso: string, fields: Partial<UsageEvent> = {}): UsageEvent => ({
  requestId: `req_${serial++}`,
  at: at(iso),
  actorKind: "service",
  actor: "presenton-service",
  service: "presenton-service",
  authMethod: "service_key",
  payer: org("presenton"),
  model: "dall-e-3",
  n: 1,
  images: 1,
  costMillicredits: 48_000,
  mode: "billed",
  outcome: "success",
  latencyMs: 10,
  ...fields
})

const failure = (iso: string, fields: Partial<AuthFailure> = {}): AuthFailure => ({
  at: at(iso),
  route: "generation",
  kind: "unauthenticated",
  reason: "invalid_api_key",
  ...fields
})

/** March 2026: the 1st and the 8th are Sundays, the 9th a Monday. */
const MARCH = { since: at("2026-03-01T00:00:00.000Z"), until: at("2026-05-01T00:00:00.000Z") }

const whole = (q: Partial<SeriesQuery>): SeriesQuery => ({ ...MARCH, bucket: "day", groupBy: "none", limit: 100, ...q })

/** A group's buckets as `date: requests`, for reading. */
const requestsPerBucket = (g: SeriesGroup | undefined) =>
  Object.fromEntries((g?.points ?? []).map((p) => [new Date(p.bucket).toISOString().slice(0, 10), p.requests]))

/**
 * The analytics read side of the usage log and the auth failure log: the same scenarios and the
 * same answers on every adapter.
 */
export const usageAnalyticsSuite = (adapter: AnalyticsAdapter) =>
  describe(`UsageAnalytics and AuthFailureLog [${adapter.name}]`, () => {
    const test = (name: string, body: Effect.Effect<void, never, Stores>) =>
      it.effect(name, () => Effect.provide(body, adapter.fresh()))
    const record = (events: ReadonlyArray<UsageEvent>) => UsageLog.use((log) => Effect.forEach(events, log.record, { discard: true }))
    const series = (q: Partial<SeriesQuery>) => UsageAnalytics.use((a) => a.series(whole(q)))

    test("puts 23:59:59.999 UTC in its day and 00:00:00.000 in the next, Sunday in its ISO week and Monday in the next, the 31st in March", Effect.gen(function*() {
      yield* record([
        event("2026-03-01T23:59:59.999Z"),
        event("2026-03-02T00:00:00.000Z"),
        event("2026-03-08T23:59:59.999Z"),
        event("2026-03-09T00:00:00.000Z"),
        event("2026-03-31T23:59:59.999Z"),
        event("2026-04-01T00:00:00.000Z")
      ])
      const days = yield* series({ bucket: "day" })
      expect(requestsPerBucket(days.groups[0])).toEqual({
        "2026-03-01": 1,
        "2026-03-02": 1,
        "2026-03-08": 1,
        "2026-03-09": 1,
        "2026-03-31": 1,
        "2026-04-01": 1
      })
      const weeks = yield* series({ bucket: "week" })
      // ISO weeks start on Monday: Sunday the 1st belongs to the week of Monday 23 February.
      expect(requestsPerBucket(weeks.groups[0])).toEqual({
        "2026-02-23": 1,
        "2026-03-02": 2,
        "2026-03-09": 1,
        "2026-03-30": 2
      })
      const months = yield* series({ bucket: "month" })
      expect(requestsPerBucket(months.groups[0])).toEqual({ "2026-03-01": 5, "2026-04-01": 1 })
      expect(months.groups[0]?.key).toBe("total")
    }))

    test("counts events from since (inclusive) to until (exclusive)", Effect.gen(function*() {
      yield* record([event("2026-03-01T00:00:00.000Z"), event("2026-03-01T12:00:00.000Z"), event("2026-03-02T00:00:00.000Z")])
      const page = yield* series({ since: at("2026-03-01T00:00:00.000Z"), until: at("2026-03-02T00:00:00.000Z") })
      expect(page.groups.map((g) => g.requests)).toEqual([2])
      expect(yield* series({ since: at("2026-03-01T00:00:00.001Z"), until: at("2026-03-02T00:00:00.001Z") })).toMatchObject({
        groups: [{ requests: 2 }]
      })
      expect((yield* series({ since: at("2026-04-01T00:00:00.000Z") })).groups).toEqual([])
    }))

    test("sums credits, images and 402s per group and bucket, ordered by credits, then requests, then key", Effect.gen(function*() {
      yield* record([
        event("2026-03-02T10:00:00Z", { costMillicredits: 80_000, images: 1 }),
        event("2026-03-03T10:00:00Z", { costMillicredits: 160_000, images: 2 }),
        event("2026-03-03T11:00:00Z", { costMillicredits: 0, images: 0, outcome: "InsufficientCredits" }),
        // Beyond 32 bits, as a big organization's spending can be.
        event("2026-03-04T10:00:00Z", { service: "bolt-diy-service", actor: "bolt-diy-service", payer: org("bolt"), costMillicredits: 5_000_000_000 }),
        event("2026-03-04T10:00:00Z", { service: "brigade-service", actor: "brigade-service", payer: org("brigade"), costMillicredits: 0, mode: "exempt" }),
        event("2026-03-05T10:00:00Z", { service: "brigade-service", actor: "brigade-service", payer: org("brigade"), costMillicredits: 0, mode: "exempt" }),
        event("2026-03-05T10:00:00Z", { service: "centerdeep-service", actor: "centerdeep-service", payer: org("centerdeep"), costMillicredits: 0, mode: "byok" }),
        event("2026-03-05T10:00:00Z", { service: "alpha-service", actor: "alpha-service", payer: org("alpha"), costMillicredits: 0, mode: "byok" }),
        event("2026-03-06T10:00:00Z", { service: undefined, actorKind: "user", actor: alice, authMethod: "user_key", payer: alice, costMillicredits: 40_000 })
      ])
      const page = yield* series({ groupBy: "service" })
      expect(page.groups.map((g) => [g.key, g.requests, g.costMillicredits])).toEqual([
        ["bolt-diy-service", 1, 5_000_000_000],
        ["presenton-service", 3, 240_000],
        ["-", 1, 40_000],
        ["brigade-service", 2, 0],
        // Same credits and requests: by key.
        ["alpha-service", 1, 0],
        ["centerdeep-service", 1, 0]
      ])
      const presenton = page.groups[1]!
      expect(presenton).toMatchObject({ succeeded: 2, images: 3, insufficientCredits: 1 })
      expect(presenton.points).toEqual([
        { bucket: at("2026-03-02T00:00:00Z"), requests: 1, succeeded: 1, images: 1, costMillicredits: 80_000, insufficientCredits: 0 },
        { bucket: at("2026-03-03T00:00:00Z"), requests: 2, succeeded: 1, images: 2, costMillicredits: 160_000, insufficientCredits: 1 }
      ])
      expect(page.next).toBeUndefined()
      const modes = yield* series({ groupBy: "mode", bucket: "month" })
      expect(modes.groups.map((g) => [g.key, g.requests])).toEqual([["billed", 5], ["byok", 2], ["exempt", 2]])
    }))

    test("names credential kinds as the usage report does, a service acting for a user apart", Effect.gen(function*() {
      yield* record([
        event("2026-03-02T10:00:00Z", { authMethod: "service_key" }),
        event("2026-03-02T10:00:00Z", { authMethod: "service_key", onBehalfOf: alice, payer: alice }),
        event("2026-03-02T10:00:00Z", { authMethod: "service_jwt", onBehalfOf: alice, payer: alice }),
        event("2026-03-02T10:00:00Z", { authMethod: "service_jwt", costMillicredits: 1 }),
        event("2026-03-02T10:00:00Z", { service: undefined, actorKind: "user", actor: alice, authMethod: "session", payer: alice, costMillicredits: 2 }),
        event("2026-03-02T10:00:00Z", { service: undefined, actorKind: "user", actor: alice, authMethod: "user_key", payer: alice, costMillicredits: 3 })
      ])
      const page = yield* series({ groupBy: "credential" })
      expect(page.groups.map((g) => g.key).sort()).toEqual([
        "service_jwt",
        "service_jwt_on_behalf",
        "service_key",
        "service_key_on_behalf",
        "session",
        "user_key"
      ])
    }))

    test("pages through the groups with the cursor: every group once, in order, and the last page says so", Effect.gen(function*() {
      const costs = [5, 9, 9, 1, 7, 3, 9]
      yield* record(costs.map((cost, i) =>
        event("2026-03-10T10:00:00Z", { service: `svc-${String.fromCharCode(103 - i)}`, costMillicredits: cost })))
      const all = (yield* series({ groupBy: "service" })).groups.map((g) => g.key)
      expect(all).toEqual(["svc-a", "svc-e", "svc-f", "svc-c", "svc-g", "svc-b", "svc-d"])
      const seen: Array<string> = []
      let after: SeriesQuery["after"]
      for (let pages = 0; pages < 10; pages++) {
        const page = yield* series({ groupBy: "service", limit: 3, after })
        seen.push(...page.groups.map((g) => g.key))
        if (page.next === undefined) break
        after = page.next
      }
      expect(seen).toEqual(all)
      // A page that ends exactly at the last group has no next.
      const first = yield* series({ groupBy: "service", limit: 4 })
      const last = yield* series({ groupBy: "service", limit: 3, after: first.next })
      expect(last.groups.map((g) => g.key)).toEqual(["svc-g", "svc-b", "svc-d"])
      expect(last.next).toBeUndefined()
    }))

    test("counts refusals per route, kind and service, and per UTC bucket on one route", Effect.gen(function*() {
      const log = yield* AuthFailureLog
      yield* log.append([
        failure("2026-03-01T23:59:59.999Z"),
        failure("2026-03-02T00:00:00.000Z", { reason: "missing_credentials" }),
        failure("2026-03-02T00:00:00.000Z", { reason: "invalid_token", service: "presenton-service" }),
        failure("2026-03-02T05:00:00.000Z", { kind: "service_refused", reason: "unknown_user", service: "presenton-service" }),
        failure("2026-03-02T06:00:00.000Z", { route: "other", reason: "invalid_api_key", service: "bolt-diy-service", keyPrefix: "sk-bolt" })
      ])
      const day1 = at("2026-03-01T00:00:00Z")
      const day2 = at("2026-03-02T00:00:00Z")
      const day3 = at("2026-03-03T00:00:00Z")
      expect(yield* log.count(day1, day3)).toBe(5)
      expect(yield* log.count(day1, day2)).toBe(1)
      expect(yield* log.count(day1, day3, { route: "generation" })).toBe(4)
      expect(yield* log.count(day1, day3, { route: "generation", kind: "unauthenticated" })).toBe(3)
      expect(yield* log.count(day1, day3, { service: "presenton-service" })).toBe(2)
      expect(yield* log.count(day1, day3, { service: "presenton-service", kind: "service_refused" })).toBe(1)
      expect(yield* log.count(day2, day2 + 5 * 3_600_000, {})).toBe(2)
      expect(yield* log.perBucket({ since: day1, until: day3, bucket: "day", route: "generation" })).toEqual([
        { bucket: day1, kind: "unauthenticated", count: 1 },
        { bucket: day2, kind: "service_refused", count: 1 },
        { bucket: day2, kind: "unauthenticated", count: 2 }
      ])
      expect(yield* log.perBucket({ since: day1, until: day3, bucket: "week", route: "other" })).toEqual([
        { bucket: day2, kind: "unauthenticated", count: 1 }
      ])
    }))
  })
