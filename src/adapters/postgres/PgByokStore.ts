import { Effect, Layer, Option, Redacted } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto"
import { ByokStore } from "../../application/ports/ByokStore.ts"
import type { ByokKey } from "../../domain/Entities.ts"
import type { ProviderName } from "../../domain/Models.ts"
import { orDie } from "./PgSql.ts"

const IV_BYTES = 12
const TAG_BYTES = 16

/**
 * AES-256-GCM with a key derived (SHA-256) from the configured secret. The additional data binds
 * a ciphertext to its account and key id, so a ciphertext copied onto another row fails to open.
 */
export const makeByokCipher = (secret: Redacted.Redacted<string>) => {
  const key = createHash("sha256").update(Redacted.value(secret), "utf8").digest()
  const aad = (account: string, id: string) => Buffer.from(`${account}\u0000${id}`, "utf8")
  return {
    seal: (account: string, id: string, plaintext: string): Uint8Array => {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv("aes-256-gcm", key, iv).setAAD(aad(account, id))
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()])
      return Buffer.concat([iv, cipher.getAuthTag(), body])
    },
    open: (account: string, id: string, sealed: Uint8Array): string => {
      const bytes = Buffer.from(sealed)
      const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, IV_BYTES))
        .setAAD(aad(account, id))
        .setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
      return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8")
    }
  }
}

interface ByokRow {
  readonly id: string
  readonly account: string
  readonly provider: ProviderName
  readonly ciphertext: Uint8Array
  readonly last4: string
  readonly enabled: boolean
  readonly created_at: number
}

/** Provider keys, kept encrypted at rest; only `last4` is stored in clear. */
export const PgByokStore = (byokKey: Redacted.Redacted<string>) =>
  Layer.effect(
    ByokStore,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const cipher = makeByokCipher(byokKey)
      // A key that no longer opens (a changed BYOK secret) is a defect, not a silent "no key".
      const secretOf = (r: ByokRow) => Redacted.make(cipher.open(r.account, r.id, r.ciphertext))
      const toKey = (r: ByokRow): ByokKey => ({
        id: r.id,
        account: r.account,
        provider: r.provider,
        secret: secretOf(r),
        last4: r.last4,
        enabled: r.enabled,
        createdAt: r.created_at
      })
      return ByokStore.of({
        findEnabled: (account, provider) =>
          orDie(Effect.map(
            sql<ByokRow>`
              SELECT * FROM byok_keys WHERE account = ${account} AND provider = ${provider} AND enabled
              ORDER BY seq LIMIT 1`,
            (rows) => rows.length === 0 ? Option.none() : Option.some(secretOf(rows[0]!))
          )),
        add: (key) =>
          orDie(Effect.asVoid(sql`
            INSERT INTO byok_keys (account, id, provider, ciphertext, last4, enabled, created_at)
            VALUES (${key.account}, ${key.id}, ${key.provider},
              ${cipher.seal(key.account, key.id, Redacted.value(key.secret))}, ${key.last4}, ${key.enabled}, ${key.createdAt})`)),
        list: (account) =>
          orDie(Effect.map(
            sql<ByokRow>`SELECT * FROM byok_keys WHERE account = ${account} ORDER BY seq`,
            (rows) => rows.map(toKey)
          )),
        remove: (account, id) =>
          orDie(Effect.map(
            sql`DELETE FROM byok_keys WHERE account = ${account} AND id = ${id} RETURNING id`,
            (rows) => rows.length > 0
          )),
        setEnabled: (account, id, enabled) =>
          orDie(Effect.map(
            sql`UPDATE byok_keys SET enabled = ${enabled} WHERE account = ${account} AND id = ${id} RETURNING id`,
            (rows) => rows.length > 0
          ))
      })
    })
  )
