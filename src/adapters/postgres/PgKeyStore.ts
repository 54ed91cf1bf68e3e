import { Effect, Layer, Option } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { KeyStore } from "../../application/ports/KeyStore.ts"
import type { ApiKeyRecord, KeyOwner, KeyStatus, Scope } from "../../domain/Entities.ts"
import type { KeyId, ServiceName, UserId } from "../../domain/Ids.ts"
import { optional, orDie } from "./PgSql.ts"

interface KeyRow {
  readonly id: string
  readonly prefix: string
  readonly hash: string
  readonly owner_kind: "service" | "user"
  readonly owner: string
  readonly status: KeyStatus
  readonly created_at: number
  readonly expires_at: number | null
  readonly scopes: ReadonlyArray<string> | null
  readonly deprecated_sunset: number | null
  readonly legacy: boolean
}

const toKey = (r: KeyRow): ApiKeyRecord => ({
  id: r.id as KeyId,
  prefix: r.prefix,
  hash: r.hash,
  owner: r.owner_kind === "service"
    ? { _tag: "Service", service: r.owner as ServiceName }
    : { _tag: "User", user: r.owner as UserId },
  status: r.status,
  createdAt: r.created_at,
  legacy: r.legacy,
  ...optional("expiresAt", r.expires_at),
  ...optional("scopes", r.scopes as ReadonlyArray<Scope> | null),
  ...optional("deprecated", r.deprecated_sunset === null ? null : { sunset: r.deprecated_sunset })
})

const ownerColumns = (owner: KeyOwner) =>
  owner._tag === "Service" ? { kind: "service", id: owner.service as string } : { kind: "user", id: owner.user as string }

const COLUMNS = "id, prefix, hash, owner_kind, owner, status, created_at, expires_at, scopes, deprecated_sunset, legacy"

export const PgKeyStore = Layer.effect(
  KeyStore,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const columns = sql.literal(COLUMNS)
    const one = (rows: ReadonlyArray<KeyRow>) => rows.length === 0 ? Option.none() : Option.some(toKey(rows[0]!))
    const findByHash = (hash: string) => Effect.map(sql<KeyRow>`SELECT ${columns} FROM api_keys WHERE hash = ${hash}`, one)
    return KeyStore.of({
      findByHash: (hash) => orDie(findByHash(hash)),
      insert: (record) =>
        orDie(Effect.gen(function*() {
          const owner = ownerColumns(record.owner)
          const inserted = yield* sql<KeyRow>`
            INSERT INTO api_keys (${columns})
            VALUES (${record.id}, ${record.prefix}, ${record.hash}, ${owner.kind}, ${owner.id}, ${record.status},
              ${record.createdAt}, ${record.expiresAt ?? null}, ${record.scopes === undefined ? null : [...record.scopes]},
              ${record.deprecated?.sunset ?? null}, ${record.legacy})
            ON CONFLICT (hash) DO NOTHING
            RETURNING ${columns}`
          if (inserted.length > 0) return toKey(inserted[0]!)
          // The hash was taken first: the stored record wins, as the port says.
          return Option.getOrThrow(yield* findByHash(record.hash))
        })),
      setStatus: (id, status) =>
        orDie(Effect.map(sql<KeyRow>`UPDATE api_keys SET status = ${status} WHERE id = ${id} RETURNING ${columns}`, one)),
      setExpiry: (id, expiresAt) =>
        orDie(Effect.map(sql<KeyRow>`UPDATE api_keys SET expires_at = ${expiresAt} WHERE id = ${id} RETURNING ${columns}`, one)),
      setDeprecated: (id, sunset) =>
        orDie(Effect.map(
          sql<KeyRow>`UPDATE api_keys SET deprecated_sunset = ${sunset ?? null} WHERE id = ${id} RETURNING ${columns}`,
          one
        )),
      listByOwner: (owner) => {
        const { kind, id } = ownerColumns(owner)
        return orDie(Effect.map(
          sql<KeyRow>`SELECT ${columns} FROM api_keys WHERE owner_kind = ${kind} AND owner = ${id} ORDER BY seq`,
          (rows) => rows.map(toKey)
        ))
      }
    })
  })
)
