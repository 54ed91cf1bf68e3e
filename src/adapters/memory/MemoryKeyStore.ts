import { Effect, Layer, Option } from "effect"
import { KeyStore } from "../../application/ports/KeyStore.ts"
import type { ApiKeyRecord } from "../../domain/Entities.ts"
import type { KeyId } from "../../domain/Ids.ts"

export const MemoryKeyStore = Layer.sync(KeyStore, () => {
  const byHash = new Map<string, ApiKeyRecord>()
  const hashById = new Map<KeyId, string>()
  const update = (id: KeyId, f: (k: ApiKeyRecord) => ApiKeyRecord) =>
    Effect.sync(() => {
      const hash = hashById.get(id)
      const current = hash === undefined ? undefined : byHash.get(hash)
      if (hash === undefined || current === undefined) return Option.none<ApiKeyRecord>()
      const next = f(current)
      byHash.set(hash, next)
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
    listByOwner: (owner) =>
      Effect.sync(() =>
        [...byHash.values()].filter((k) =>
          k.owner._tag === owner._tag &&
          (k.owner._tag === "Service"
            ? owner._tag === "Service" && k.owner.service === owner.service
            : owner._tag === "User" && k.owner.user === owner.user)
        )
      )
  })
})
