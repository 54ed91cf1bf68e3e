import { PgTypes } from "@effect/sql-pg"
import { Effect, Layer, Option } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { type PricingData, PricingStore, type VersionedPricing } from "../../application/ports/PricingStore.ts"
import { orDie } from "./PgSql.ts"

interface PricingRow {
  readonly version: number
  /** JSONB as the driver parses it: what `seed` or `save` stored. */
  readonly data: PricingData
  readonly updated_at: number
}

const toPricing = (r: PricingRow): VersionedPricing => ({ version: r.version, data: r.data, updatedAt: r.updated_at })

/**
 * Pricing on PostgreSQL: the one row of `pricing`. A save is one conditional UPDATE on the
 * version, so of two instances saving on the same version the second finds the row changed
 * (it waits for the first's row lock, then re-checks the condition) and gets none.
 */
export const PgPricingStore = Layer.effect(
  PricingStore,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient

    const load = orDie(Effect.map(
      sql<PricingRow>`SELECT version, data, updated_at FROM pricing`,
      (rows) => Option.map(Option.fromUndefinedOr(rows[0]), toPricing)
    ))

    return PricingStore.of({
      // Two statements: the read after a lost insert sees the winner's committed row.
      seed: (data, at) =>
        orDie(Effect.gen(function*() {
          yield* sql`
            INSERT INTO pricing (version, data, updated_at) VALUES (1, ${PgTypes.jsonb(data)}, ${at})
            ON CONFLICT (id) DO NOTHING`
          const stored = yield* load
          return yield* Option.match(stored, {
            onNone: () => Effect.die(new Error("pricing: no row after seeding it")),
            onSome: Effect.succeed
          })
        })),
      load,
      version: orDie(Effect.map(
        sql<{ readonly version: number }>`SELECT version FROM pricing`,
        (rows) => rows[0]?.version ?? 0
      )),
      save: ({ at, data, expected }) =>
        orDie(Effect.map(
          // Nothing stored is version 0: saving on it inserts version 1, unless another did first.
          expected === 0
            ? sql<PricingRow>`
              INSERT INTO pricing (version, data, updated_at) VALUES (1, ${PgTypes.jsonb(data)}, ${at})
              ON CONFLICT (id) DO NOTHING
              RETURNING version, data, updated_at`
            : sql<PricingRow>`
              UPDATE pricing SET version = version + 1, data = ${PgTypes.jsonb(data)}, updated_at = ${at}
              WHERE version = ${expected}
              RETURNING version, data, updated_at`,
          (rows) => Option.map(Option.fromUndefinedOr(rows[0]), toPricing)
        ))
    })
  })
)
