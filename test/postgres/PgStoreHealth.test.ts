import { Effect, Exit, Layer, Redacted, Scope } from "effect"
import { afterAll, beforeAll, expect, it } from "vitest"
import { StoreHealth } from "../../src/application/ports/StoreHealth.ts"
import { freePort } from "../../src/adapters/net/FreePort.ts"
import * as PgDatabase from "../../src/adapters/postgres/PgDatabase.ts"
import { PgStoreHealth } from "../../src/adapters/postgres/PgStoreHealth.ts"
import { openTestDatabase, type TestDatabase } from "../../specs/support/postgres.ts"

let db: TestDatabase
beforeAll(async () => {
  db = await openTestDatabase({ maxConnections: 1 })
})
afterAll(async () => {
  await db?.close()
})

it("answers a ping when the database is up", async () => {
  await db.run(Effect.provide(StoreHealth.use((h) => h.ping), PgStoreHealth))
})

it("fails the ping with StoreUnreachable, naming no secret, when nothing listens at the database's address", async () => {
  const port = await freePort()
  const scope = Scope.makeUnsafe()
  try {
    const client = await Effect.runPromise(Layer.buildWithScope(
      PgDatabase.layer({ url: Redacted.make(`postgres://gateway:s3cret-password@127.0.0.1:${port}/gateway`), connectTimeout: "1 second" }),
      scope
    ))
    const exit = await Effect.runPromiseExit(
      Effect.provide(StoreHealth.use((h) => h.ping), Layer.provide(PgStoreHealth, Layer.succeedContext(client)))
    )
    expect(exit._tag).toBe("Failure")
    const error = Exit.isFailure(exit) ? exit.cause.reasons.find((r) => r._tag === "Fail") : undefined
    expect(error).toMatchObject({ error: { _tag: "StoreUnreachable" } })
    expect(JSON.stringify(error)).not.toContain("s3cret-password")
  } finally {
    await Effect.runPromise(Scope.close(scope, Exit.void))
  }
})
