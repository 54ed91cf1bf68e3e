import { Effect, Layer } from "effect"
import { ImageProvider, type ProviderCall, type ProviderResult } from "../../application/ports/ImageProvider.ts"
import { sizeToPixels } from "../../domain/Models.ts"
import { renderPng } from "./PngRenderer.ts"

/**
 * The embedded provider: renders real, deterministic PNGs with no network, so the whole
 * product runs without provider keys. It answers for whichever provider was asked for.
 */
export const generateLocally = (call: ProviderCall): Effect.Effect<ProviderResult> =>
  Effect.sync(() => {
    const [width, height] = sizeToPixels(call.size)
    const seed = call.seed ?? 0
    const images = Array.from({ length: call.n }, (_, i) => ({
      bytes: renderPng({ prompt: call.prompt, width, height, seed: seed + i }),
      contentType: "image/png"
    }))
    return { images, providerUsed: "local" as const }
  })

export const LocalImageProvider = Layer.succeed(ImageProvider, ImageProvider.of({ generate: generateLocally }))
