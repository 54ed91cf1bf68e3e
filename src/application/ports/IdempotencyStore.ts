import { Context, type Effect } from "effect"
import type { IdempotencyConflict } from "../../domain/Errors.ts"

/** A stored response: plain JSON (a Schema-encoded generation, an admin API result). */
export type StoredResponse = unknown

export type IdempotencyBegin =
  | { readonly _tag: "Started" }
  | { readonly _tag: "Replay"; readonly response: StoredResponse }

/**
 * Request-level idempotency (`Idempotency-Key`), scoped to the payer. `begin` atomically
 * claims the key, or answers with the stored response, or a conflict when the fingerprint
 * differs or the first request is still running.
 */
export class IdempotencyStore extends Context.Service<IdempotencyStore, {
  readonly begin: (input: {
    readonly scope: string
    readonly key: string
    readonly fingerprint: string
    readonly now: number
    readonly expiresAt: number
  }) => Effect.Effect<IdempotencyBegin, IdempotencyConflict>
  /** Keeps the response (plain JSON) to answer replays with. */
  readonly complete: (input: {
    readonly scope: string
    readonly key: string
    readonly response: StoredResponse
  }) => Effect.Effect<void>
  /** Forgets a claimed key whose request failed, so the caller may retry it. */
  readonly abandon: (input: { readonly scope: string; readonly key: string }) => Effect.Effect<void>
}>()("image-gateway/IdempotencyStore") {}
