import { Effect, Layer, Option } from "effect"
import { KeyStore } from "../../application/ports/KeyStore.ts"
import { type ApiKeyRecord, sameOwner } from "../../domain/Entities.ts"
import type { KeyId } from "../../domain/Ids.ts"

export const MemoryKeyStore = Layer.sync(KeyStore, () => {
  // A Map keeps insertion order: its values are the keys oldest first.
  const byHash = new Map<string, ApiKeyRecord>()
  const hashById = new Map<KeyId, string>()
  const current = (id: KeyId): ApiKeyRecord | undefined => {
    const hash = hashById.get(id)
    return hash === undefined ? undefined : byHash.get(hash)
  }
  const update = (id: KeyId, f: (k: ApiKeyRecord) => ApiKeyRecord) =>
    Effect.sync(() => {
      const found = current(id)
      if (found === undefined) return Option.none<ApiKeyRecord>()
      const next = f(found)
      byHash.set(found.hash, next)
      return Option.some(next)
    })
  return KeyStore.of({
    findByHash: (hash) => Effect.sync(() => Option.fromUndefinedOr(byHash.get(hash))),
    insert: (record) =>
      Effect.sync(() => {
        const existing = byHash.get(record.hash)
        if (existing !== undefined) return existing
        byHash.set(record.hash, record)
        hashById.set(record.id, record.hash)
        return record
      }),
    setStatus: (id, status) => update(id, (k) => ({ ...k, status })),
    setExpiry: (id, expiresAt) => update(id, (k) => ({ ...k, expiresAt })),
    setDeprecated: (id, sunset) => update(id, (k) => ({ ...k, deprecated: sunset === undefined ? undefined : { sunset } })),
    listByOwner: (owner) => Effect.sync(() => [...byHash.values()].filter((k) => sameOwner(k.owner, owner))),
    find: (id) => Effect.sync(() => Option.fromUndefinedOr(current(id))),
    list: (filter) =>
      Effect.sync(() =>
        filter.ownerKind === undefined
          ? [...byHash.values()]
          : [...byHash.values()].filter((k) => k.owner._tag === filter.ownerKind)
      ),
    touch: (uses) =>
      Effect.sync(() => {
        for (const use of uses) {
          const found = current(use.id)
          if (found === undefined || (found.lastUsedAt !== undefined && found.lastUsedAt >= use.at)) continue
          byHash.set(found.hash, { ...found, lastUsedAt: use.at })
        }
      })
  })
})
