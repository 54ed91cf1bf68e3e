import { Effect, Layer } from "effect"
import { type IdempotencyBegin, IdempotencyStore } from "../../application/ports/IdempotencyStore.ts"
import { IdempotencyConflict } from "../../domain/Errors.ts"

interface Entry {
  readonly fingerprint: string
  readonly expiresAt: number
  response: unknown
  done: boolean
}

export const MemoryIdempotencyStore = Layer.sync(IdempotencyStore, () => {
  const entries = new Map<string, Entry>()
  const id = (scope: string, key: string) => `${scope}\u0000${key}`
  return IdempotencyStore.of({
    begin: (input) =>
      Effect.suspend((): Effect.Effect<IdempotencyBegin, IdempotencyConflict> => {
        const k = id(input.scope, input.key)
        const existing = entries.get(k)
        if (existing !== undefined && existing.expiresAt > input.now) {
          if (existing.fingerprint !== input.fingerprint) {
            return Effect.fail(new IdempotencyConflict({ id: input.key, reason: "different_content" }))
          }
          return existing.done
            ? Effect.succeed({ _tag: "Replay", response: existing.response })
            : Effect.fail(new IdempotencyConflict({ id: input.key, reason: "in_progress" }))
        }
        entries.set(k, { fingerprint: input.fingerprint, expiresAt: input.expiresAt, response: undefined, done: false })
        return Effect.succeed({ _tag: "Started" })
      }),
    complete: (input) =>
      Effect.sync(() => {
        const e = entries.get(id(input.scope, input.key))
        if (e !== undefined) {
          e.response = input.response
          e.done = true
        }
      }),
    abandon: (input) => Effect.sync(() => void entries.delete(id(input.scope, input.key)))
  })
})
