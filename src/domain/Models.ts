/**
 * The image models the gateway knows, as data: which provider serves each, what it accepts,
 * and how a request maps onto a row of the price table.
 */
export const PROVIDERS = ["openai", "openrouter", "local"] as const
export type ProviderName = (typeof PROVIDERS)[number]

export type ResponseFormat = "url" | "b64_json"

export interface ModelSpec {
  readonly id: string
  readonly provider: ProviderName
  /** The model name the provider itself expects. */
  readonly providerModel: string
  readonly sizes: ReadonlyArray<string>
  readonly defaultSize: string
  readonly qualities: ReadonlyArray<string>
  readonly defaultQuality: string
  readonly styles: ReadonlyArray<string>
  readonly maxN: number
  readonly maxPromptLength: number
  readonly responseFormats: ReadonlyArray<ResponseFormat>
  readonly defaultResponseFormat: ResponseFormat
  /** Accepts `output_format` / `background` (the gpt-image family). */
  readonly acceptsOutputOptions: boolean
  /** How a requested size and quality name a price row (e.g. 1024x1792 is priced as 1792x1024). */
  readonly priceSize: Readonly<Record<string, string>>
  readonly priceQuality: Readonly<Record<string, string>>
}

const DALLE_SIZES = ["1024x1024", "1792x1024", "1024x1792"]
const GPT_IMAGE_SIZES = ["1024x1024", "1536x1024", "1024x1536", "auto"]
const GPT_IMAGE_PRICE_SIZE = { "1024x1024": "square", auto: "square", "1536x1024": "rect", "1024x1536": "rect" }

const gptImage = (id: string): ModelSpec => ({
  id,
  provider: "openai",
  providerModel: id,
  sizes: GPT_IMAGE_SIZES,
  defaultSize: "auto",
  qualities: ["low", "medium", "high", "auto"],
  defaultQuality: "auto",
  styles: [],
  maxN: 10,
  maxPromptLength: 4000,
  responseFormats: ["b64_json"],
  defaultResponseFormat: "b64_json",
  acceptsOutputOptions: true,
  priceSize: GPT_IMAGE_PRICE_SIZE,
  // `auto` lets the provider choose; it is priced as medium.
  priceQuality: { auto: "medium" }
})

export const DEFAULT_MODELS: ReadonlyArray<ModelSpec> = [
  {
    id: "dall-e-3",
    provider: "openai",
    providerModel: "dall-e-3",
    sizes: DALLE_SIZES,
    defaultSize: "1024x1024",
    qualities: ["standard", "hd"],
    defaultQuality: "standard",
    styles: ["vivid", "natural"],
    maxN: 1,
    maxPromptLength: 4000,
    responseFormats: ["url", "b64_json"],
    defaultResponseFormat: "url",
    acceptsOutputOptions: false,
    priceSize: { "1024x1792": "1792x1024" },
    priceQuality: {}
  },
  {
    id: "dall-e-2",
    provider: "openai",
    providerModel: "dall-e-2",
    sizes: ["256x256", "512x512", "1024x1024"],
    defaultSize: "1024x1024",
    qualities: ["standard"],
    defaultQuality: "standard",
    styles: [],
    maxN: 10,
    maxPromptLength: 1000,
    responseFormats: ["url", "b64_json"],
    defaultResponseFormat: "url",
    acceptsOutputOptions: false,
    priceSize: {},
    priceQuality: {}
  },
  gptImage("gpt-image-1"),
  gptImage("gpt-image-1-mini"),
  gptImage("gpt-image-1.5"),
  {
    id: "google/gemini-2.5-flash-image",
    provider: "openrouter",
    providerModel: "google/gemini-2.5-flash-image",
    sizes: ["1024x1024", "1536x1024", "1024x1536", "auto"],
    defaultSize: "auto",
    qualities: ["auto"],
    defaultQuality: "auto",
    styles: [],
    maxN: 4,
    maxPromptLength: 4000,
    responseFormats: ["b64_json"],
    defaultResponseFormat: "b64_json",
    acceptsOutputOptions: false,
    priceSize: { "1024x1024": "*", "1536x1024": "*", "1024x1536": "*", auto: "*" },
    priceQuality: {}
  },
  {
    id: "local",
    provider: "local",
    providerModel: "local",
    sizes: ["256x256", "512x512", "1024x1024", "1792x1024", "1024x1792", "1536x1024", "1024x1536"],
    defaultSize: "1024x1024",
    qualities: ["standard", "auto"],
    defaultQuality: "standard",
    styles: [],
    maxN: 10,
    maxPromptLength: 4000,
    responseFormats: ["url", "b64_json"],
    defaultResponseFormat: "b64_json",
    acceptsOutputOptions: false,
    priceSize: {
      "256x256": "*", "512x512": "*", "1024x1024": "*", "1792x1024": "*", "1024x1792": "*",
      "1536x1024": "*", "1024x1536": "*"
    },
    priceQuality: { standard: "*", auto: "*" }
  }
]

export const DEFAULT_MODEL_ID = "dall-e-3"

/** `WxH` → [width, height]; `auto` is rendered square. */
export const sizeToPixels = (size: string): readonly [number, number] => {
  const m = /^(\d+)x(\d+)$/.exec(size)
  return m ? [Number(m[1]), Number(m[2])] : [1024, 1024]
}
