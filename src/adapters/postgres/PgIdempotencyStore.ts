import { PgTypes } from "@effect/sql-pg"
import { Effect, Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { type IdempotencyBegin, IdempotencyStore } from "../../application/ports/IdempotencyStore.ts"
import { IdempotencyConflict } from "../../domain/Errors.ts"
import type { StoredResponse } from "../../application/ports/IdempotencyStore.ts"
import { orDie } from "./PgSql.ts"

interface RecordRow {
  readonly fingerprint: string
  readonly done: boolean
  /** JSONB as the driver parses it: what `complete` stored (the core decodes it with its Schema). */
  readonly response: StoredResponse
}

export const PgIdempotencyStore = Layer.effect(
  IdempotencyStore,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const begin: IdempotencyStore["Service"]["begin"] = (input) =>
      orDie(Effect.gen(function*() {
        const attempt = input.attempt ?? ""
        // Claims the key when it is new, its record has expired, or the same request's claim is
        // still running but stale (taken over); one statement, so two instances cannot both start
        // the same request. A settlement completing the record holds its row lock: a takeover
        // waits for it, then finds the record done.
        // `previous`: the running claim in its window that this statement replaces, if it does.
        const claimed = yield* sql<{ previous: string | null }>`
          WITH before AS (
            SELECT attempt FROM idempotency_records
            WHERE scope = ${input.scope} AND key = ${input.key} AND NOT done AND expires_at > ${input.now}
          )
          INSERT INTO idempotency_records AS r (scope, key, fingerprint, expires_at, done, response, attempt, started_at)
          VALUES (${input.scope}, ${input.key}, ${input.fingerprint}, ${input.expiresAt}, false, NULL, ${attempt}, ${input.now})
          ON CONFLICT (scope, key) DO UPDATE
            SET fingerprint = EXCLUDED.fingerprint, expires_at = EXCLUDED.expires_at, done = false, response = NULL,
              attempt = EXCLUDED.attempt, started_at = EXCLUDED.started_at
            WHERE r.expires_at <= ${input.now}
              OR (NOT r.done AND r.fingerprint = EXCLUDED.fingerprint AND r.started_at <= ${input.staleBefore ?? null}::bigint)
          RETURNING (SELECT attempt FROM before) AS previous`
        if (claimed.length > 0) {
          const previous = claimed[0]!.previous
          return (previous === null ? { _tag: "Started" } : { _tag: "Started", tookOver: previous }) satisfies IdempotencyBegin
        }
        const [existing] = yield* sql<RecordRow>`
          SELECT fingerprint, done, response FROM idempotency_records WHERE scope = ${input.scope} AND key = ${input.key}`
        // Abandoned between the two statements: claim it again.
        if (existing === undefined) return yield* begin(input)
        if (existing.fingerprint !== input.fingerprint) {
          return yield* new IdempotencyConflict({ id: input.key, reason: "different_content" })
        }
        if (!existing.done) return yield* new IdempotencyConflict({ id: input.key, reason: "in_progress" })
        return { _tag: "Replay", response: existing.response } satisfies IdempotencyBegin
      }))

    return IdempotencyStore.of({
      begin,
      complete: (input) =>
        orDie(Effect.map(
          sql`
            UPDATE idempotency_records
            SET done = true, response = ${PgTypes.json(input.response)}
            WHERE scope = ${input.scope} AND key = ${input.key}
              ${input.attempt === undefined ? sql.literal("") : sql`AND attempt = ${input.attempt} AND NOT done`}
            RETURNING key`,
          (rows) => rows.length > 0
        )),
      abandon: (input) =>
        orDie(Effect.asVoid(
          sql`DELETE FROM idempotency_records WHERE scope = ${input.scope} AND key = ${input.key}
            ${input.attempt === undefined ? sql.literal("") : sql`AND attempt = ${input.attempt} AND NOT done`}`
        ))
    })
  })
)
