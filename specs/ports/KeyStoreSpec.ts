import { describe, expect, it } from "@effect/vitest"
import { Effect, Option } from "effect"
import { createHash } from "node:crypto"
import { KeyStore } from "../../src/application/ports/KeyStore.ts"
import type { ApiKeyRecord, KeyOwner } from "../../src/domain/Entities.ts"
import type { KeyId, ServiceName, UserId } from "../../src/domain/Ids.ts"
import { type PortAdapter, portTest } from "./PortAdapter.ts"

const sha256 = (secret: string) => createHash("sha256").update(secret, "utf8").digest("hex")

const presenton: KeyOwner = { _tag: "Service", service: "presenton-service" as ServiceName }
const alice: KeyOwner = { _tag: "User", user: "7a6bfd31-0120-4a30-9e21-0fc3b8006579" as UserId }
// A UUID is also a valid service slug: a service so named must not see the user's keys.
const aliceNamedService: KeyOwner = { _tag: "Service", service: "7a6bfd31-0120-4a30-9e21-0fc3b8006579" as ServiceName }

/** Epoch ms in 2100: beyond 32 bits, and still ahead of any clock an adapter might read (TestClock or real). */
const NOW = 4_102_444_800_000

/** Every optional field set, epoch-ms times beyond 32 bits. */
const fullKey: ApiKeyRecord = {
  id: "key_full" as KeyId,
  prefix: "sk-pres",
  hash: sha256("sk-presenton-service-key-2025"),
  owner: presenton,
  status: "active",
  createdAt: NOW,
  expiresAt: NOW + 86_400_000,
  scopes: ["images:generate", "credits:read"],
  deprecated: { sunset: NOW + 3_600_000 },
  legacy: true
}

/** No optional field at all. */
const bareKey: ApiKeyRecord = {
  id: "key_bare" as KeyId,
  prefix: "uc_demo",
  hash: sha256("uc_demo_alice"),
  owner: alice,
  status: "active",
  createdAt: NOW + 1,
  legacy: false
}

const keyOf = (id: string, owner: KeyOwner, secret: string): ApiKeyRecord => ({
  id: id as KeyId,
  prefix: secret.slice(0, 7),
  hash: sha256(secret),
  owner,
  status: "active",
  createdAt: NOW,
  legacy: false
})

/** The KeyStore port's contract: keys by the SHA-256 of their secret, status and expiry kept. */
export const keyStoreSuite = (adapter: PortAdapter<KeyStore>) =>
  describe(`KeyStore [${adapter.name}]`, () => {
    const test = portTest(KeyStore, adapter)

    test("finds nothing for a hash it never stored", (keys) =>
      Effect.gen(function*() {
        expect(yield* keys.findByHash(sha256("sk-unknown"))).toEqual(Option.none())
        expect(yield* keys.listByOwner(presenton)).toEqual([])
      }))

    test("finds an inserted key by its hash with every field as stored, optional ones absent when unset", (keys) =>
      Effect.gen(function*() {
        expect(yield* keys.insert(fullKey)).toStrictEqual(fullKey)
        expect(yield* keys.insert(bareKey)).toStrictEqual(bareKey)
        expect(yield* keys.findByHash(fullKey.hash)).toStrictEqual(Option.some(fullKey))
        expect(yield* keys.findByHash(bareKey.hash)).toStrictEqual(Option.some(bareKey))
        expect(yield* keys.findByHash(sha256("uc_demo_bob"))).toEqual(Option.none())
      }))

    test("keeps an empty scope list apart from no scope list (none allowed, not every scope)", (keys) =>
      Effect.gen(function*() {
        yield* keys.insert({ ...keyOf("k_none", presenton, "sk-no-scopes"), scopes: [] })
        const found = Option.getOrThrow(yield* keys.findByHash(sha256("sk-no-scopes")))
        expect(found.scopes).toEqual([])
        yield* keys.insert(bareKey)
        const unrestricted = Option.getOrThrow(yield* keys.findByHash(bareKey.hash))
        expect(unrestricted.scopes).toBeUndefined()
      }))

    test("keeps the first record when a key with the same hash is inserted again, and returns it", (keys) =>
      Effect.gen(function*() {
        yield* keys.insert(fullKey)
        const again: ApiKeyRecord = { ...bareKey, id: "key_dup" as KeyId, hash: fullKey.hash }
        expect(yield* keys.insert(again)).toStrictEqual(fullKey)
        expect(yield* keys.findByHash(fullKey.hash)).toStrictEqual(Option.some(fullKey))
        expect(yield* keys.listByOwner(alice)).toEqual([])
        // The losing id was never stored: nothing to update under it.
        expect(yield* keys.setStatus("key_dup" as KeyId, "revoked")).toEqual(Option.none())
      }))

    test("round-trips each status, and a status change is seen by the next look-up by hash", (keys) =>
      Effect.gen(function*() {
        for (const status of ["active", "revoked", "expired"] as const) {
          const key = { ...keyOf(`k_${status}`, presenton, `sk-${status}-key`), status }
          yield* keys.insert(key)
          expect(Option.map(yield* keys.findByHash(key.hash), (k) => k.status)).toEqual(Option.some(status))
        }
        yield* keys.insert(fullKey)
        const revoked = yield* keys.setStatus(fullKey.id, "revoked")
        expect(revoked).toStrictEqual(Option.some({ ...fullKey, status: "revoked" }))
        expect(yield* keys.findByHash(fullKey.hash)).toStrictEqual(Option.some({ ...fullKey, status: "revoked" }))
        const reactivated = yield* keys.setStatus(fullKey.id, "active")
        expect(Option.map(reactivated, (k) => k.status)).toEqual(Option.some("active"))
        expect(Option.map(yield* keys.findByHash(fullKey.hash), (k) => k.status)).toEqual(Option.some("active"))
      }))

    test("sets an expiry on a key that had none, and moves an existing one", (keys) =>
      Effect.gen(function*() {
        yield* keys.insert(bareKey)
        const expiring = yield* keys.setExpiry(bareKey.id, NOW + 60_000)
        expect(expiring).toStrictEqual(Option.some({ ...bareKey, expiresAt: NOW + 60_000 }))
        expect(Option.map(yield* keys.findByHash(bareKey.hash), (k) => k.expiresAt)).toEqual(Option.some(NOW + 60_000))
        yield* keys.setExpiry(bareKey.id, NOW + 5)
        expect(Option.map(yield* keys.findByHash(bareKey.hash), (k) => k.expiresAt)).toEqual(Option.some(NOW + 5))
      }))

    test("marks a key deprecated with a sunset, and clears the mark", (keys) =>
      Effect.gen(function*() {
        yield* keys.insert(bareKey)
        const marked = yield* keys.setDeprecated(bareKey.id, NOW + 7_200_000)
        expect(Option.map(marked, (k) => k.deprecated)).toEqual(Option.some({ sunset: NOW + 7_200_000 }))
        expect(Option.map(yield* keys.findByHash(bareKey.hash), (k) => k.deprecated)).toEqual(
          Option.some({ sunset: NOW + 7_200_000 })
        )
        const cleared = yield* keys.setDeprecated(bareKey.id, undefined)
        expect(Option.map(cleared, (k) => k.deprecated)).toEqual(Option.some(undefined))
        // Only the mark changed.
        expect(yield* keys.findByHash(bareKey.hash)).toEqual(Option.some(bareKey))
      }))

    test("answers none when updating a key id it does not hold, and changes nothing", (keys) =>
      Effect.gen(function*() {
        yield* keys.insert(fullKey)
        const ghost = "key_ghost" as KeyId
        expect(yield* keys.setStatus(ghost, "revoked")).toEqual(Option.none())
        expect(yield* keys.setExpiry(ghost, NOW)).toEqual(Option.none())
        expect(yield* keys.setDeprecated(ghost, NOW)).toEqual(Option.none())
        expect(yield* keys.findByHash(fullKey.hash)).toStrictEqual(Option.some(fullKey))
      }))

    test("lists exactly one owner's keys, revoked ones included, in the order they were issued", (keys) =>
      Effect.gen(function*() {
        const first = keyOf("k1", presenton, "sk-presenton-one")
        const userKey = keyOf("k2", alice, "uc_alice_one")
        const second = keyOf("k3", presenton, "sk-presenton-two")
        const namesake = keyOf("k4", aliceNamedService, "sk-namesake-one")
        const third = keyOf("k5", presenton, "sk-presenton-three")
        for (const key of [first, userKey, second, namesake, third]) yield* keys.insert(key)
        yield* keys.setStatus(second.id, "revoked")
        yield* keys.setExpiry(first.id, NOW + 1)

        expect((yield* keys.listByOwner(presenton)).map((k) => [k.id, k.status])).toEqual([
          ["k1", "active"],
          ["k3", "revoked"],
          ["k5", "active"]
        ])
        expect((yield* keys.listByOwner(presenton))[0]).toStrictEqual({ ...first, expiresAt: NOW + 1 })
        expect((yield* keys.listByOwner(alice)).map((k) => k.id)).toEqual(["k2"])
        expect((yield* keys.listByOwner(aliceNamedService)).map((k) => k.id)).toEqual(["k4"])
        expect(yield* keys.listByOwner({ _tag: "Service", service: "bolt-diy-service" as ServiceName })).toEqual([])
      }))
  })
