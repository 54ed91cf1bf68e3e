import { Context, type Effect } from "effect"
import type { AccountId } from "../../domain/Ids.ts"
import type { ProviderName } from "../../domain/Models.ts"
import type { AuthMethod } from "../../domain/Principal.ts"

import type { BillingMode } from "../../domain/Generation.ts"
export type { BillingMode }

/** One generation attempt that got past authentication. */
export interface UsageEvent {
  readonly requestId: string
  readonly at: number
  readonly actorKind: "service" | "user"
  /** The service name, or the user id, that acted. */
  readonly actor: string
  readonly service?: string | undefined
  readonly onBehalfOf?: string | undefined
  readonly authMethod: AuthMethod
  readonly payer: AccountId
  readonly model: string
  readonly provider?: ProviderName | undefined
  readonly n: number
  readonly images: number
  readonly costMillicredits: number
  readonly mode: BillingMode
  /** `success`, the tag of the error the request ended with, `interrupted` or `defect`. */
  readonly outcome: string
  readonly latencyMs: number
}

export class UsageLog extends Context.Service<UsageLog, {
  readonly record: (event: UsageEvent) => Effect.Effect<void>
  /** Newest first. */
  readonly list: (filter: {
    readonly payer?: AccountId | undefined
    readonly service?: string | undefined
    readonly since?: number | undefined
    readonly limit?: number | undefined
  }) => Effect.Effect<ReadonlyArray<UsageEvent>>
}>()("image-gateway/UsageLog") {}
