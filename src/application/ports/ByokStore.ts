import { Context, type Effect, type Option, type Redacted } from "effect"
import type { ByokKey } from "../../domain/Entities.ts"
import type { AccountId } from "../../domain/Ids.ts"
import type { ProviderName } from "../../domain/Models.ts"

/** What re-encrypting the keys at rest did: each key is counted once. */
export interface ResealReport {
  /** The id of the encryption key every key is now sealed with (empty where nothing is encrypted). */
  readonly currentKeyId: string
  /** Keys rewritten under the current encryption key. */
  readonly resealed: number
  /** Keys already under it, left as they were. */
  readonly alreadyCurrent: number
  /** Keys that no configured encryption key opens, left as they were; their sealing keys' ids. */
  readonly unreadable: ReadonlyArray<{ readonly account: AccountId; readonly id: string; readonly keyId: string | null }>
}

/** Accounts' own provider keys. Adapters keep the secret encrypted at rest. */
export class ByokStore extends Context.Service<ByokStore, {
  readonly findEnabled: (account: AccountId, provider: ProviderName) => Effect.Effect<Option.Option<Redacted.Redacted<string>>>
  /**
   * Stores the key; a key already stored under the same account and id is kept as it is (adding
   * is idempotent, so instances seeding one database at once never fail on each other).
   */
  readonly add: (key: ByokKey) => Effect.Effect<void>
  readonly list: (account: AccountId) => Effect.Effect<ReadonlyArray<ByokKey>>
  readonly remove: (account: AccountId, id: string) => Effect.Effect<boolean>
  readonly setEnabled: (account: AccountId, id: string, enabled: boolean) => Effect.Effect<boolean>
  /**
   * Rewrites every key not yet sealed with the current encryption key under it (after a
   * rotation); idempotent, and safe beside instances serving, each row changing in one statement.
   */
  readonly reseal: Effect.Effect<ResealReport>
}>()("image-gateway/ByokStore") {}
