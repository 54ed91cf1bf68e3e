import { Effect, Layer, Option, Redacted } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { ByokStore, type ResealReport } from "../../application/ports/ByokStore.ts"
import type { ByokKey } from "../../domain/Entities.ts"
import type { AccountId } from "../../domain/Ids.ts"
import type { ProviderName } from "../../domain/Models.ts"
import { makeKeyring } from "./ByokKeyring.ts"
import { copyBytes, orDie } from "./PgSql.ts"

interface ByokRow {
  readonly seq: number
  readonly id: string
  readonly account: string
  readonly provider: ProviderName
  readonly ciphertext: Uint8Array
  /** The encryption key that sealed the row; null for rows from before key ids. */
  readonly key_id: string | null
  readonly last4: string
  readonly enabled: boolean
  readonly created_at: number
}

/** Rows looked at per round of `reseal`. */
const RESEAL_BATCH = 200

/**
 * Provider keys, kept encrypted at rest (AES-256-GCM, `ByokKeyring.ts`); only `last4` is stored
 * in clear. `key` seals every row written; `oldKeys` (BYOK_ENCRYPTION_KEYS_OLD) only opens rows
 * sealed before a rotation.
 */
export const PgByokStore = (key: Redacted.Redacted<string>, oldKeys: Redacted.Redacted<string> | undefined = undefined) =>
  Layer.effect(
    ByokStore,
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      const keyring = yield* Effect.try({ try: () => makeKeyring(key, oldKeys), catch: (e) => e }).pipe(Effect.orDie)
      // A key that no longer opens (a dropped or changed encryption key) is a defect, not a silent "no key".
      const secretOf = (r: ByokRow) => Redacted.make(keyring.open(r.account, r.id, r.key_id, r.ciphertext))
      const toKey = (r: ByokRow): ByokKey => ({
        id: r.id,
        account: r.account,
        provider: r.provider,
        secret: secretOf(r),
        last4: r.last4,
        enabled: r.enabled,
        createdAt: r.created_at
      })

      /**
       * Rewrites the rows not under the current key, a batch at a time. Each row changes in one
       * statement and only if it is still as it was read (`WHERE ciphertext = <as read>`): a row
       * removed or rewritten meanwhile is left alone, and a second run finds nothing to do.
       */
      const reseal = Effect.gen(function*() {
        let after = -1
        let resealed = 0
        const unreadable: Array<ResealReport["unreadable"][number]> = []
        while (true) {
          const rows = (yield* sql<ByokRow>`
            SELECT * FROM byok_keys WHERE seq > ${after} AND key_id IS DISTINCT FROM ${keyring.currentId}
            ORDER BY seq LIMIT ${RESEAL_BATCH}`).map((r) => ({ ...r, ciphertext: copyBytes(r.ciphertext) }))
          if (rows.length === 0) break
          for (const r of rows) {
            after = r.seq
            let plaintext: string
            try {
              plaintext = keyring.open(r.account, r.id, r.key_id, r.ciphertext)
            } catch {
              unreadable.push({ account: r.account as AccountId, id: r.id, keyId: r.key_id })
              continue
            }
            const sealed = keyring.seal(r.account, r.id, plaintext)
            const updated = yield* sql`
              UPDATE byok_keys SET ciphertext = ${sealed.ciphertext}, key_id = ${sealed.keyId}
              WHERE account = ${r.account} AND id = ${r.id} AND ciphertext = ${r.ciphertext} RETURNING id`
            if (updated.length > 0) resealed++
          }
        }
        const [current] = yield* sql<{ n: number }>`
          SELECT count(*)::int AS n FROM byok_keys WHERE key_id = ${keyring.currentId}`
        return { currentKeyId: keyring.currentId, resealed, alreadyCurrent: current!.n - resealed, unreadable }
      })

      return ByokStore.of({
        findEnabled: (account, provider) =>
          orDie(Effect.map(
            sql<ByokRow>`
              SELECT * FROM byok_keys WHERE account = ${account} AND provider = ${provider} AND enabled
              ORDER BY seq LIMIT 1`,
            (rows) => rows.length === 0 ? Option.none() : Option.some(secretOf(rows[0]!))
          )),
        add: (key) => {
          const sealed = keyring.seal(key.account, key.id, Redacted.value(key.secret))
          return orDie(Effect.asVoid(sql`
            INSERT INTO byok_keys (account, id, provider, ciphertext, key_id, last4, enabled, created_at)
            VALUES (${key.account}, ${key.id}, ${key.provider},
              ${sealed.ciphertext}, ${sealed.keyId}, ${key.last4}, ${key.enabled}, ${key.createdAt})
            ON CONFLICT (account, id) DO NOTHING`))
        },
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
          )),
        reseal: orDie(reseal)
      })
    })
  )
