import { Effect } from "effect"
import type { SqlError } from "effect/sql/SqlError"

/** Database failures are defects: the ports' signatures carry domain errors only. */
export const orDie = <A, E, R>(effect: Effect.Effect<A, E | SqlError, R>): Effect.Effect<A, Exclude<E, SqlError>, R> =>
  Effect.catchTag(effect as Effect.Effect<A, SqlError, R>, "SqlError", (e) => Effect.die(e)) as any

/** Columns that are NULL for an absent optional field: the key is left out, not set to undefined. */
export const optional = <K extends string, V>(key: K, value: V | null): { readonly [P in K]?: V } =>
  (value === null ? {} : { [key]: value }) as { readonly [P in K]?: V }

/** `bytea` values may be views into the connection's read buffer: keep a copy. */
export const copyBytes = (bytes: Uint8Array): Uint8Array => bytes.slice()
