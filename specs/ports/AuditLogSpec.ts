import { describe, expect } from "@effect/vitest"
import { Effect } from "effect"
import { type AuditEntry, type AuditFilter, AuditLog, type StoredAuditEntry } from "../../src/application/ports/AuditLog.ts"
import { type PortAdapter, portTest } from "./PortAdapter.ts"

/** Epoch ms in 2100: beyond 32 bits. */
const T0 = 4_102_444_800_000

/** An operator's change, every optional field set, before/after nested JSON. */
const adminEntry: AuditEntry = {
  at: T0,
  kind: "admin",
  actor: "key:adm_01HZX",
  action: "pricing.update",
  target: "pricing:current",
  requestId: "req_admin_0001",
  keyId: "adm_01HZX",
  payer: "org_presenton_service",
  outcome: "ok",
  before: {
    version: 3,
    tiers: { multipliersBps: { free: 15_000, managed: 12_000 }, creditExempt: [], billingEnabled: true },
    cap: null,
    // Beyond 32 bits, and text beyond ASCII.
    balance: 5_000_000_123,
    note: "prix révisés — 価格"
  },
  after: [{ model: "dall-e-3", quality: "standard", size: "1024x1024", millicredits: 40_000 }, 1.5, "x", false]
}

/** One use of a service credential that ended in an error: no optional field. */
const credentialEntry: AuditEntry = {
  at: T0 + 1,
  kind: "credential",
  actor: "presenton-service",
  action: "credential.use",
  target: "service:presenton-service",
  outcome: "InsufficientCredits"
}

const entryOf = (i: number, fields: Partial<AuditEntry> = {}): AuditEntry => ({
  at: T0 + i * 1_000,
  kind: "admin",
  actor: "cli:ops",
  action: "credits.grant",
  target: `account:org_${i}`,
  outcome: "ok",
  ...fields
})

const withoutSeq = ({ seq: _, ...entry }: StoredAuditEntry): AuditEntry => entry
const targets = (entries: ReadonlyArray<AuditEntry>) => entries.map((e) => e.target)
const seqs = (entries: ReadonlyArray<StoredAuditEntry>) => entries.map((e) => e.seq)
const isDecreasing = (xs: ReadonlyArray<number>) => xs.every((x, i) => i === 0 || x < xs[i - 1]!)

const ALL = 1_000

/** The AuditLog port's contract: entries kept as appended, numbered in order, listed newest first by filter and cursor. */
export const auditLogSuite = (adapter: PortAdapter<AuditLog>) =>
  describe(`AuditLog [${adapter.name}]`, () => {
    const test = portTest(AuditLog, adapter)

    test("lists nothing when nothing was appended, an empty batch included", (log) =>
      Effect.gen(function*() {
        expect(yield* log.list({ limit: ALL })).toEqual([])
        yield* log.append([])
        expect(yield* log.list({ limit: ALL })).toEqual([])
      }))

    test("keeps every field of an entry as appended, optional ones absent when unset, newest first", (log) =>
      Effect.gen(function*() {
        yield* log.append([adminEntry])
        yield* log.append([credentialEntry])
        const listed = yield* log.list({ limit: ALL })
        expect(listed.map(withoutSeq)).toStrictEqual([credentialEntry, adminEntry])
        expect(Object.keys(listed[0]!).sort()).toEqual(["action", "actor", "at", "kind", "outcome", "seq", "target"])
        expect(listed.every((e) => Number.isSafeInteger(e.seq) && e.seq > 0)).toBe(true)
      }))

    test("numbers entries with a seq that grows in the order appended, within a batch and across batches", (log) =>
      Effect.gen(function*() {
        yield* log.append([entryOf(1), entryOf(2), entryOf(3)])
        yield* log.append([entryOf(4), entryOf(5)])
        // Times out of order: the log's order is the order of appending, not of `at`.
        yield* log.append([entryOf(0, { at: T0 + 99_000 })])
        const listed = yield* log.list({ limit: ALL })
        expect(targets(listed)).toEqual([0, 5, 4, 3, 2, 1].map((i) => `account:org_${i}`))
        expect(isDecreasing(seqs(listed))).toBe(true)
      }))

    test("filters by kind, actor, action and target, each alone and all together", (log) =>
      Effect.gen(function*() {
        yield* log.append([
          entryOf(1),
          entryOf(2, { kind: "credential", actor: "presenton-service", action: "credential.use", target: "service:presenton-service" }),
          entryOf(3, { actor: "key:adm_1", action: "key.revoke", target: "key:key_9" }),
          entryOf(4, { actor: "key:adm_1", target: "account:org_1" }),
          entryOf(5, { kind: "credential", actor: "bolt-diy-service", action: "credential.use", target: "service:bolt-diy-service" })
        ])
        const ats = (filter: Omit<AuditFilter, "limit">) =>
          Effect.map(log.list({ ...filter, limit: ALL }), (es) => es.map((e) => (e.at - T0) / 1_000))
        expect(yield* ats({ kind: "credential" })).toEqual([5, 2])
        expect(yield* ats({ kind: "admin" })).toEqual([4, 3, 1])
        expect(yield* ats({ actor: "key:adm_1" })).toEqual([4, 3])
        expect(yield* ats({ action: "credential.use" })).toEqual([5, 2])
        expect(yield* ats({ target: "account:org_1" })).toEqual([4, 1])
        expect(yield* ats({ kind: "admin", actor: "key:adm_1", action: "credits.grant", target: "account:org_1" }))
          .toEqual([4])
        expect(yield* ats({ kind: "credential", actor: "key:adm_1" })).toEqual([])
        expect(yield* ats({ target: "account:org_9" })).toEqual([])
      }))

    test("filters by time: `since` inclusive, `until` exclusive", (log) =>
      Effect.gen(function*() {
        yield* log.append([1, 2, 3, 4, 5].map((i) => entryOf(i)))
        const ats = (filter: Omit<AuditFilter, "limit">) =>
          Effect.map(log.list({ ...filter, limit: ALL }), (es) => es.map((e) => (e.at - T0) / 1_000))
        expect(yield* ats({ since: T0 + 2_000 })).toEqual([5, 4, 3, 2])
        expect(yield* ats({ until: T0 + 4_000 })).toEqual([3, 2, 1])
        expect(yield* ats({ since: T0 + 2_000, until: T0 + 4_000 })).toEqual([3, 2])
        expect(yield* ats({ since: T0 + 2_001, until: T0 + 3_000 })).toEqual([])
        expect(yield* ats({ since: T0 + 3_000, until: T0 + 3_000 })).toEqual([])
      }))

    test("answers at most `limit` entries, the newest, and none for a limit of 0", (log) =>
      Effect.gen(function*() {
        yield* log.append([1, 2, 3, 4, 5].map((i) => entryOf(i)))
        expect(targets(yield* log.list({ limit: 2 }))).toEqual(["account:org_5", "account:org_4"])
        expect(targets(yield* log.list({ kind: "admin", since: T0 + 2_000, limit: 1 }))).toEqual(["account:org_5"])
        expect(yield* log.list({ limit: 0 })).toEqual([])
      }))

    test("pages newest first with the `beforeSeq` cursor, every entry exactly once, filters applied on each page", (log) =>
      Effect.gen(function*() {
        const entries = Array.from(
          { length: 23 },
          (_, i) => entryOf(i, i % 3 === 0 ? { kind: "credential", actor: "presenton-service" } : {})
        )
        yield* log.append(entries.slice(0, 10))
        yield* log.append(entries.slice(10))
        const pages = (filter: Omit<AuditFilter, "limit" | "beforeSeq">, size: number) =>
          Effect.gen(function*() {
            const out: Array<Array<StoredAuditEntry>> = []
            let beforeSeq: number | undefined
            // Bounded: a cursor that does not move must fail the test, not loop.
            for (let n = 0; n < 50; n++) {
              const page = yield* log.list({ ...filter, beforeSeq, limit: size })
              if (page.length === 0) return out
              expect(page.length).toBeLessThanOrEqual(size)
              out.push([...page])
              beforeSeq = page[page.length - 1]!.seq
            }
            throw new Error("paging did not reach the end in 50 pages")
          })
        const all = yield* pages({}, 7)
        expect(all.map((p) => p.length)).toEqual([7, 7, 7, 2])
        expect(all.flat().map(withoutSeq)).toStrictEqual([...entries].reverse())
        expect(isDecreasing(seqs(all.flat()))).toBe(true)

        const credentialPages = yield* pages({ kind: "credential" }, 3)
        expect(credentialPages.map((p) => p.length)).toEqual([3, 3, 2])
        expect(credentialPages.flat().map(withoutSeq)).toStrictEqual(
          entries.filter((e) => e.kind === "credential").reverse()
        )

        // A cursor at the oldest entry leaves nothing before it.
        const oldest = all.flat().at(-1)!
        expect(yield* log.list({ beforeSeq: oldest.seq, limit: ALL })).toEqual([])
        // A cursor past the newest lists everything.
        expect((yield* log.list({ beforeSeq: all[0]![0]!.seq + 1_000, limit: ALL })).length).toBe(23)
      }))

    test("keeps before/after as they were at appending, whatever the caller does to its objects later", (log) =>
      Effect.gen(function*() {
        const before = { multipliersBps: { free: 15_000 }, creditExempt: ["vip_founder"] }
        yield* log.append([entryOf(1, { before, after: { ...before, billingEnabled: false } })])
        before.multipliersBps.free = 1
        before.creditExempt.push("free")
        const [stored] = yield* log.list({ limit: 1 })
        expect(stored!.before).toStrictEqual({ multipliersBps: { free: 15_000 }, creditExempt: ["vip_founder"] })
      }))

    test("keeps every entry of concurrent appends, each batch's entries in the batch's order", (log) =>
      Effect.gen(function*() {
        const batches = Array.from(
          { length: 8 },
          (_, b) => Array.from({ length: 5 }, (_, i) => entryOf(b * 10 + i, { actor: `key:adm_${b}` }))
        )
        yield* Effect.all(batches.map((batch) => log.append(batch)), { concurrency: "unbounded", discard: true })
        const listed = yield* log.list({ limit: ALL })
        expect(listed).toHaveLength(40)
        expect(isDecreasing(seqs(listed))).toBe(true)
        for (const [b, batch] of batches.entries()) {
          const own = listed.filter((e) => e.actor === `key:adm_${b}`).reverse()
          expect(own.map(withoutSeq)).toStrictEqual(batch)
        }
      }))
  })
