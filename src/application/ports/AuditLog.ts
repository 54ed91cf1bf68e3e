import { Context, type Effect } from "effect"

/**
 * One audited fact. `admin`: an operator's action (who, what, on what, before/after). `credential`:
 * one use of a service credential (which service, which key, who paid, how it ended).
 */
export interface AuditEntry {
  readonly at: number
  readonly kind: "admin" | "credential"
  /** `admin`: `key:<admin key id>` or `cli:<os user>`; `credential`: the service name. */
  readonly actor: string
  /** E.g. `service.create`, `key.revoke`, `credits.grant`, `pricing.update`, `credential.use`. */
  readonly action: string
  /** What was acted on, as `<resource>:<id>`, e.g. `service:presenton-service`, `account:org_x`. */
  readonly target: string
  readonly requestId?: string | undefined
  /** The key used (`credential`) or acted on. */
  readonly keyId?: string | undefined
  /** The account that paid (`credential`). */
  readonly payer?: string | undefined
  /** `ok`, or the tag of the error the action or request ended with. */
  readonly outcome: string
  /** Plain JSON, never a secret. */
  readonly before?: unknown
  readonly after?: unknown
}

/** An entry as stored: `seq` orders the log and is the paging cursor. */
export interface StoredAuditEntry extends AuditEntry {
  readonly seq: number
}

export interface AuditFilter {
  readonly kind?: AuditEntry["kind"] | undefined
  readonly actor?: string | undefined
  readonly action?: string | undefined
  readonly target?: string | undefined
  /** Inclusive lower bound on `at`. */
  readonly since?: number | undefined
  /** Exclusive upper bound on `at`. */
  readonly until?: number | undefined
  /** Only entries with `seq` below this (the previous page's last `seq`). */
  readonly beforeSeq?: number | undefined
  readonly limit: number
}

/** The audit log: append-only (PostgreSQL refuses UPDATE and DELETE with a trigger). */
export class AuditLog extends Context.Service<AuditLog, {
  /** Appends in order, in one write. */
  readonly append: (entries: ReadonlyArray<AuditEntry>) => Effect.Effect<void>
  /** Newest first. */
  readonly list: (filter: AuditFilter) => Effect.Effect<ReadonlyArray<StoredAuditEntry>>
}>()("image-gateway/AuditLog") {}
