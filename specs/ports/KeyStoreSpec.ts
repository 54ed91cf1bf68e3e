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
const ops: KeyOwner = { _tag: "Admin", admin: "ops" }
// An operator named like a service: neither may see the other's keys.
const presentonNamedAdmin: KeyOwner = { _tag: "Admin", admin: "presenton-service" }

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
  legacy: true,
  lastUsedAt: NOW - 1
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

    test("keeps an operator's key apart from a service's or user's key of the same name", (keys) =>
      Effect.gen(function*() {
        const admin = { ...keyOf("k_adm", ops, "adm_ops_first"), scopes: [] }
        const namesake = keyOf("k_adm_namesake", presentonNamedAdmin, "adm_presenton_namesake")
        const service = keyOf("k_svc", presenton, "sk-presenton-svc")
        for (const key of [admin, namesake, service]) yield* keys.insert(key)

        expect(yield* keys.findByHash(sha256("adm_ops_first"))).toStrictEqual(Option.some(admin))
        expect(yield* keys.find(namesake.id)).toStrictEqual(Option.some(namesake))
        expect((yield* keys.listByOwner(ops)).map((k) => k.id)).toEqual(["k_adm"])
        expect((yield* keys.listByOwner(presentonNamedAdmin)).map((k) => k.id)).toEqual(["k_adm_namesake"])
        expect((yield* keys.listByOwner(presenton)).map((k) => k.id)).toEqual(["k_svc"])
        expect(yield* keys.listByOwner({ _tag: "Admin", admin: "nobody" })).toEqual([])
        const revoked = yield* keys.setStatus(admin.id, "revoked")
        expect(revoked).toStrictEqual(Option.some({ ...admin, status: "revoked" }))
      }))

    test("finds a key by its id with its latest state, and nothing for an id it never stored", (keys) =>
      Effect.gen(function*() {
        expect(yield* keys.find(fullKey.id)).toEqual(Option.none())
        yield* keys.insert(fullKey)
        yield* keys.insert(bareKey)
        expect(yield* keys.find(fullKey.id)).toStrictEqual(Option.some(fullKey))
        expect(yield* keys.find(bareKey.id)).toStrictEqual(Option.some(bareKey))
        yield* keys.setStatus(bareKey.id, "expired")
        expect(yield* keys.find(bareKey.id)).toStrictEqual(Option.some({ ...bareKey, status: "expired" }))
        expect(yield* keys.find("key_ghost" as KeyId)).toEqual(Option.none())
      }))

    test("lists every key oldest first, or only one kind of owner's", (keys) =>
      Effect.gen(function*() {
        expect(yield* keys.list({})).toEqual([])
        const inserted = [
          keyOf("k1", presenton, "sk-list-one"),
          keyOf("k2", ops, "adm_list_two"),
          keyOf("k3", alice, "uc_list_three"),
          keyOf("k4", aliceNamedService, "sk-list-four"),
          keyOf("k5", presentonNamedAdmin, "adm_list_five"),
          keyOf("k6", alice, "uc_list_six")
        ]
        for (const key of inserted) yield* keys.insert(key)
        yield* keys.setStatus("k1" as KeyId, "revoked")

        const all = yield* keys.list({})
        expect(all.map((k) => k.id)).toEqual(["k1", "k2", "k3", "k4", "k5", "k6"])
        expect(all[0]).toStrictEqual({ ...inserted[0], status: "revoked" })
        expect(yield* keys.list({ ownerKind: undefined })).toEqual(all)
        expect((yield* keys.list({ ownerKind: "Service" })).map((k) => k.id)).toEqual(["k1", "k4"])
        expect((yield* keys.list({ ownerKind: "User" })).map((k) => k.id)).toEqual(["k3", "k6"])
        expect(yield* keys.list({ ownerKind: "Admin" })).toStrictEqual([inserted[1], inserted[4]])
      }))

    test("records a key's last use, read back by every look-up, and changes nothing else", (keys) =>
      Effect.gen(function*() {
        yield* keys.insert(bareKey)
        yield* keys.insert(keyOf("k_other", presenton, "sk-untouched"))
        yield* keys.touch([{ id: bareKey.id, at: NOW + 500 }])
        const touched = { ...bareKey, lastUsedAt: NOW + 500 }
        expect(yield* keys.find(bareKey.id)).toStrictEqual(Option.some(touched))
        expect(yield* keys.findByHash(bareKey.hash)).toStrictEqual(Option.some(touched))
        expect(yield* keys.listByOwner(alice)).toStrictEqual([touched])
        expect((yield* keys.list({})).map((k) => k.lastUsedAt)).toEqual([NOW + 500, undefined])
        // Later changes keep the last use.
        const revoked = yield* keys.setStatus(bareKey.id, "revoked")
        expect(Option.map(revoked, (k) => k.lastUsedAt)).toEqual(Option.some(NOW + 500))
      }))

    test("moves a last use forward only: an earlier time in a later batch leaves it as it was", (keys) =>
      Effect.gen(function*() {
        yield* keys.insert(fullKey)
        yield* keys.touch([{ id: fullKey.id, at: NOW + 10_000 }])
        yield* keys.touch([{ id: fullKey.id, at: NOW + 5_000 }])
        expect(Option.map(yield* keys.find(fullKey.id), (k) => k.lastUsedAt)).toEqual(Option.some(NOW + 10_000))
        yield* keys.touch([{ id: fullKey.id, at: NOW + 10_000 }])
        expect(Option.map(yield* keys.find(fullKey.id), (k) => k.lastUsedAt)).toEqual(Option.some(NOW + 10_000))
        yield* keys.touch([{ id: fullKey.id, at: NOW + 20_000 }])
        expect(Option.map(yield* keys.find(fullKey.id), (k) => k.lastUsedAt)).toEqual(Option.some(NOW + 20_000))
        // The inserted last use (NOW - 1) is also only moved forward.
        yield* keys.insert(keyOf("k_second", presenton, "sk-second"))
        yield* keys.touch([{ id: "k_second" as KeyId, at: NOW - 100 }])
        expect(Option.map(yield* keys.find("k_second" as KeyId), (k) => k.lastUsedAt)).toEqual(Option.some(NOW - 100))
      }))

    test("takes a batch of uses: the latest time of each key, keys absent from it untouched, unknown ids ignored", (keys) =>
      Effect.gen(function*() {
        const one = keyOf("k1", presenton, "sk-batch-one")
        const two = keyOf("k2", ops, "adm_batch_two")
        const three = keyOf("k3", alice, "uc_batch_three")
        for (const key of [one, two, three]) yield* keys.insert(key)
        yield* keys.touch([])
        expect((yield* keys.list({})).map((k) => k.lastUsedAt)).toEqual([undefined, undefined, undefined])
        yield* keys.touch([
          { id: one.id, at: NOW + 3 },
          { id: two.id, at: NOW + 7 },
          { id: "key_ghost" as KeyId, at: NOW + 9 },
          { id: one.id, at: NOW + 8 },
          { id: one.id, at: NOW + 5 }
        ])
        expect((yield* keys.list({})).map((k) => [k.id, k.lastUsedAt])).toEqual([
          ["k1", NOW + 8],
          ["k2", NOW + 7],
          ["k3", undefined]
        ])
        expect(yield* keys.find("key_ghost" as KeyId)).toEqual(Option.none())
      }))

    test("keeps the latest use of batches touched concurrently", (keys) =>
      Effect.gen(function*() {
        const ids = ["k1", "k2", "k3"].map((id) => id as KeyId)
        for (const [i, id] of ids.entries()) yield* keys.insert(keyOf(id, presenton, `sk-concurrent-${i}`))
        // 20 batches, each touching every key in a different order at its own time.
        yield* Effect.all(
          Array.from({ length: 20 }, (_, b) =>
            keys.touch((b % 2 === 0 ? ids : [...ids].reverse()).map((id) => ({ id, at: NOW + b * 10 })))),
          { concurrency: "unbounded" }
        )
        expect((yield* keys.list({})).map((k) => k.lastUsedAt)).toEqual([NOW + 190, NOW + 190, NOW + 190])
      }))
  })
