import { Context, Layer } from "effect"
import { Base64 } from "effect/encoding"

/**
 * Base64 for `response_format: "b64_json"`: every returned image is encoded once, and images
 * run to megabytes. The portable encoder is plain JavaScript; a platform with a native one
 * (Node's Buffer) gives it to the core in the composition root, as it does its crypto.
 */
export class ImageEncoding extends Context.Service<ImageEncoding, {
  readonly base64: (bytes: Uint8Array) => string
}>()("image-gateway/ImageEncoding") {
  static readonly portable: Layer.Layer<ImageEncoding> = Layer.succeed(ImageEncoding, ImageEncoding.of({ base64: Base64.encode }))
}
