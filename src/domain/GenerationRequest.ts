import { Result } from "effect"
import { InvalidRequest, UnknownModel } from "./Errors.ts"
import { type ModelSpec, type ResponseFormat } from "./Models.ts"

/**
 * An image-generation request as its caller gave it: what OpenAI's Images API accepts, with the
 * transport taken away (the HTTP adapter decodes it from JSON, a CLI from its flags). Absent
 * means "the model's default". Checked against the model by `validateGeneration`.
 */
export interface GenerationDraft {
  readonly prompt: string
  readonly model?: string | undefined
  readonly n?: number | undefined
  readonly size?: string | undefined
  readonly quality?: string | undefined
  readonly style?: string | undefined
  readonly responseFormat?: string | undefined
  readonly outputFormat?: string | undefined
  readonly background?: string | undefined
  readonly user?: string | undefined
  readonly seed?: number | undefined
}

/** A request checked against its model: every field has its final value. */
export interface GenerationRequest {
  readonly model: ModelSpec
  readonly prompt: string
  readonly n: number
  readonly size: string
  readonly quality: string
  readonly style: string | undefined
  readonly responseFormat: ResponseFormat
  readonly outputFormat: string | undefined
  readonly background: string | undefined
  readonly user: string | undefined
  readonly seed: number | undefined
}

export const MAX_PROMPT_LENGTH = 4000

/** The number of Unicode code points in `text` (what a reader calls characters; not UTF-16 units). */
const codePoints = (text: string): number => {
  let count = 0
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i)
    // A high surrogate followed by a low one is one code point.
    if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1)
      if (next >= 0xdc00 && next <= 0xdfff) i++
    }
    count++
  }
  return count
}

/** Parameters are named as OpenAI's Images API names them: they are the product's vocabulary. */
const invalid = (param: string | null, code: string, detail: string) => new InvalidRequest({ param, code, detail })

const oneOf = (param: string, value: string, allowed: ReadonlyArray<string>, model: string) =>
  invalid(
    param,
    "invalid_value",
    `Invalid value for '${param}': '${value}' is not supported by ${model}. Supported values: ${allowed.map((a) => `'${a}'`).join(", ")}.`
  )

/** Resolves the model and checks every field against what that model accepts. */
export const validateGeneration = (
  body: GenerationDraft,
  models: ReadonlyArray<ModelSpec>,
  defaultModel: string
): Result.Result<GenerationRequest, InvalidRequest | UnknownModel> => {
  const modelId = body.model ?? defaultModel
  const model = models.find((m) => m.id === modelId)
  if (model === undefined) return Result.fail(new UnknownModel({ model: modelId, known: models.map((m) => m.id) }))

  const prompt = body.prompt
  const maxPrompt = Math.min(MAX_PROMPT_LENGTH, model.maxPromptLength)
  if (prompt.trim().length === 0) {
    return Result.fail(invalid("prompt", "invalid_value", "Invalid value for 'prompt': it must not be empty."))
  }
  // Characters are counted as code points (an emoji is one), as JSON Schema's maxLength counts them.
  const length = codePoints(prompt)
  if (length > maxPrompt) {
    return Result.fail(
      invalid("prompt", "string_above_max_length", `Invalid 'prompt': ${length} characters; ${model.id} accepts at most ${maxPrompt}.`)
    )
  }

  const n = body.n ?? 1
  if (!Number.isInteger(n)) return Result.fail(invalid("n", "invalid_type", "Invalid type for 'n': expected an integer."))
  if (n < 1 || n > 10) {
    return Result.fail(invalid("n", "integer_out_of_range", `Invalid value for 'n': ${n}; it must be between 1 and 10.`))
  }
  if (n > model.maxN) {
    return Result.fail(
      invalid("n", "integer_out_of_range", `Invalid value for 'n': ${model.id} generates at most ${model.maxN} image${model.maxN === 1 ? "" : "s"} per request.`)
    )
  }

  const size = body.size ?? model.defaultSize
  if (!model.sizes.includes(size)) return Result.fail(oneOf("size", size, model.sizes, model.id))

  const quality = body.quality ?? model.defaultQuality
  if (!model.qualities.includes(quality)) return Result.fail(oneOf("quality", quality, model.qualities, model.id))

  const style = body.style
  if (style !== undefined && !model.styles.includes(style)) {
    return Result.fail(
      model.styles.length === 0
        ? invalid("style", "invalid_value", `Invalid parameter 'style': ${model.id} does not support styles.`)
        : oneOf("style", style, model.styles, model.id)
    )
  }

  const format = body.responseFormat ?? model.defaultResponseFormat
  if (format !== "url" && format !== "b64_json") {
    return Result.fail(oneOf("response_format", format, ["url", "b64_json"], model.id))
  }
  if (!model.responseFormats.includes(format)) {
    return Result.fail(
      invalid("response_format", "invalid_value", `Invalid value for 'response_format': ${model.id} always returns 'b64_json'; omit the parameter.`)
    )
  }

  const outputFormat = body.outputFormat
  const background = body.background
  if (!model.acceptsOutputOptions && outputFormat !== undefined) {
    return Result.fail(invalid("output_format", "invalid_value", `Invalid parameter 'output_format': only the gpt-image models accept it, not ${model.id}.`))
  }
  if (!model.acceptsOutputOptions && background !== undefined) {
    return Result.fail(invalid("background", "invalid_value", `Invalid parameter 'background': only the gpt-image models accept it, not ${model.id}.`))
  }
  if (outputFormat !== undefined && !["png", "jpeg", "webp"].includes(outputFormat)) {
    return Result.fail(oneOf("output_format", outputFormat, ["png", "jpeg", "webp"], model.id))
  }
  if (background !== undefined && !["transparent", "opaque", "auto"].includes(background)) {
    return Result.fail(oneOf("background", background, ["transparent", "opaque", "auto"], model.id))
  }
  const seed = body.seed
  if (seed !== undefined && !Number.isSafeInteger(seed)) {
    return Result.fail(invalid("seed", "invalid_type", "Invalid type for 'seed': expected an integer."))
  }

  return Result.succeed({
    model,
    prompt,
    n,
    size,
    quality,
    style,
    responseFormat: format,
    outputFormat,
    background,
    user: body.user,
    seed
  })
}
