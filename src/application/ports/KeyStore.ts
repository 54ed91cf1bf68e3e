import { Context, type Effect, type Option } from "effect"
import type { ApiKeyRecord, KeyOwner, KeyStatus } from "../../domain/Entities.ts"
import type { KeyId } from "../../domain/Ids.ts"

/** API keys by the SHA-256 of their secret; the secret itself is never stored. */
export class KeyStore extends Context.Service<KeyStore, {
  readonly findByHash: (hash: string) => Effect.Effect<Option.Option<ApiKeyRecord>>
  /** Inserts unless a key with that hash exists; either way returns the stored record. */
  readonly insert: (record: ApiKeyRecord) => Effect.Effect<ApiKeyRecord>
  readonly setStatus: (id: KeyId, status: KeyStatus) => Effect.Effect<Option.Option<ApiKeyRecord>>
  readonly setExpiry: (id: KeyId, expiresAt: number) => Effect.Effect<Option.Option<ApiKeyRecord>>
  readonly setDeprecated: (id: KeyId, sunset: number | undefined) => Effect.Effect<Option.Option<ApiKeyRecord>>
  readonly listByOwner: (owner: KeyOwner) => Effect.Effect<ReadonlyArray<ApiKeyRecord>>
  readonly find: (id: KeyId) => Effect.Effect<Option.Option<ApiKeyRecord>>
  /** Every key, or every key of one kind of owner, oldest first. */
  readonly list: (filter: { readonly ownerKind?: KeyOwner["_tag"] | undefined }) => Effect.Effect<ReadonlyArray<ApiKeyRecord>>
  /** Records when keys were last used (a batch; a later time never goes back to an earlier one). */
  readonly touch: (uses: ReadonlyArray<{ readonly id: KeyId; readonly at: number }>) => Effect.Effect<void>
}>()("image-gateway/KeyStore") {}
