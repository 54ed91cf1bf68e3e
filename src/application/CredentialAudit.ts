import { Context, Effect, Layer } from "effect"
import type { KeyId } from "../domain/Ids.ts"
import { makeBufferedWriter } from "./BufferedWriter.ts"
import { type AuditEntry, AuditLog } from "./ports/AuditLog.ts"
import { KeyStore } from "./ports/KeyStore.ts"

export interface CredentialAuditOptions {
  /** How often waiting entries and key uses are written. */
  readonly flushIntervalMs: number
  /** Waiting entries that start a write before the interval is up. */
  readonly flushAtEntries: number
  /** Entries held at most (waiting plus being written); beyond it new ones are dropped and counted. */
  readonly capacity: number
  /** Tries of one write before its batch is dropped and counted. */
  readonly maxAttempts: number
  /** The pause before the second try; doubled before each later one. */
  readonly retryDelayMs: number
  /** The deadline of one store call. */
  readonly writeTimeoutMs: number
  /** The deadline of the last write when the layer closes. */
  readonly shutdownTimeoutMs: number
}

export const defaultCredentialAuditOptions: CredentialAuditOptions = {
  flushIntervalMs: 250,
  flushAtEntries: 1_000,
  capacity: 100_000,
  maxAttempts: 3,
  retryDelayMs: 200,
  writeTimeoutMs: 10_000,
  shutdownTimeoutMs: 5_000
}

/** What the buffer has done since the layer was built. */
export interface CredentialAuditStats {
  /** Entries waiting or being written. */
  readonly pending: number
  /** Entries written to the audit log. */
  readonly written: number
  /** Entries refused because the buffer was full. */
  readonly droppedFull: number
  /** Entries given up after every try to write them failed (or the shutdown deadline passed). */
  readonly droppedFailed: number
  /** Key uses refused because as many distinct keys were already waiting as the buffer holds. */
  readonly touchesDroppedFull: number
  /** Key uses given up after every try to write them failed. */
  readonly touchesDroppedFailed: number
}

/**
 * The audit of service credentials: every use (`record`) and every key's last use (`touch`).
 * Neither waits on a store: each goes to a `BufferedWriter`, written every `flushIntervalMs`
 * (sooner once `flushAtEntries` entries wait) with one `AuditLog.append` and one `KeyStore.touch`
 * (each key's latest time only). Both buffers are bounded by `capacity` (entries; distinct keys):
 * beyond it new ones are dropped and counted, with one warning per streak of drops. A failed
 * write is logged and tried again a bounded number of times, then dropped and counted; entries
 * keep their order across writes. When the layer closes, what waits is written, within a
 * deadline.
 */
export class CredentialAudit extends Context.Service<CredentialAudit, {
  readonly record: (entry: AuditEntry) => Effect.Effect<void>
  readonly touch: (keyId: KeyId, at: number) => Effect.Effect<void>
  /** Writes what waits now (after any write in flight); for callers that must read their own entries. */
  readonly flush: Effect.Effect<void>
  readonly stats: Effect.Effect<CredentialAuditStats>
}>()("image-gateway/CredentialAudit") {
  static readonly layerWith = (
    overrides: Partial<CredentialAuditOptions> = {}
  ): Layer.Layer<CredentialAudit, never, AuditLog | KeyStore> =>
    Layer.effect(
      CredentialAudit,
      Effect.gen(function*() {
        const { flushAtEntries, ...options } = { ...defaultCredentialAuditOptions, ...overrides }
        const writerOptions = { ...options, flushAtItems: flushAtEntries }
        const log = yield* AuditLog
        const keys = yield* KeyStore
        const label = "Credential audit"
        const entries = yield* makeBufferedWriter(
          { label, noun: "entries", write: "audit append", store: "audit log" },
          log.append,
          writerOptions
        )
        const uses = yield* makeBufferedWriter(
          { label, noun: "keys' last uses", write: "key last-use update", store: "key store" },
          keys.touch,
          writerOptions,
          // One row per key: its latest use.
          { key: (use) => use.id, keep: (waiting, offered) => (offered.at > waiting.at ? offered : waiting) }
        )
        return CredentialAudit.of({
          record: entries.offer,
          touch: (id, at) => uses.offer({ id, at }),
          // Two stores, two independent writes: side by side.
          flush: Effect.all([entries.flush, uses.flush], { concurrency: 2, discard: true }),
          stats: Effect.map(Effect.all([entries.stats, uses.stats]), ([e, u]) => ({
            pending: e.pending,
            written: e.written,
            droppedFull: e.droppedFull,
            droppedFailed: e.droppedFailed,
            touchesDroppedFull: u.droppedFull,
            touchesDroppedFailed: u.droppedFailed
          }))
        })
      })
    )

  static readonly layer = CredentialAudit.layerWith()
}
