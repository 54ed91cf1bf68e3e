import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import { type UsageEvent, type UsageGroup, UsageLog } from "../../src/application/ports/UsageLog.ts"
import type { AccountId } from "../../src/domain/Ids.ts"
import { type PortAdapter, portTest } from "./PortAdapter.ts"

/** Epoch ms in 2100: beyond 32 bits, and still ahead of any clock an adapter might read (TestClock or real). */
const T0 = 4_102_444_800_000
const presentonOrg = "org_presenton_service" as AccountId
const alice = "7a6bfd31-0120-4a30-9e21-0fc3b8006579" as AccountId
const bob = "2f1c6a53-5d8e-4b7a-9a51-3c9e8f0b1d24" as AccountId

/** A service acting on its own: every optional field set. */
const serviceEvent: UsageEvent = {
  requestId: "req_service_0001",
  at: T0,
  actorKind: "service",
  actor: "presenton-service",
  service: "presenton-service",
  onBehalfOf: alice,
  authMethod: "service_key",
  payer: alice,
  model: "dall-e-3",
  provider: "openai",
  n: 1,
  images: 1,
  // Beyond 32 bits, as a big organization's spending can be.
  costMillicredits: 5_000_000_123,
  mode: "billed",
  outcome: "success",
  latencyMs: 1_234,
  // What the provider reported the call cost it: $0.039 in millionths of a dollar.
  providerCostMicroUsd: 39_000
}

/** A user's own failed BYOK call: no optional field. */
const userEvent: UsageEvent = {
  requestId: "req_user_0001",
  at: T0 + 1,
  actorKind: "user",
  actor: bob,
  authMethod: "user_key",
  payer: bob,
  model: "gpt-image-1",
  n: 3,
  images: 0,
  costMillicredits: 0,
  mode: "byok",
  outcome: "ProviderRejected",
  latencyMs: 0
}

const eventOf = (i: number, fields: Partial<UsageEvent> = {}): UsageEvent => ({
  ...userEvent,
  requestId: `req_${i}`,
  at: T0 + i * 1_000,
  ...fields
})

const ids = (events: ReadonlyArray<UsageEvent>) => events.map((e) => e.requestId)

const presenton = { actorKind: "service", actor: "presenton-service", service: "presenton-service" } as const
const boltOrg = "org_bolt_diy_service" as AccountId

/**
 * A week's mix for reports: i = 1…8 fall in [T0 + 1 s, T0 + 9 s); i = 0 and i = 9 (at `until`)
 * do not. Every group's cost and request count differ, so each list has one order.
 */
const reportEvents: ReadonlyArray<UsageEvent> = [
  eventOf(0, { ...presenton, authMethod: "service_key", payer: presentonOrg, model: "dall-e-3", images: 1, costMillicredits: 999_999, mode: "billed", outcome: "success" }),
  eventOf(1, { ...presenton, authMethod: "service_key", payer: presentonOrg, model: "dall-e-3", images: 1, costMillicredits: 48_000, mode: "billed", outcome: "success" }),
  eventOf(2, { ...presenton, authMethod: "service_key", onBehalfOf: alice, payer: alice, model: "dall-e-3", images: 1, costMillicredits: 48_000, mode: "billed", outcome: "success" }),
  // Beyond 32 bits.
  eventOf(3, { ...presenton, authMethod: "service_jwt", onBehalfOf: alice, payer: alice, model: "gpt-image-1", images: 2, costMillicredits: 5_000_000_000, mode: "billed", outcome: "success" }),
  eventOf(4, { actorKind: "service", actor: "bolt-diy-service", service: "bolt-diy-service", authMethod: "service_jwt", payer: boltOrg, model: "dall-e-3", images: 0, costMillicredits: 0, mode: "billed", outcome: "InsufficientCredits" }),
  eventOf(5, { actor: alice, authMethod: "user_key", payer: alice, model: "dall-e-3", images: 1, costMillicredits: 40_000, mode: "billed", outcome: "success" }),
  eventOf(6, { actor: bob, authMethod: "session", payer: bob, model: "gpt-image-1", images: 1, costMillicredits: 0, mode: "byok", outcome: "success" }),
  eventOf(7, { actor: bob, authMethod: "session", payer: bob, model: "dall-e-2", images: 0, costMillicredits: 0, mode: "exempt", outcome: "ProviderRejected" }),
  eventOf(8, { ...presenton, authMethod: "service_key", payer: presentonOrg, model: "dall-e-3", images: 1, costMillicredits: 0, mode: "exempt", outcome: "success" }),
  eventOf(9, { ...presenton, authMethod: "service_key", payer: presentonOrg, model: "dall-e-3", images: 1, costMillicredits: 777, mode: "billed", outcome: "success" })
]

const group = (key: string, requests: number, succeeded: number, images: number, costMillicredits: number): UsageGroup => ({
  key,
  requests,
  succeeded,
  images,
  costMillicredits
})

const REPORT_RANGE = { since: T0 + 1_000, until: T0 + 9_000 }

/** Only the counts: a total's key is the adapter's to choose. */
const counts = (g: UsageGroup) => [g.requests, g.succeeded, g.images, g.costMillicredits]

/** The UsageLog port's contract: every recorded generation attempt, newest first, by payer, service and time. */
export const usageLogSuite = (adapter: PortAdapter<UsageLog>) =>
  describe(`UsageLog [${adapter.name}]`, () => {
    const test = portTest(UsageLog, adapter)

    test("lists nothing before anything is recorded", (log) =>
      Effect.gen(function*() {
        expect(yield* log.list({})).toEqual([])
      }))

    test("keeps every field of an event as recorded, optional ones absent when unset, as soon as record returns", (log) =>
      Effect.gen(function*() {
        yield* log.record(serviceEvent)
        expect(yield* log.list({})).toStrictEqual([serviceEvent])
        yield* log.record(userEvent)
        expect(yield* log.list({ payer: bob })).toStrictEqual([userEvent])
      }))

    test("keeps every billing mode and auth method", (log) =>
      Effect.gen(function*() {
        const variants = [
          { mode: "billed", authMethod: "service_jwt" },
          { mode: "byok", authMethod: "session" },
          { mode: "exempt", authMethod: "service_key" }
        ] as const
        for (const [i, v] of variants.entries()) yield* log.record(eventOf(i, v))
        expect((yield* log.list({})).map((e) => [e.mode, e.authMethod])).toEqual(
          [...variants].reverse().map((v) => [v.mode, v.authMethod])
        )
      }))

    test("lists newest first", (log) =>
      Effect.gen(function*() {
        for (let i = 0; i < 5; i++) yield* log.record(eventOf(i))
        expect(ids(yield* log.list({}))).toEqual(["req_4", "req_3", "req_2", "req_1", "req_0"])
      }))

    test("filters by payer, by service, and from a time on (inclusive)", (log) =>
      Effect.gen(function*() {
        yield* log.record(eventOf(0, { payer: presentonOrg, service: "presenton-service" }))
        yield* log.record(eventOf(1, { payer: alice, service: "presenton-service" }))
        yield* log.record(eventOf(2, { payer: alice }))
        yield* log.record(eventOf(3, { payer: bob, service: "bolt-diy-service" }))
        yield* log.record(eventOf(4, { payer: presentonOrg, service: "presenton-service" }))

        expect(ids(yield* log.list({ payer: alice }))).toEqual(["req_2", "req_1"])
        expect(ids(yield* log.list({ payer: "org_nobody" as AccountId }))).toEqual([])
        expect(ids(yield* log.list({ service: "presenton-service" }))).toEqual(["req_4", "req_1", "req_0"])
        expect(ids(yield* log.list({ since: T0 + 2_000 }))).toEqual(["req_4", "req_3", "req_2"])
        expect(ids(yield* log.list({ since: T0 + 2_001 }))).toEqual(["req_4", "req_3"])
        expect(ids(yield* log.list({ payer: presentonOrg, service: "presenton-service", since: T0 + 1 }))).toEqual([
          "req_4"
        ])
      }))

    test("limits to the newest matches, counting only events that pass the filter", (log) =>
      Effect.gen(function*() {
        for (let i = 0; i < 6; i++) yield* log.record(eventOf(i, { payer: i % 2 === 0 ? alice : bob }))
        expect(ids(yield* log.list({ limit: 2 }))).toEqual(["req_5", "req_4"])
        expect(ids(yield* log.list({ payer: alice, limit: 2 }))).toEqual(["req_4", "req_2"])
        expect(ids(yield* log.list({ payer: bob, since: T0 + 2_000, limit: 5 }))).toEqual(["req_5", "req_3"])
        expect(yield* log.list({ limit: 0 })).toEqual([])
      }))

    test("loses no event recorded concurrently", (log) =>
      Effect.gen(function*() {
        yield* Effect.all(Array.from({ length: 40 }, (_, i) => log.record(eventOf(i))), { concurrency: "unbounded" })
        const listed = yield* log.list({})
        expect(listed).toHaveLength(40)
        expect(new Set(ids(listed))).toEqual(new Set(Array.from({ length: 40 }, (_, i) => `req_${i}`)))
      }))

    test("reports a range's usage in total and by service, payer, model, credential kind and billing mode, largest first", (log) =>
      Effect.gen(function*() {
        // Recorded out of order: the report goes by time, not by arrival.
        for (const e of [...reportEvents].reverse()) yield* log.record(e)
        const report = yield* log.report({ ...REPORT_RANGE, top: 10 })
        expect([report.since, report.until]).toEqual([REPORT_RANGE.since, REPORT_RANGE.until])
        expect(counts(report.total)).toEqual([8, 6, 7, 5_000_136_000])
        expect(report.byService).toEqual([
          group("presenton-service", 4, 4, 5, 5_000_096_000),
          group("-", 3, 2, 2, 40_000),
          group("bolt-diy-service", 1, 0, 0, 0)
        ])
        expect(report.byPayer).toEqual([
          group(alice, 3, 3, 4, 5_000_088_000),
          group(presentonOrg, 2, 2, 2, 48_000),
          group(bob, 2, 1, 1, 0),
          group(boltOrg, 1, 0, 0, 0)
        ])
        expect(report.byModel).toEqual([
          group("gpt-image-1", 2, 2, 3, 5_000_000_000),
          group("dall-e-3", 5, 4, 4, 136_000),
          group("dall-e-2", 1, 0, 0, 0)
        ])
        expect(report.byCredential).toEqual([
          group("service_jwt_on_behalf", 1, 1, 2, 5_000_000_000),
          group("service_key", 2, 2, 2, 48_000),
          group("service_key_on_behalf", 1, 1, 1, 48_000),
          group("user_key", 1, 1, 1, 40_000),
          group("session", 2, 1, 1, 0),
          group("service_jwt", 1, 0, 0, 0)
        ])
        expect(report.byMode).toEqual([
          group("billed", 5, 4, 5, 5_000_136_000),
          group("exempt", 2, 1, 1, 0),
          group("byok", 1, 1, 1, 0)
        ])
      }))

    test("keeps at most `top` groups in each list, the largest, and totals every event in the range", (log) =>
      Effect.gen(function*() {
        for (const e of reportEvents) yield* log.record(e)
        const top2 = yield* log.report({ ...REPORT_RANGE, top: 2 })
        expect(counts(top2.total)).toEqual([8, 6, 7, 5_000_136_000])
        expect(top2.byService.map((g) => g.key)).toEqual(["presenton-service", "-"])
        expect(top2.byPayer.map((g) => g.key)).toEqual([alice, presentonOrg])
        expect(top2.byModel.map((g) => g.key)).toEqual(["gpt-image-1", "dall-e-3"])
        expect(top2.byCredential.map((g) => g.key)).toEqual(["service_jwt_on_behalf", "service_key"])
        expect(top2.byMode).toEqual([group("billed", 5, 4, 5, 5_000_136_000), group("exempt", 2, 1, 1, 0)])
        const none = yield* log.report({ ...REPORT_RANGE, top: 0 })
        expect(counts(none.total)).toEqual([8, 6, 7, 5_000_136_000])
        expect([none.byService, none.byPayer, none.byModel, none.byCredential, none.byMode]).toEqual([[], [], [], [], []])
      }))

    test("counts an event at `since` and none at `until`, and reports zeros for a range with no events", (log) =>
      Effect.gen(function*() {
        const empty = yield* log.report({ since: T0, until: T0 + 100_000, top: 5 })
        expect(counts(empty.total)).toEqual([0, 0, 0, 0])
        expect([empty.byService, empty.byPayer, empty.byModel, empty.byCredential, empty.byMode]).toEqual([[], [], [], [], []])
        for (const e of reportEvents) yield* log.record(e)
        const at9 = yield* log.report({ since: T0 + 9_000, until: T0 + 9_001, top: 5 })
        expect(counts(at9.total)).toEqual([1, 1, 1, 777])
        expect(at9.byPayer).toEqual([group(presentonOrg, 1, 1, 1, 777)])
        const before9 = yield* log.report({ since: T0 + 8_001, until: T0 + 9_000, top: 5 })
        expect(counts(before9.total)).toEqual([0, 0, 0, 0])
        const all = yield* log.report({ since: T0, until: T0 + 10_000, top: 5 })
        expect(counts(all.total)).toEqual([10, 8, 9, 5_000_136_000 + 999_999 + 777])
        expect(all.byService[0]).toEqual(group("presenton-service", 6, 6, 7, 5_000_096_000 + 999_999 + 777))
      }))
  })
