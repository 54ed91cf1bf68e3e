import { Clock, Effect, Option } from "effect"
import { type HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { ImageGeneration } from "../../application/ImageGeneration.ts"
import { ImageStore } from "../../application/ports/ImageStore.ts"
import { Api } from "./Api.ts"
import { errorResponse, resourceNotFound } from "./ErrorMapping.ts"
import { credentialsOf, CurrentRequestId, readJsonBody } from "./Requests.ts"
import { failureResponse, generationHeaders, json } from "./Responses.ts"

const IMAGE_FILE = /^([0-9a-f]{32})\.png$/

const imageNotFound = errorResponse(resourceNotFound(
  "image_not_found",
  "No such image: image URLs are valid for 60 minutes after generation."
))

/** Image generation on its three paths, and the images stored for `response_format: "url"`. */
export const ImagesHandlers = HttpApiBuilder.group(
  Api,
  "images",
  Effect.fn(function*(handlers) {
    const generation = yield* ImageGeneration
    const images = yield* ImageStore

    /** One handler for every path: the core resolves the caller and validates the body. */
    const generate = ({ request }: { readonly request: HttpServerRequest.HttpServerRequest }) =>
      Effect.gen(function*() {
        const body = yield* readJsonBody(request)
        const result = yield* generation.generate({
          credentials: credentialsOf(request),
          body,
          requestId: yield* CurrentRequestId,
          idempotencyKey: request.headers["idempotency-key"]
        })
        return json(result.body, { headers: generationHeaders(result, yield* Clock.currentTimeMillis) })
      }).pipe(Effect.catch(failureResponse))

    return handlers
      .handleRaw("generate", generate)
      .handleRaw("generateLlm", generate)
      .handleRaw("generateLegacy", generate)
      .handle("file", ({ params }) =>
        Effect.gen(function*() {
          const match = IMAGE_FILE.exec(params.file)
          if (match === null) return imageNotFound
          const now = yield* Clock.currentTimeMillis
          const found = yield* images.get(match[1]!, now)
          if (Option.isNone(found)) return imageNotFound
          const image = found.value
          return HttpServerResponse.uint8Array(image.bytes, {
            contentType: image.contentType,
            headers: {
              "cache-control": `private, max-age=${Math.max(0, Math.floor((image.expiresAt - now) / 1000))}, immutable`,
              "x-content-type-options": "nosniff"
            }
          })
        }))
  })
)
