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
  readonly owner_kind: OwnerKind
  readonly owner: string
  readonly status: KeyStatus
  readonly created_at: number
  readonly expires_at: number | null
  readonly scopes: ReadonlyArray<string> | null
  readonly deprecated_sunset: number | null
  readonly legacy: boolean
  readonly last_used_at: number | null
}

type OwnerKind = "service" | "user" | "admin"

const OWNER_KINDS: { readonly [K in KeyOwner["_tag"]]: OwnerKind } = { Service: "service", User: "user", Admin: "admin" }

const toOwner = (kind: OwnerKind, owner: string): KeyOwner =>
  kind === "service"
    ? { _tag: "Service", service: owner as ServiceName }
    : kind === "user"
    ? { _tag: "User", user: owner as UserId }
    : { _tag: "Admin", admin: owner }

const toKey = (r: KeyRow): ApiKeyRecord => ({
  id: r.id as KeyId,
  prefix: r.prefix,
  hash: r.hash,
  owner: toOwner(r.owner_kind, r.owner),
  status: r.status,
  createdAt: r.created_at,
  legacy: r.legacy,
  ...optional("expiresAt", r.expires_at),
  ...optional("scopes", r.scopes as ReadonlyArray<Scope> | null),
  ...optional("deprecated", r.deprecated_sunset === null ? null : { sunset: r.deprecated_sunset }),
  ...optional("lastUsedAt", r.last_used_at)
})

const ownerColumns = (owner: KeyOwner): { readonly kind: OwnerKind; readonly id: string } => ({
  kind: OWNER_KINDS[owner._tag],
  id: owner._tag === "Service" ? owner.service : owner._tag === "User" ? owner.user : owner.admin
})

const COLUMNS =
  "id, prefix, hash, owner_kind, owner, status, created_at, expires_at, scopes, deprecated_sunset, legacy, last_used_at"

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
              ${record.deprecated?.sunset ?? null}, ${record.legacy}, ${record.lastUsedAt ?? null})
            ON CONFLICT DO NOTHING
            RETURNING ${columns}`
          if (inserted.length > 0) return toKey(inserted[0]!)
          // The hash was taken first: the stored record wins, as the port says. (No arbiter: two
          // instances importing one key at once collide on the id too, which is derived from it.)
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
      },
      find: (id) => orDie(Effect.map(sql<KeyRow>`SELECT ${columns} FROM api_keys WHERE id = ${id}`, one)),
      list: (filter) =>
        orDie(Effect.map(
          sql<KeyRow>`
            SELECT ${columns} FROM api_keys
            ${filter.ownerKind === undefined ? sql.literal("") : sql`WHERE owner_kind = ${OWNER_KINDS[filter.ownerKind]}`}
            ORDER BY seq`,
          (rows) => rows.map(toKey)
        )),
      touch: (uses) => {
        if (uses.length === 0) return Effect.void
        // One statement for the batch. A key used twice in it counts once, at its latest time.
        // Rows are locked in id order first, so that two instances touching the same keys at
        // once cannot deadlock; a row already at a later time is neither locked nor written.
        return orDie(Effect.asVoid(sql`
          WITH uses AS (
            SELECT u.id, max(u.at) AS at
            FROM unnest(${uses.map((u) => u.id)}::text[], ${uses.map((u) => BigInt(u.at))}::int8[]) AS u (id, at)
            GROUP BY u.id
          ), locked AS MATERIALIZED (
            SELECT k.id, u.at FROM api_keys k JOIN uses u ON u.id = k.id
            WHERE k.last_used_at IS NULL OR k.last_used_at < u.at
            ORDER BY k.id
            FOR NO KEY UPDATE OF k
          )
          UPDATE api_keys k SET last_used_at = GREATEST(k.last_used_at, l.at)
          FROM locked l WHERE k.id = l.id`))
      }
    })
  })
)
