import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import { type UsageEvent, UsageLog } from "../../src/application/ports/UsageLog.ts"
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
  latencyMs: 1_234
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
  })
