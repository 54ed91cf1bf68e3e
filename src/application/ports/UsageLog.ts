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
  /** What the provider reported the call cost it, beside the gateway's price (millionths of a US dollar). */
  readonly providerCostMicroUsd?: number | undefined
}

/** One group of a usage report. */
export interface UsageGroup {
  /** The service name, payer account, model, credential kind or billing mode; `-` for none. */
  readonly key: string
  readonly requests: number
  readonly succeeded: number
  readonly images: number
  readonly costMillicredits: number
}

/**
 * Usage between `since` (inclusive) and `until` (exclusive). `byCredential` keys: `service_key`,
 * `service_key_on_behalf`, `service_jwt`, `service_jwt_on_behalf`, `user_key`, `session`;
 * `byMode`: `billed`, `byok`, `exempt`. Groups are ordered by cost, then requests, descending.
 */
export interface UsageReport {
  readonly since: number
  readonly until: number
  readonly total: UsageGroup
  readonly byService: ReadonlyArray<UsageGroup>
  readonly byPayer: ReadonlyArray<UsageGroup>
  readonly byModel: ReadonlyArray<UsageGroup>
  readonly byCredential: ReadonlyArray<UsageGroup>
  readonly byMode: ReadonlyArray<UsageGroup>
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
  /** Aggregates; each group list holds at most `top` groups (the largest). */
  readonly report: (range: { readonly since: number; readonly until: number; readonly top: number }) => Effect.Effect<UsageReport>
}>()("image-gateway/UsageLog") {}
