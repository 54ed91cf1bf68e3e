import { Effect, Layer, Option } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { type AdminSession, AdminSessionStore } from "../../application/ports/AdminSessionStore.ts"
import type { KeyId } from "../../domain/Ids.ts"
import { orDie } from "./PgSql.ts"

interface AdminSessionRow {
  readonly id_hash: string
  readonly key_id: string
  readonly created_at: number
  readonly last_seen_at: number
  readonly expires_at: number
}

const toSession = (r: AdminSessionRow): AdminSession => ({
  idHash: r.id_hash,
  keyId: r.key_id as KeyId,
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
  expiresAt: r.expires_at
})

/** Dashboard sessions in `admin_sessions` (migration 0009): every instance serves every session. */
export const PgAdminSessionStore = Layer.effect(
  AdminSessionStore,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return AdminSessionStore.of({
      create: (s) =>
        orDie(Effect.asVoid(sql`
          INSERT INTO admin_sessions (id_hash, key_id, created_at, last_seen_at, expires_at)
          VALUES (${s.idHash}, ${s.keyId}, ${s.createdAt}, ${s.lastSeenAt}, ${s.expiresAt})`)),
      find: (idHash) =>
        orDie(Effect.map(
          sql<AdminSessionRow>`SELECT * FROM admin_sessions WHERE id_hash = ${idHash}`,
          (rows) => rows.length === 0 ? Option.none() : Option.some(toSession(rows[0]!))
        )),
      touch: (idHash, at) =>
        orDie(Effect.asVoid(sql`
          UPDATE admin_sessions SET last_seen_at = GREATEST(last_seen_at, ${at}) WHERE id_hash = ${idHash}`)),
      remove: (idHash) => orDie(Effect.asVoid(sql`DELETE FROM admin_sessions WHERE id_hash = ${idHash}`)),
      removeStale: (now, idleBefore) =>
        orDie(Effect.asVoid(sql`DELETE FROM admin_sessions WHERE expires_at <= ${now} OR last_seen_at < ${idleBefore}`))
    })
  })
)
