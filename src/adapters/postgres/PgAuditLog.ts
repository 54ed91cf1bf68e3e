import { PgTypes } from "@effect/sql-pg"
import { Effect, Layer, Result } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { type AuditEntry, AuditLog, type StoredAuditEntry } from "../../application/ports/AuditLog.ts"
import { optional, orDie } from "./PgSql.ts"

interface AuditRow {
  readonly seq: number
  readonly at: number
  readonly kind: AuditEntry["kind"]
  readonly actor: string
  readonly action: string
  readonly target: string
  readonly request_id: string | null
  readonly key_id: string | null
  readonly payer: string | null
  readonly outcome: string
  /** JSONB as the driver parses it. */
  readonly before: unknown
  readonly after: unknown
}

const toEntry = (r: AuditRow): StoredAuditEntry => ({
  seq: r.seq,
  at: r.at,
  kind: r.kind,
  actor: r.actor,
  action: r.action,
  target: r.target,
  ...optional("requestId", r.request_id),
  ...optional("keyId", r.key_id),
  ...optional("payer", r.payer),
  outcome: r.outcome,
  ...optional("before", r.before),
  ...optional("after", r.after)
})

/** One column of a batch as an array parameter of an explicit element type (a column may be all NULL). */
const column = (entries: ReadonlyArray<AuditEntry>, oid: number, value: (e: AuditEntry) => unknown) =>
  Result.getOrThrow(PgTypes.array(entries.map((e) => value(e) ?? null), oid))

/**
 * The audit log on PostgreSQL (`audit_log`, append-only by trigger). A batch is one INSERT of
 * one array per column, unnested WITH ORDINALITY so that `seq` follows the batch's order; the
 * statement's text and its eleven parameters are the same whatever the batch's size.
 */
export const PgAuditLog = Layer.effect(
  AuditLog,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const { OID } = PgTypes
    return AuditLog.of({
      append: (entries) =>
        entries.length === 0 ? Effect.void : orDie(Effect.asVoid(sql`
          INSERT INTO audit_log (at, kind, actor, action, target, request_id, key_id, payer, outcome, before, after)
          SELECT at, kind, actor, action, target, request_id, key_id, payer, outcome, before, after
          FROM unnest(
            ${column(entries, OID.int8, (e) => e.at)}, ${column(entries, OID.text, (e) => e.kind)},
            ${column(entries, OID.text, (e) => e.actor)}, ${column(entries, OID.text, (e) => e.action)},
            ${column(entries, OID.text, (e) => e.target)}, ${column(entries, OID.text, (e) => e.requestId)},
            ${column(entries, OID.text, (e) => e.keyId)}, ${column(entries, OID.text, (e) => e.payer)},
            ${column(entries, OID.text, (e) => e.outcome)}, ${column(entries, OID.jsonb, (e) => e.before)},
            ${column(entries, OID.jsonb, (e) => e.after)}
          ) WITH ORDINALITY AS i (at, kind, actor, action, target, request_id, key_id, payer, outcome, before, after, ord)
          ORDER BY ord`)),
      list: (filter) => {
        if (filter.limit <= 0) return Effect.succeed([])
        const where = [
          ...(filter.kind === undefined ? [] : [sql`kind = ${filter.kind}`]),
          ...(filter.actor === undefined ? [] : [sql`actor = ${filter.actor}`]),
          ...(filter.action === undefined ? [] : [sql`action = ${filter.action}`]),
          ...(filter.target === undefined ? [] : [sql`target = ${filter.target}`]),
          ...(filter.since === undefined ? [] : [sql`at >= ${filter.since}`]),
          ...(filter.until === undefined ? [] : [sql`at < ${filter.until}`]),
          ...(filter.beforeSeq === undefined ? [] : [sql`seq < ${filter.beforeSeq}`])
        ]
        return orDie(Effect.map(
          sql<AuditRow>`
            SELECT seq, at, kind, actor, action, target, request_id, key_id, payer, outcome, before, after
            FROM audit_log WHERE ${sql.and(where)} ORDER BY seq DESC LIMIT ${filter.limit}`,
          (rows) => rows.map(toEntry)
        ))
      }
    })
  })
)
