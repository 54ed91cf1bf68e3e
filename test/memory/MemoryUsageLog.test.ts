import { Effect } from "effect"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { UsageEvent } from "../../src/application/ports/UsageLog.ts"
import { MEMORY_USAGE_EVENTS, makeMemoryUsageLog } from "../../src/adapters/memory/MemoryUsageLog.ts"
import type { AccountId } from "../../src/domain/Ids.ts"

const event = (i: number, payer: string, service: string | undefined, at: number): UsageEvent => ({
  requestId: `req_${i}`,
  at,
  actorKind: service === undefined ? "user" : "service",
  actor: service ?? payer,
  service,
  authMethod: service === undefined ? "user_key" : "service_key",
  payer: payer as AccountId,
  model: "local",
  n: 1,
  images: 1,
  costMillicredits: 1_200,
  mode: "billed",
  outcome: "success",
  latencyMs: 1
})

describe("MemoryUsageLog", () => {
  it("keeps the newest `capacity` events and lists them newest first, filtered, up to the limit", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(fc.tuple(fc.constantFrom("org_a", "org_b"), fc.constantFrom(undefined, "svc-a"), fc.nat(20)), { maxLength: 30 }),
        fc.record({
          payer: fc.option(fc.constantFrom("org_a", "org_b"), { nil: undefined }),
          service: fc.option(fc.constant("svc-a"), { nil: undefined }),
          since: fc.option(fc.nat(20), { nil: undefined }),
          limit: fc.option(fc.integer({ min: 0, max: 10 }), { nil: undefined })
        }),
        (capacity, inputs, filter) => {
          const log = makeMemoryUsageLog(capacity)
          const events = inputs.map(([payer, service, at], i) => event(i, payer, service, at))
          for (const e of events) Effect.runSync(log.record(e))
          // The model: the last `capacity` events, newest first, then the filters, then the limit.
          const expected = events.slice(-capacity).reverse()
            .filter((e) => filter.payer === undefined || e.payer === filter.payer)
            .filter((e) => filter.service === undefined || e.service === filter.service)
            .filter((e) => filter.since === undefined || e.at >= filter.since)
            .slice(0, filter.limit ?? Infinity)
          const listed = Effect.runSync(log.list({ ...filter, payer: filter.payer as AccountId | undefined }))
          expect(listed.map((e) => e.requestId)).toEqual(expected.map((e) => e.requestId))
        }
      ),
      { numRuns: 1_000 }
    )
  })

  it("keeps 10,000 events by default (about 4.5 MB), however many are recorded", () => {
    expect(MEMORY_USAGE_EVENTS).toBe(10_000)
    const log = makeMemoryUsageLog()
    for (let i = 0; i < 25_000; i++) Effect.runSync(log.record(event(i, "org_a", "svc-a", i)))
    const listed = Effect.runSync(log.list({}))
    expect(listed).toHaveLength(10_000)
    expect(listed[0]!.requestId).toBe("req_24999")
    expect(listed.at(-1)!.requestId).toBe("req_15000")
  })
})
