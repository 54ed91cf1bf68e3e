import { Context, type Effect } from "effect"
import type { IdempotencyConflict } from "../../domain/Errors.ts"

/** A stored response: plain JSON (a Schema-encoded generation, an admin API result). */
export type StoredResponse = unknown

export type IdempotencyBegin =
  /** `tookOver`: the attempt whose stale claim this one took over (it can no longer complete). */
  | { readonly _tag: "Started"; readonly tookOver?: string | undefined }
  | { readonly _tag: "Replay"; readonly response: StoredResponse }

/**
 * Request-level idempotency (`Idempotency-Key`), scoped to the payer. `begin` atomically
 * claims the key for an attempt, or answers with the stored response, or a conflict when the
 * fingerprint differs or the first request is still running.
 *
 * A claim belongs to its `attempt`. A claim still running that began at or before `staleBefore`
 * (its process died, or is hopelessly late) may be taken over by a new attempt of the same
 * request; `complete` and `abandon` of an attempt that no longer owns the key do nothing. A
 * billed generation completes its record in the same atomic step as its settlement
 * (`LedgerStore.settle`), so a takeover can never charge a request twice.
 */
export class IdempotencyStore extends Context.Service<IdempotencyStore, {
  readonly begin: (input: {
    readonly scope: string
    readonly key: string
    readonly fingerprint: string
    readonly now: number
    readonly expiresAt: number
    /** Who claims the key: an id unique to this attempt (none: the claim is anonymous). */
    readonly attempt?: string | undefined
    /** A running claim begun at or before this may be taken over (none: never). */
    readonly staleBefore?: number | undefined
  }) => Effect.Effect<IdempotencyBegin, IdempotencyConflict>
  /** Keeps the response (plain JSON) to answer replays with; false if `attempt` no longer owns the key. */
  readonly complete: (input: {
    readonly scope: string
    readonly key: string
    readonly response: StoredResponse
    readonly attempt?: string | undefined
  }) => Effect.Effect<boolean>
  /** Forgets a claimed key whose request failed, so the caller may retry it (only `attempt`'s own claim). */
  readonly abandon: (input: { readonly scope: string; readonly key: string; readonly attempt?: string | undefined }) => Effect.Effect<void>
}>()("image-gateway/IdempotencyStore") {}
