import { Effect, Layer, Redacted } from "effect"
import { randomBytes } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ByokStore } from "../../src/application/ports/ByokStore.ts"
import { decodeKey, keyIdOf } from "../../src/adapters/postgres/ByokKeyring.ts"
import { PgByokStore } from "../../src/adapters/postgres/PgByokStore.ts"
import * as PgDatabase from "../../src/adapters/postgres/PgDatabase.ts"
import type { AccountId } from "../../src/domain/Ids.ts"
import { type EmptyDatabase, openEmptyDatabase } from "../../specs/support/postgres.ts"
import { jsonOf, runCli } from "./support/Cli.ts"

const bob = "2f1c6a53-5d8e-4b7a-9a51-3c9e8f0b1d24" as AccountId
const OLD = randomBytes(32).toString("base64")
const NEW = randomBytes(32).toString("base64")
const SECRETS = ["sk-or-v1-rotation-secret-0001", "sk-proj-rotation-secret-0002"]

/** `npm run admin -- byok reencrypt` on DATABASE_URL: a rotation of BYOK_ENCRYPTION_KEY, end to end. */
describe("npm run admin -- byok reencrypt", () => {
  let database: EmptyDatabase
  let url: string

  beforeAll(async () => {
    database = await openEmptyDatabase("admin_byok")
    url = database.url
  })
  afterAll(async () => {
    await database?.close()
  })

  /** The store on the test's database, sealing with `key` and opening with `old` too. */
  const onByok = <A>(key: string, old: string | undefined, f: (byok: ByokStore["Service"]) => Effect.Effect<A>) =>
    Effect.runPromise(Effect.scoped(Effect.provide(
      ByokStore.use(f),
      PgByokStore(Redacted.make(key), old === undefined ? undefined : Redacted.make(old)).pipe(
        Layer.provide(PgDatabase.layer({ url: Redacted.make(url), maxConnections: 1 }))
      )
    )))

  it("moves every key sealed by the old key to the new one, once; without the old key it stops, naming the variable", async () => {
    const env = { DATABASE_URL: url, BYOK_ENCRYPTION_KEY: OLD, STORAGE: "" }
    const first = await runCli(["byok", "reencrypt"], { env: { ...env, MIGRATE: "1" } })
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toContain("Re-encrypted 0 provider key(s)")

    await onByok(OLD, undefined, (byok) =>
      Effect.forEach(SECRETS, (secret, i) =>
        byok.add({ id: `k${i}`, account: bob, provider: "openai", secret: Redacted.make(secret), last4: secret.slice(-4), enabled: true, createdAt: 1 })))

    // Rotated without listing the old key: the rows cannot be opened, and are left alone.
    const missing = await runCli(["byok", "reencrypt"], { env: { ...env, BYOK_ENCRYPTION_KEY: NEW } })
    expect(missing.code).toBe(78)
    expect(missing.stderr).toMatch(/^admin: 2 provider key\(s\) open with none of the configured encryption keys .*BYOK_ENCRYPTION_KEYS_OLD.*\n$/)
    expect(missing.stderr).toContain(keyIdOf(decodeKey(OLD)!))

    const moved = await runCli(["--json", "byok", "reencrypt"], { env: { ...env, BYOK_ENCRYPTION_KEY: NEW, BYOK_ENCRYPTION_KEYS_OLD: OLD } })
    expect(moved.code, moved.stderr).toBe(0)
    expect(jsonOf(moved)).toEqual({
      object: "byok_reencryption",
      current_key_id: keyIdOf(decodeKey(NEW)!),
      reencrypted: 2,
      already_current: 0,
      unreadable: []
    })
    const again = await runCli(["--json", "byok", "reencrypt"], { env: { ...env, BYOK_ENCRYPTION_KEY: NEW, BYOK_ENCRYPTION_KEYS_OLD: OLD } })
    expect(jsonOf(again)).toMatchObject({ reencrypted: 0, already_current: 2 })

    // The old key dropped: every key still opens with the new one alone.
    const opened = await onByok(NEW, undefined, (byok) => byok.list(bob))
    expect(opened.map((k) => Redacted.value(k.secret))).toEqual(SECRETS)

    for (const run of [first, missing, moved, again]) {
      for (const text of [OLD, NEW, ...SECRETS]) expect(run.stdout + run.stderr).not.toContain(text)
    }
  })

  it("refuses a passphrase as BYOK_ENCRYPTION_KEY with one line naming the variable, never the value", async () => {
    const refused = await runCli(["byok", "reencrypt"], {
      env: { DATABASE_URL: url, BYOK_ENCRYPTION_KEY: "my old passphrase", STORAGE: "" }
    })
    expect(refused.code).toBe(78)
    expect(refused.stderr).toMatch(/^admin: invalid configuration: BYOK_ENCRYPTION_KEY: must be 32 random bytes in base64.*\n$/)
    expect(refused.stderr).not.toContain("my old passphrase")
  })
})
