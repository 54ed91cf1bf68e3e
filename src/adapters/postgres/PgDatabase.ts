import { PgClient, PgTypes } from "@effect/sql-pg"
import { Config, Layer, Result } from "effect"

const MIN = BigInt(Number.MIN_SAFE_INTEGER)
const MAX = BigInt(Number.MAX_SAFE_INTEGER)

const codecError = (message: string) => new PgTypes.CodecError({ message })

/**
 * `bigint` columns hold money (millicredits) and epoch-ms times. The driver reads int8 as a JS
 * `bigint` by default; the domain wants plain safe integers, so this codec reads int8 as a
 * `number` and refuses (rather than rounds) anything beyond 2^53.
 */
const int8AsNumber: PgTypes.Codec<number | bigint> = {
  encode: (value) => {
    const big = typeof value === "bigint" ? value : Number.isSafeInteger(value) ? BigInt(value) : undefined
    if (big === undefined) return Result.fail(codecError(`not a safe integer for int8: ${value}`))
    const bytes = new Uint8Array(8)
    new DataView(bytes.buffer).setBigInt64(0, big)
    return Result.succeed(bytes)
  },
  decode: (bytes) => {
    if (bytes.length !== 8) return Result.fail(codecError(`int8 needs 8 bytes, got ${bytes.length}`))
    const big = new DataView(bytes.buffer, bytes.byteOffset, 8).getBigInt64(0)
    return big < MIN || big > MAX
      ? Result.fail(codecError(`int8 ${big} is beyond the safe integer range`))
      : Result.succeed(Number(big))
  }
}

/** A type registry for this project's clients: int8 decodes to `number`. */
export const makeTypes = (): PgTypes.Registry => {
  const types = PgTypes.makeRegistry()
  types.register(PgTypes.OID.int8, int8AsNumber, { arrayOid: PgTypes.OID.int8Array })
  return types
}

export type PgDatabaseOptions = Omit<PgClient.PgPoolConfig, "types">

/** A pooled client (`PgClient` and `SqlClient`) with the project's type registry. */
export const layer = (options: PgDatabaseOptions) => PgClient.layer({ ...options, types: makeTypes() })

/** The client for `DATABASE_URL`. */
export const layerConfig = PgClient.layerConfig({
  url: Config.Redacted("DATABASE_URL"),
  types: Config.succeed(makeTypes())
})
