import { Effect, Layer, Option } from "effect"
import { ByokStore } from "../../application/ports/ByokStore.ts"
import type { ByokKey } from "../../domain/Entities.ts"

export const MemoryByokStore = Layer.sync(ByokStore, () => {
  const keys: Array<ByokKey> = []
  const find = (account: string, id: string) => keys.findIndex((k) => k.account === account && k.id === id)
  return ByokStore.of({
    findEnabled: (account, provider) =>
      Effect.sync(() =>
        Option.fromUndefinedOr(keys.find((k) => k.account === account && k.provider === provider && k.enabled)).pipe(
          Option.map((k) => k.secret)
        )
      ),
    add: (key) =>
      Effect.sync(() => {
        if (!keys.some((k) => k.account === key.account && k.id === key.id)) keys.push(key)
      }),
    list: (account) => Effect.sync(() => keys.filter((k) => k.account === account)),
    remove: (account, id) =>
      Effect.sync(() => {
        const i = find(account, id)
        if (i >= 0) keys.splice(i, 1)
        return i >= 0
      }),
    setEnabled: (account, id, enabled) =>
      Effect.sync(() => {
        const i = find(account, id)
        if (i >= 0) keys[i] = { ...keys[i]!, enabled }
        return i >= 0
      }),
    // Process memory holds no ciphertext: there is nothing to re-encrypt.
    reseal: Effect.sync(() => ({ currentKeyId: "", resealed: 0, alreadyCurrent: keys.length, unreadable: [] }))
  })
})
