import { Result, Schema } from "effect"
import { InvalidRequest, type UnknownModel } from "../../domain/Errors.ts"
import type { Generation } from "../../domain/Generation.ts"
import { type GenerationDraft, MAX_PROMPT_LENGTH, validateGeneration } from "../../domain/GenerationRequest.ts"
import { toCredits } from "../../domain/Money.ts"
import type { ModelSpec } from "../../domain/Models.ts"
import type { Principal } from "../../domain/Principal.ts"
import { base64 } from "../node/NodePlatform.ts"
import { deprecationHeaders } from "./Responses.ts"

/**
 * OpenAI's image-generation wire format, in one place: the request schema that both decodes
 * bodies and is published in `/openapi.json`, the mapping of its failures to OpenAI's
 * `param` / `code` errors, and the rendering of a domain `Generation` as OpenAI's
 * `ImagesResponse` plus the gateway's `_metadata` and headers.
 */

const nullable = <S extends Schema.Top>(schema: S) => Schema.optionalKey(Schema.NullOr(schema))

/**
 * OpenAI's CreateImageRequest as the gateway reads it. Unknown fields are ignored (SPEC §7), so
 * the document does not forbid them. The constraints here are the ones that hold for every model;
 * what a particular model accepts (sizes, qualities, styles, n above 1, a shorter prompt for
 * dall-e-2, `output_format` and `background` on gpt-image only) is checked against the model and
 * listed by `GET /v1/models`.
 */
export const CreateImageRequest = Schema.Struct({
  prompt: Schema.String.check(
    Schema.isPattern(/\S/u, { expected: "a prompt that is not blank" }),
    Schema.isMaxCodePoints(MAX_PROMPT_LENGTH)
  ).annotate({ description: "1–4000 characters, not blank (dall-e-2: at most 1000)." }),
  model: nullable(Schema.String).annotate({ description: "Default dall-e-3. See GET /v1/models." }),
  n: nullable(Schema.Number.check(Schema.isInt(), Schema.isBetween({ minimum: 1, maximum: 10 }))).annotate({
    description: "1–10 (dall-e-3: only 1)."
  }),
  size: nullable(Schema.String).annotate({ description: "One of the model's sizes (GET /v1/models)." }),
  quality: nullable(Schema.String).annotate({ description: "One of the model's qualities (GET /v1/models)." }),
  style: nullable(Schema.String).annotate({ description: "dall-e-3: vivid or natural." }),
  response_format: nullable(Schema.Literals(["url", "b64_json"])).annotate({
    description: "Default url (gpt-image models: always b64_json)."
  }),
  output_format: nullable(Schema.Literals(["png", "jpeg", "webp"])).annotate({ description: "gpt-image models only." }),
  output_compression: nullable(Schema.Finite).annotate({ description: "Accepted and ignored." }),
  background: nullable(Schema.Literals(["transparent", "opaque", "auto"])).annotate({ description: "gpt-image models only." }),
  moderation: nullable(Schema.String).annotate({ description: "Accepted and ignored." }),
  user: nullable(Schema.String).annotate({ description: "An end-user id, recorded with the usage." }),
  seed: nullable(Schema.Number.check(Schema.isInt())).annotate({ description: "Passed to providers that take one." })
}).annotate({ identifier: "CreateImageRequest" })
export type CreateImageRequest = typeof CreateImageRequest.Type

/** The fields that are JSON numbers (integers, in OpenAI's words); every other one is a string. */
const NUMBER_FIELDS: ReadonlySet<string> = new Set(["n", "output_compression", "seed"])

const decodeRequest = Schema.decodeUnknownResult(CreateImageRequest)

const invalid = (param: string | null, code: string, detail: string) => new InvalidRequest({ param, code, detail })

const orUndefined = <A>(value: A | null | undefined): A | undefined => (value === null ? undefined : value)

const draftOf = (body: CreateImageRequest): GenerationDraft => ({
  prompt: body.prompt,
  model: orUndefined(body.model),
  n: orUndefined(body.n),
  size: orUndefined(body.size),
  quality: orUndefined(body.quality),
  style: orUndefined(body.style),
  responseFormat: orUndefined(body.response_format),
  outputFormat: orUndefined(body.output_format),
  background: orUndefined(body.background),
  user: orUndefined(body.user),
  seed: orUndefined(body.seed)
})

/**
 * A JSON body as a generation draft, or the error that names the parameter to fix. A field of
 * the wrong JSON type is `invalid_type` (the first one, in the order above); a field of the right
 * type whose value the schema refuses is worded by the domain's own check of that value (the
 * same rule, so the same words as for any other caller); `models` is what the domain checks
 * against.
 */
export const decodeCreateImageRequest = (
  body: unknown,
  models: ReadonlyArray<ModelSpec>,
  defaultModel: string
): Result.Result<GenerationDraft, InvalidRequest | UnknownModel> => {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return Result.fail(invalid(null, "invalid_request_body", "The request body must be a JSON object."))
  }
  const decoded = decodeRequest(body)
  if (Result.isSuccess(decoded)) return Result.succeed(draftOf(decoded.success))
  const fields = body as Record<string, unknown>
  if (!("prompt" in fields)) {
    return Result.fail(invalid("prompt", "missing_required_parameter", "Missing required parameter: 'prompt'."))
  }
  // The schema's fields in its order: the first one of the wrong JSON type is reported.
  for (const field of Object.keys(CreateImageRequest.fields)) {
    const value = fields[field]
    const absent = field !== "prompt" && (value === undefined || value === null)
    const number = NUMBER_FIELDS.has(field)
    if (!absent && typeof value !== (number ? "number" : "string")) {
      return Result.fail(invalid(field, "invalid_type", `Invalid type for '${field}': expected ${number ? "an integer" : "a string"}.`))
    }
  }
  // Every field has its JSON type: a value the schema refuses is refused by the domain too.
  const draft = draftOf(fields as unknown as CreateImageRequest)
  const checked = validateGeneration(draft, models, defaultModel)
  if (Result.isFailure(checked)) return Result.fail(checked.failure)
  return Result.fail(invalid(null, "invalid_value", "Invalid request body: a parameter has a value outside what the API accepts."))
}

// --- the response ------------------------------------------------------------------------------

export const Image = Schema.Struct({
  url: Schema.optionalKey(Schema.String).annotate({ description: "On this gateway's host; expires after 60 minutes." }),
  b64_json: Schema.optionalKey(Schema.String),
  revised_prompt: Schema.optionalKey(Schema.String)
}).annotate({ identifier: "Image" })

export const GenerationMetadata = Schema.Struct({
  provider_used: Schema.String,
  cost_incurred: Schema.Number.annotate({ description: "Credits this generation cost (up to 3 decimals)." }),
  credits_remaining: Schema.Number,
  transaction_id: Schema.NullOr(Schema.String),
  user_tier: Schema.String,
  using_byok: Schema.Boolean,
  byok_provider: Schema.NullOr(Schema.String),
  images_generated: Schema.Int,
  billed_to: Schema.String.annotate({ description: "The payer's account: a user UUID or an org_… id." })
}).annotate({ identifier: "GenerationMetadata" })

export const ImagesResponse = Schema.Struct({
  created: Schema.Int,
  data: Schema.Array(Image),
  _metadata: GenerationMetadata
}).annotate({
  identifier: "ImagesResponse",
  description: "OpenAI's ImagesResponse plus `_metadata`. Headers: X-Request-ID, X-Credits-Charged, X-Credits-Remaining; " +
    "Idempotent-Replayed: true on a replay; Deprecation and Sunset when the key is deprecated."
})
export type ImagesResponse = typeof ImagesResponse.Type

/** OpenAI's body for a generation: the images inline (Base64) or as the gateway's URLs. */
export const renderImages = (generation: Generation): ImagesResponse => ({
  created: Math.floor(generation.createdAt / 1000),
  data: generation.images.map((image) => {
    const revised = image.revisedPrompt === undefined ? {} : { revised_prompt: image.revisedPrompt }
    return image._tag === "Inline"
      ? { b64_json: base64(image.bytes), ...revised }
      : { url: image.url, ...revised }
  }),
  _metadata: {
    provider_used: generation.providerUsed,
    cost_incurred: toCredits(generation.costMillicredits),
    credits_remaining: toCredits(generation.remainingMillicredits),
    transaction_id: generation.hold ?? null,
    user_tier: generation.payer.tier,
    using_byok: generation.billing === "byok",
    byok_provider: generation.byokProvider ?? null,
    images_generated: generation.images.length,
    billed_to: generation.payer.account
  }
})

/** The headers of a generation's answer: what it charged, what remains, replay and deprecation. */
export const generationHeaders = (generation: Generation, principal: Principal, now: number): Record<string, string> => {
  const headers: Record<string, string> = {
    "x-credits-charged": String(toCredits(generation.chargedMillicredits)),
    "x-credits-remaining": String(toCredits(generation.remainingMillicredits)),
    ...deprecationHeaders(principal, now)
  }
  if (generation.replayed) headers["idempotent-replayed"] = "true"
  return headers
}
