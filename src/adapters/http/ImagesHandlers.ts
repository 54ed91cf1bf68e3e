import { Clock, Effect, Option, Result } from "effect"
import { type HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder } from "effect/http-api"
import { ImageStore } from "../../application/ports/ImageStore.ts"
import { Api } from "./Api.ts"
import { errorResponse, resourceNotFound } from "./ErrorMapping.ts"
import { errorAnswer, GenerationEndpoint } from "./GenerationEndpoint.ts"
import { CurrentRequestId, readJsonBody } from "./Requests.ts"

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
    const endpoint = yield* GenerationEndpoint
    const images = yield* ImageStore

    /** One handler for every path: the body read here, everything else the endpoint's. */
    const generate = ({ request }: { readonly request: HttpServerRequest.HttpServerRequest }) =>
      Effect.gen(function*() {
        const requestId = yield* CurrentRequestId
        const body = yield* Effect.result(readJsonBody(request))
        const answer = Result.isSuccess(body)
          ? yield* endpoint.handle(request.headers, body.success, requestId)
          : errorAnswer(body.failure.wire, requestId)
        return HttpServerResponse.text(answer.body, {
          status: answer.status,
          contentType: "application/json",
          headers: answer.headers
        })
      })

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
