import { Context, type Effect, type Option, type Redacted } from "effect"
import type { ByokKey } from "../../domain/Entities.ts"
import type { AccountId } from "../../domain/Ids.ts"
import type { ProviderName } from "../../domain/Models.ts"

/** Accounts' own provider keys. Adapters keep the secret encrypted at rest. */
export class ByokStore extends Context.Service<ByokStore, {
  readonly findEnabled: (account: AccountId, provider: ProviderName) => Effect.Effect<Option.Option<Redacted.Redacted<string>>>
  readonly add: (key: ByokKey) => Effect.Effect<void>
  readonly list: (account: AccountId) => Effect.Effect<ReadonlyArray<ByokKey>>
  readonly remove: (account: AccountId, id: string) => Effect.Effect<boolean>
  readonly setEnabled: (account: AccountId, id: string, enabled: boolean) => Effect.Effect<boolean>
}>()("image-gateway/ByokStore") {}
