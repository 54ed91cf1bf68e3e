import { Effect, Layer } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { StoreHealth, StoreUnreachable } from "../../application/ports/StoreHealth.ts"

/** `SELECT 1` on a pooled connection. */
export const PgStoreHealth = Layer.effect(
  StoreHealth,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return StoreHealth.of({
      ping: sql`SELECT 1`.pipe(
        Effect.asVoid,
        Effect.mapError((e) => new StoreUnreachable({ reason: e.message }))
      )
    })
  })
)
