import { Context, type Effect, type Option } from "effect"

export interface StoredImage {
  readonly id: string
  readonly bytes: Uint8Array
  readonly contentType: string
  readonly expiresAt: number
}

/** Keeps generated images for `response_format: "url"` under unguessable ids. */
export class ImageStore extends Context.Service<ImageStore, {
  readonly put: (image: {
    readonly bytes: Uint8Array
    readonly contentType: string
    readonly expiresAt: number
  }) => Effect.Effect<{ readonly id: string; readonly url: string }>
  /** None when unknown or expired at `now`. */
  readonly get: (id: string, now: number) => Effect.Effect<Option.Option<StoredImage>>
  readonly removeExpired: (now: number) => Effect.Effect<number>
}>()("image-gateway/ImageStore") {}
