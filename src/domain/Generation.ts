import { Schema } from "effect"
import { AccountId, HoldId } from "./Ids.ts"
import { Tier } from "./Tier.ts"

/** How a generation was paid for: credits, the payer's own provider key, or a credit-exempt tier. */
export const BillingMode = Schema.Literals(["billed", "byok", "exempt"])
export type BillingMode = typeof BillingMode.Type

/**
 * One generated image: its bytes, to be returned inline, or the id and address under which the
 * image store keeps it (for callers that asked for a URL).
 */
export const GeneratedImage = Schema.Union([
  Schema.TaggedStruct("Inline", {
    bytes: Schema.Uint8ArrayFromBase64,
    contentType: Schema.String,
    revisedPrompt: Schema.optionalKey(Schema.String)
  }),
  Schema.TaggedStruct("Stored", {
    id: Schema.String,
    url: Schema.String,
    revisedPrompt: Schema.optionalKey(Schema.String)
  })
])
export type GeneratedImage = typeof GeneratedImage.Type

/** The account that paid, as it was priced. */
export const PaidBy = Schema.Struct({
  account: AccountId,
  kind: Schema.Literals(["user", "org"]),
  tier: Tier
})

/**
 * The outcome of a generation, in the core's own terms. Its Schema is how an idempotent replay
 * keeps it: a repeated request gets this very value back, with `replayed` set and nothing charged.
 */
export const Generation = Schema.Struct({
  /** When the images were made (epoch ms). */
  createdAt: Schema.Number,
  images: Schema.Array(GeneratedImage),
  /** What the images cost: 0 for BYOK and credit-exempt generations. */
  costMillicredits: Schema.Int,
  /** What this call moved: the cost, or 0 when it replayed an earlier one. */
  chargedMillicredits: Schema.Int,
  /** The payer's available balance after the generation. */
  remainingMillicredits: Schema.Int,
  /** The credit hold the cost was settled from (billed generations only). */
  hold: Schema.optionalKey(HoldId),
  billing: BillingMode,
  /** The provider that made the images (the local one stands in for an unconfigured provider). */
  providerUsed: Schema.String,
  /** With BYOK, whose key was used: the provider of the payer's own key. */
  byokProvider: Schema.optionalKey(Schema.String),
  /** What the provider reported the call cost it (OpenRouter's `usage.cost`), in millionths of a US dollar. */
  providerCostMicroUsd: Schema.optionalKey(Schema.Int),
  payer: PaidBy,
  replayed: Schema.Boolean
})
export type Generation = typeof Generation.Type

/** What the idempotency store keeps of a generation (JSON: the bytes as Base64). */
export type StoredGeneration = typeof Generation.Encoded

export const encodeGeneration = Schema.encodeSync(Generation)
export const decodeStoredGeneration = Schema.decodeUnknownSync(Generation)
