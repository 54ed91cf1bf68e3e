import { Effect, Layer } from "effect"
import { type AuditEntry, type AuditFilter, AuditLog, type StoredAuditEntry } from "../../application/ports/AuditLog.ts"

/**
 * How many audit entries the in-memory log keeps: the newest, the oldest making way. A credential
 * use, or an admin action with small before/after values, took about 380 bytes of heap, so
 * 100,000 of them about 38 MB.
 */
export const MEMORY_AUDIT_ENTRIES = 100_000

/**
 * `before`/`after` as PostgreSQL's jsonb keeps them: a JSON copy taken at append time (a caller
 * changing its object later does not rewrite history), and absent when undefined or null.
 */
const snapshot = (key: "before" | "after", value: unknown): { readonly before?: unknown; readonly after?: unknown } =>
  value === undefined || value === null ? {} : { [key]: JSON.parse(JSON.stringify(value)) }

const stored = (entry: AuditEntry, seq: number): StoredAuditEntry => ({
  seq,
  at: entry.at,
  kind: entry.kind,
  actor: entry.actor,
  action: entry.action,
  target: entry.target,
  ...(entry.requestId === undefined ? {} : { requestId: entry.requestId }),
  ...(entry.keyId === undefined ? {} : { keyId: entry.keyId }),
  ...(entry.payer === undefined ? {} : { payer: entry.payer }),
  outcome: entry.outcome,
  ...snapshot("before", entry.before),
  ...snapshot("after", entry.after)
})

const matches = (e: StoredAuditEntry, f: AuditFilter) =>
  (f.kind === undefined || e.kind === f.kind) &&
  (f.actor === undefined || e.actor === f.actor) &&
  (f.action === undefined || e.action === f.action) &&
  (f.target === undefined || e.target === f.target) &&
  (f.since === undefined || e.at >= f.since) &&
  (f.until === undefined || e.at < f.until)

/**
 * The audit log in process memory, bounded: a ring of the newest `capacity` entries (100,000
 * by default), so that a process on `STORAGE=memory` that runs for days does not grow without
 * bound; PostgreSQL keeps every entry. `seq` counts from 1 and keeps increasing as old entries
 * make way, so a paging cursor stays valid.
 */
export const makeMemoryAuditLog = (capacity: number = MEMORY_AUDIT_ENTRIES) => {
  // The entry with sequence number `seq` sits at `(seq - 1) % capacity`.
  const ring: Array<StoredAuditEntry> = []
  let last = 0 // the newest seq given out
  return AuditLog.of({
    // One synchronous block: a batch lands whole, its entries in order with consecutive seqs.
    append: (entries) =>
      Effect.sync(() => {
        for (const entry of entries) {
          last++
          ring[(last - 1) % capacity] = stored(entry, last)
        }
      }),
    list: (filter) =>
      Effect.sync(() => {
        const out: Array<StoredAuditEntry> = []
        const oldest = last - ring.length + 1
        const newest = filter.beforeSeq === undefined ? last : Math.min(last, Math.ceil(filter.beforeSeq) - 1)
        for (let seq = newest; seq >= oldest && out.length < filter.limit; seq--) {
          const e = ring[(seq - 1) % capacity]!
          if (matches(e, filter)) out.push(e)
        }
        return out
      })
  })
}

export const MemoryAuditLog = Layer.sync(AuditLog, () => makeMemoryAuditLog())
