import { Effect, Exit, Option, Redacted } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { afterAll, beforeAll, expect, it } from "vitest"
import { ByokStore } from "../../src/application/ports/ByokStore.ts"
import { PgByokStore } from "../../src/adapters/postgres/PgByokStore.ts"
import type { AccountId } from "../../src/domain/Ids.ts"
import { openTestDatabase, type TestDatabase } from "../../specs/support/postgres.ts"

let db: TestDatabase
beforeAll(async () => {
  db = await openTestDatabase({ maxConnections: 2 })
})
afterAll(async () => {
  await db?.close()
})

const bob = "2f1c6a53-5d8e-4b7a-9a51-3c9e8f0b1d24" as AccountId
const secret = "sk-or-v1-0123456789abcdef-bob-secret"

const withStore = <A, E>(key: string, f: (store: ByokStore["Service"]) => Effect.Effect<A, E>) =>
  db.run(Effect.provide(ByokStore.use(f), PgByokStore(Redacted.make(key))))

it("keeps BYOK keys encrypted at rest, with only the last four characters in clear", async () => {
  await db.run(db.truncate)
  await withStore("key-one", (store) =>
    store.add({
      id: "k1",
      account: bob,
      provider: "openrouter",
      secret: Redacted.make(secret),
      last4: secret.slice(-4),
      enabled: true,
      createdAt: 1
    }))
  const [row] = await db.run(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<{ ciphertext: Uint8Array; last4: string }>`SELECT ciphertext, last4 FROM byok_keys`
  }))
  expect(row!.last4).toBe("cret")
  expect(Buffer.from(row!.ciphertext).includes(Buffer.from(secret))).toBe(false)
  expect(row!.ciphertext.length).toBe(12 + 16 + Buffer.byteLength(secret))

  const found = await withStore("key-one", (store) => store.findEnabled(bob, "openrouter"))
  expect(Option.map(found, Redacted.value)).toEqual(Option.some(secret))
  const listed = await withStore("key-one", (store) => store.list(bob))
  expect(listed.map((k) => Redacted.value(k.secret))).toEqual([secret])

  // Another encryption key cannot open it: a defect, never a wrong or empty secret.
  const exit = await withStore("key-two", (store) => Effect.exit(store.findEnabled(bob, "openrouter")))
  expect(Exit.hasDies(exit)).toBe(true)
})
