import { Effect } from "effect"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import type { AuditEntry, AuditFilter, StoredAuditEntry } from "../../src/application/ports/AuditLog.ts"
import { MEMORY_AUDIT_ENTRIES, makeMemoryAuditLog } from "../../src/adapters/memory/MemoryAuditLog.ts"

const entry = (i: number, kind: AuditEntry["kind"], actor: string, at: number): AuditEntry => ({
  at,
  kind,
  actor,
  action: kind === "admin" ? "credits.grant" : "credential.use",
  target: `account:org_${i}`,
  outcome: "ok"
})

describe("MemoryAuditLog", () => {
  it("keeps the newest `capacity` entries with ever-growing seqs, and lists them as a full log would, cut to those", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 8 }),
        fc.array(
          fc.array(fc.tuple(fc.constantFrom("admin", "credential"), fc.constantFrom("a", "b"), fc.nat(20)), { maxLength: 5 }),
          { maxLength: 10 }
        ),
        fc.record({
          kind: fc.option(fc.constantFrom("admin", "credential"), { nil: undefined }),
          actor: fc.option(fc.constantFrom("a", "b"), { nil: undefined }),
          since: fc.option(fc.nat(20), { nil: undefined }),
          until: fc.option(fc.nat(20), { nil: undefined }),
          beforeSeq: fc.option(fc.integer({ min: 0, max: 60 }), { nil: undefined }),
          limit: fc.integer({ min: 0, max: 12 })
        }),
        (capacity, batches, filter: AuditFilter) => {
          const log = makeMemoryAuditLog(capacity)
          const all: Array<StoredAuditEntry> = []
          for (const batch of batches) {
            const entries = batch.map(([kind, actor, at]) => entry(all.length, kind, actor, at))
            Effect.runSync(log.append(entries))
            for (const e of entries) all.push({ ...e, seq: all.length + 1 })
          }
          const kept = all.slice(-capacity)
          const expected = kept
            .filter((e) =>
              (filter.kind === undefined || e.kind === filter.kind) &&
              (filter.actor === undefined || e.actor === filter.actor) &&
              (filter.since === undefined || e.at >= filter.since) &&
              (filter.until === undefined || e.at < filter.until) &&
              (filter.beforeSeq === undefined || e.seq < filter.beforeSeq)
            )
            .reverse()
            .slice(0, filter.limit)
          expect(Effect.runSync(log.list(filter))).toStrictEqual(expected)
          expect(Effect.runSync(log.list({ limit: 1_000 }))).toStrictEqual([...kept].reverse())
        }
      )
    )
  })

  it("keeps 100,000 entries by default: the 100,001st pushes out the first", () => {
    expect(MEMORY_AUDIT_ENTRIES).toBe(100_000)
    const log = makeMemoryAuditLog()
    const batch = Array.from({ length: 1_000 }, (_, i) => entry(i, "credential", "presenton-service", i))
    for (let b = 0; b < 100; b++) Effect.runSync(log.append(batch))
    const full = Effect.runSync(log.list({ limit: 200_000 }))
    expect(full).toHaveLength(100_000)
    expect([full[0]!.seq, full.at(-1)!.seq]).toEqual([100_000, 1])

    Effect.runSync(log.append([entry(0, "admin", "cli:ops", 5)]))
    const after = Effect.runSync(log.list({ limit: 200_000 }))
    expect(after).toHaveLength(100_000)
    expect([after[0]!.seq, after[0]!.actor, after.at(-1)!.seq]).toEqual([100_001, "cli:ops", 2])
  })
})
