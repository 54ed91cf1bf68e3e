import { ConfigProvider, Effect, Exit, Option, Redacted } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { createCipheriv, createHash, randomBytes } from "node:crypto"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ByokStore } from "../../src/application/ports/ByokStore.ts"
import { decodeKey, keyIdOf } from "../../src/adapters/postgres/ByokKeyring.ts"
import { PgByokStore } from "../../src/adapters/postgres/PgByokStore.ts"
import type { AccountId } from "../../src/domain/Ids.ts"
import { GatewayConfig } from "../../src/Layers.ts"
import { openTestDatabase, type TestDatabase } from "../../specs/support/postgres.ts"

let db: TestDatabase
beforeAll(async () => {
  db = await openTestDatabase({ maxConnections: 2 })
})
afterAll(async () => {
  await db?.close()
})

const alice = "7a6bfd31-0120-4a30-9e21-0fc3b8006579" as AccountId
const bob = "2f1c6a53-5d8e-4b7a-9a51-3c9e8f0b1d24" as AccountId
const secret = "sk-or-v1-0123456789abcdef-bob-secret"

const KEY_A = randomBytes(32).toString("base64")
const KEY_B = randomBytes(32).toString("base64url")
const idOf = (key: string) => keyIdOf(decodeKey(key)!)

const withStore = <A, E>(key: string, f: (store: ByokStore["Service"]) => Effect.Effect<A, E>, old?: string) =>
  db.run(Effect.provide(ByokStore.use(f), PgByokStore(Redacted.make(key), old === undefined ? undefined : Redacted.make(old))))

const addKey = (account: AccountId, id: string, value: string) => (store: ByokStore["Service"]) =>
  store.add({ id, account, provider: "openrouter", secret: Redacted.make(value), last4: value.slice(-4), enabled: true, createdAt: 1 })

interface Row {
  account: string
  id: string
  ciphertext: Uint8Array
  key_id: string | null
}
const rows = () =>
  db.run(Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return yield* sql<Row & { last4: string }>`SELECT account, id, ciphertext, key_id, last4 FROM byok_keys ORDER BY seq`
  }))
const secretsOf = async (key: string, account: AccountId, old?: string) =>
  (await withStore(key, (store) => store.list(account), old)).map((k) => Redacted.value(k.secret))

it("keeps BYOK keys encrypted at rest under the key's id, with only the last four characters in clear", async () => {
  await db.run(db.truncate)
  await withStore(KEY_A, addKey(bob, "k1", secret))
  const [row] = await rows()
  expect(row!.last4).toBe("cret")
  expect(row!.key_id).toBe(idOf(KEY_A))
  expect(row!.key_id).not.toContain(KEY_A.slice(0, 8))
  expect(Buffer.from(row!.ciphertext).includes(Buffer.from(secret))).toBe(false)
  expect(row!.ciphertext.length).toBe(12 + 16 + Buffer.byteLength(secret))

  const found = await withStore(KEY_A, (store) => store.findEnabled(bob, "openrouter"))
  expect(Option.map(found, Redacted.value)).toEqual(Option.some(secret))
  expect(await secretsOf(KEY_A, bob)).toEqual([secret])

  // Another encryption key cannot open it: a defect, never a wrong or empty secret.
  const exit = await withStore(KEY_B, (store) => Effect.exit(store.findEnabled(bob, "openrouter")))
  expect(Exit.hasDies(exit)).toBe(true)
})

it("uses the 32 bytes of the key directly as the AES-256-GCM key (no passphrase hashing)", async () => {
  await db.run(db.truncate)
  await withStore(KEY_A, addKey(bob, "k1", secret))
  const [row] = await rows()
  const iv = Buffer.from(row!.ciphertext).subarray(0, 12)
  const cipher = createCipheriv("aes-256-gcm", decodeKey(KEY_A)!, iv).setAAD(Buffer.from(`${bob}\u0000k1`, "utf8"))
  const body = Buffer.concat([cipher.update(secret, "utf8"), cipher.final()])
  expect(Buffer.concat([iv, cipher.getAuthTag(), body])).toEqual(Buffer.from(row!.ciphertext))
})

describe("the encryption key's format", () => {
  const passphrases = ["correct horse battery staple", "test-byok-encryption-key", randomBytes(16).toString("base64"), randomBytes(33).toString("base64")]

  it("refuses a passphrase, or any value that is not 32 bytes in base64, naming the variable without echoing the value", async () => {
    for (const value of passphrases) {
      for (const variable of ["BYOK_ENCRYPTION_KEY", "BYOK_ENCRYPTION_KEYS_OLD"]) {
        const exit = await Effect.runPromise(Effect.exit(GatewayConfig.parse(ConfigProvider.fromEnv({ env: { [variable]: value } }))))
        expect(Exit.isFailure(exit)).toBe(true)
        const text = String(Exit.isFailure(exit) ? exit.cause : "")
        expect(text).toContain(variable)
        expect(text).toContain("32 random bytes in base64")
        expect(text).not.toContain(value)
      }
    }
    // The store refuses it too, should it be handed one.
    const exit = await withStore("correct horse battery staple", (store) => Effect.exit(store.list(bob)))
      .then(() => "opened", () => "refused")
    expect(exit).toBe("refused")
  })

  it("accepts standard and url-safe base64, padded or not, and an old-keys list", async () => {
    const bytes = randomBytes(32)
    const forms = [bytes.toString("base64"), bytes.toString("base64url"), bytes.toString("base64").replace(/=$/, "")]
    for (const form of forms) {
      const config = await Effect.runPromise(GatewayConfig.parse(ConfigProvider.fromEnv({
        env: { BYOK_ENCRYPTION_KEY: form, BYOK_ENCRYPTION_KEYS_OLD: `${KEY_A}, ${KEY_B},passphrase:an old passphrase` }
      })))
      expect(Option.map(config.byokKey, Redacted.value)).toEqual(Option.some(form))
      expect(decodeKey(form)).toEqual(bytes)
    }
    expect(new Set(forms.map(idOf)).size).toBe(1)
  })
})

describe("rotation", () => {
  it("reads rows sealed by the old key after rotation, re-encrypts them all under the new key, then needs the old key no more", async () => {
    await db.run(db.truncate)
    await withStore(KEY_A, addKey(alice, "a1", "sk-alice-one-0001"))
    await withStore(KEY_A, addKey(bob, "b1", "sk-bob-one-0001"))
    await withStore(KEY_A, addKey(bob, "b2", "sk-bob-two-0002"))

    // Rotated: KEY_B is current, KEY_A only opens. Rows of both keys read; new rows go under KEY_B.
    expect(await secretsOf(KEY_B, bob, KEY_A)).toEqual(["sk-bob-one-0001", "sk-bob-two-0002"])
    await withStore(KEY_B, addKey(bob, "b3", "sk-bob-three-0003"), KEY_A)
    expect((await rows()).map((r) => r.key_id)).toEqual([idOf(KEY_A), idOf(KEY_A), idOf(KEY_A), idOf(KEY_B)])
    // Without the old key, the old rows do not open.
    expect(Exit.hasDies(await withStore(KEY_B, (store) => Effect.exit(store.list(bob))))).toBe(true)

    const report = await withStore(KEY_B, (store) => store.reseal, KEY_A)
    expect(report).toEqual({ currentKeyId: idOf(KEY_B), resealed: 3, alreadyCurrent: 1, unreadable: [] })
    expect((await rows()).every((r) => r.key_id === idOf(KEY_B))).toBe(true)

    // Idempotent: a second run moves nothing.
    expect(await withStore(KEY_B, (store) => store.reseal, KEY_A)).toEqual({
      currentKeyId: idOf(KEY_B),
      resealed: 0,
      alreadyCurrent: 4,
      unreadable: []
    })

    // The old key dropped: everything still opens.
    expect(await secretsOf(KEY_B, bob)).toEqual(["sk-bob-one-0001", "sk-bob-two-0002", "sk-bob-three-0003"])
    expect(await secretsOf(KEY_B, alice)).toEqual(["sk-alice-one-0001"])
  })

  it("opens rows from before key ids (sealed under the SHA-256 of the configured text) and re-encrypts them", async () => {
    await db.run(db.truncate)
    const legacySeal = (passphrase: string, account: string, id: string, value: string) => {
      const iv = randomBytes(12)
      const key = createHash("sha256").update(passphrase, "utf8").digest()
      const cipher = createCipheriv("aes-256-gcm", key, iv).setAAD(Buffer.from(`${account}\u0000${id}`, "utf8"))
      const body = Buffer.concat([cipher.update(value, "utf8"), cipher.final()])
      return Buffer.concat([iv, cipher.getAuthTag(), body])
    }
    await db.run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      // The embedded default's key, unchanged, and a passphrase a DATABASE_URL deployment used.
      yield* sql`INSERT INTO byok_keys (account, id, provider, ciphertext, last4, enabled, created_at)
        VALUES (${bob}, 'old1', 'openai', ${legacySeal(KEY_A, bob, "old1", "sk-legacy-embedded-1111")}, '1111', true, 1)`
      yield* sql`INSERT INTO byok_keys (account, id, provider, ciphertext, last4, enabled, created_at)
        VALUES (${bob}, 'old2', 'openai', ${legacySeal("an old passphrase", bob, "old2", "sk-legacy-passphrase-2222")}, '2222', true, 2)`
    }))
    expect((await rows()).map((r) => r.key_id)).toEqual([null, null])

    // Only the embedded key: its own legacy row opens, the passphrase's does not.
    const partial = await withStore(KEY_A, (store) => store.reseal)
    expect(partial).toEqual({
      currentKeyId: idOf(KEY_A),
      resealed: 1,
      alreadyCurrent: 0,
      unreadable: [{ account: bob, id: "old2", keyId: null }]
    })
    // With the passphrase listed as an old key, the rest moves too.
    const rest = await withStore(KEY_A, (store) => store.reseal, "passphrase:an old passphrase")
    expect(rest).toEqual({ currentKeyId: idOf(KEY_A), resealed: 1, alreadyCurrent: 1, unreadable: [] })
    expect(await secretsOf(KEY_A, bob)).toEqual(["sk-legacy-embedded-1111", "sk-legacy-passphrase-2222"])
  })

  it("keeps a ciphertext bound to its row: copied onto another account's row it does not open, and re-encrypting leaves it", async () => {
    await db.run(db.truncate)
    await withStore(KEY_A, addKey(bob, "k1", secret))
    await withStore(KEY_A, addKey(alice, "k1", "sk-alice-own-9999"))
    await db.run(Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql`UPDATE byok_keys SET ciphertext = (SELECT ciphertext FROM byok_keys WHERE account = ${bob})
        WHERE account = ${alice}`
    }))
    expect(Exit.hasDies(await withStore(KEY_A, (store) => Effect.exit(store.list(alice))))).toBe(true)
    const report = await withStore(KEY_B, (store) => store.reseal, KEY_A)
    expect(report.resealed).toBe(1)
    expect(report.unreadable).toEqual([{ account: alice, id: "k1", keyId: idOf(KEY_A) }])
    expect(await secretsOf(KEY_B, bob)).toEqual([secret])
  })
})
