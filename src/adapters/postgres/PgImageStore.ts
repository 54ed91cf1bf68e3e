import { Effect, Layer, Option } from "effect"
import { SecureRandom } from "effect/crypto"
import * as SqlClient from "effect/sql/SqlClient"
import { ImageStore, type StoredImage } from "../../application/ports/ImageStore.ts"
import { copyBytes, orDie } from "./PgSql.ts"

const hex = (bytes: Uint8Array) => Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")

interface ImageRow {
  readonly id: string
  readonly bytes: Uint8Array
  readonly content_type: string
  readonly expires_at: number
}

/** Images under 128-bit random ids; `baseUrl` is where the HTTP adapter serves them. */
export const PgImageStore = (baseUrl: string) =>
  Layer.effect(
    ImageStore,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const random = yield* SecureRandom.SecureRandom
      return ImageStore.of({
        put: (image) =>
          orDie(Effect.gen(function*() {
            const id = hex(yield* random.randomBytes(16))
            yield* sql`
              INSERT INTO images (id, bytes, content_type, expires_at)
              VALUES (${id}, ${image.bytes}, ${image.contentType}, ${image.expiresAt})`
            return { id, url: `${baseUrl}/${id}.png` }
          })),
        get: (id, now) =>
          orDie(Effect.map(
            sql<ImageRow>`SELECT * FROM images WHERE id = ${id} AND expires_at > ${now}`,
            (rows): Option.Option<StoredImage> =>
              rows.length === 0 ? Option.none() : Option.some({
                id: rows[0]!.id,
                bytes: copyBytes(rows[0]!.bytes),
                contentType: rows[0]!.content_type,
                expiresAt: rows[0]!.expires_at
              })
          )),
        removeExpired: (now) =>
          orDie(Effect.map(sql`DELETE FROM images WHERE expires_at <= ${now} RETURNING id`, (rows) => rows.length))
      })
    })
  )
