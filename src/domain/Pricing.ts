import { ceilDiv, millicredits, type Millicredits } from "./Money.ts"
import type { ModelSpec } from "./Models.ts"

/** One row of the price table: the base price of one image, in millicredits. */
export interface PriceRow {
  readonly model: string
  /** A quality name, or `*` for any. */
  readonly quality: string
  /** A size (or a size class named by the model's `priceSize`), or `*` for any. */
  readonly size: string
  readonly millicredits: number
}

const row = (model: string, quality: string, size: string, creditsPerImage: number): PriceRow => ({
  model,
  quality,
  size,
  millicredits: creditsPerImage * 1000
})

const gptImageRows = (model: string, square: [number, number, number], rect: [number, number, number]) => [
  row(model, "low", "square", square[0]),
  row(model, "medium", "square", square[1]),
  row(model, "high", "square", square[2]),
  row(model, "low", "rect", rect[0]),
  row(model, "medium", "rect", rect[1]),
  row(model, "high", "rect", rect[2])
]

/** The default prices of the specification, per image, before the tier multiplier. */
export const DEFAULT_PRICES: ReadonlyArray<PriceRow> = [
  row("dall-e-3", "standard", "1024x1024", 40),
  row("dall-e-3", "standard", "1792x1024", 80),
  row("dall-e-3", "hd", "1024x1024", 80),
  row("dall-e-3", "hd", "1792x1024", 120),
  row("dall-e-2", "standard", "256x256", 16),
  row("dall-e-2", "standard", "512x512", 16),
  row("dall-e-2", "standard", "1024x1024", 18),
  ...gptImageRows("gpt-image-1", [11, 42, 167], [16, 63, 250]),
  ...gptImageRows("gpt-image-1-mini", [5, 11, 36], [6, 15, 52]),
  ...gptImageRows("gpt-image-1.5", [9, 34, 133], [13, 50, 200]),
  row("google/gemini-2.5-flash-image", "*", "*", 39),
  row("local", "*", "*", 1)
]

/** The base price of one image of this model, quality and size, if the table has one. */
export const basePrice = (
  table: ReadonlyArray<PriceRow>,
  model: ModelSpec,
  quality: string,
  size: string
): Millicredits | undefined => {
  const q = model.priceQuality[quality] ?? quality
  const s = model.priceSize[size] ?? size
  const exact = table.find((r) => r.model === model.id && r.quality === q && r.size === s)
  const found = exact ??
    table.find((r) => r.model === model.id && (r.quality === q || r.quality === "*") && (r.size === s || r.size === "*"))
  return found === undefined ? undefined : millicredits(found.millicredits)
}

/** `ceil(base × n × multiplier / 10000)` in exact integer arithmetic. */
export const priceOf = (base: Millicredits, n: number, multiplierBps: number): Millicredits =>
  millicredits(ceilDiv(base * n * multiplierBps, 10000))
