import { ByteSize, Context, Data, Effect } from "effect"
import { HttpIncomingMessage, type HttpServerRequest } from "effect/http"
import { randomUUID } from "node:crypto"
import type { Credentials } from "../../application/PrincipalResolver.ts"
import { isRequestId } from "../../domain/Ids.ts"
import { invalidJson, payloadTooLarge, unsupportedMediaType, type WireError } from "./ErrorMapping.ts"

/** A failure of the HTTP layer itself (body, content type, unknown resource), already on the wire. */
export class HttpFailure extends Data.TaggedError("HttpFailure")<{ readonly wire: WireError }> {}

/** The request id of the request being handled; set for every request by the gateway middleware. */
export const CurrentRequestId = Context.Reference<string>("image-gateway/http/CurrentRequestId", {
  defaultValue: () => ""
})

/** The largest request body the gateway reads (1 MiB); a prompt is at most 4,000 characters. */
export const MaxBodyBytes = Context.Reference<number>("image-gateway/http/MaxBodyBytes", {
  defaultValue: () => 1024 * 1024
})

/** A valid incoming `X-Request-ID` is kept; otherwise the gateway names the request itself. */
export const requestIdOf = (incoming: string | undefined): string =>
  incoming !== undefined && isRequestId(incoming) ? incoming : `req_${randomUUID().replaceAll("-", "")}`

/** The raw credentials of a request, handed to the core untrusted. */
export const credentialsOf = (request: HttpServerRequest.HttpServerRequest): Credentials => {
  const headers = request.headers
  const cookie = headers["cookie"]
  return {
    authorization: headers["authorization"],
    sessionToken: cookie === undefined ? undefined : request.cookies["session_token"],
    userId: headers["x-user-id"]
  }
}

const isJsonMediaType = (contentType: string): boolean => {
  const media = contentType.split(";", 1)[0]!.trim().toLowerCase()
  return media === "application/json" || (media.startsWith("application/") && media.endsWith("+json"))
}

/**
 * Reads a JSON body: 415 for a content type that is not JSON (an absent one is read as JSON),
 * 413 above the size limit, 400 for anything that does not parse. The value is not validated
 * here: the core decodes a generation request and names the parameter that is wrong.
 */
export const readJsonBody = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<unknown, HttpFailure> =>
  Effect.gen(function*() {
    const headers = request.headers
    const contentType = headers["content-type"]
    if (contentType !== undefined && !isJsonMediaType(contentType)) {
      return yield* new HttpFailure({ wire: unsupportedMediaType(contentType) })
    }
    const limit = yield* MaxBodyBytes
    const declared = headers["content-length"]
    if (declared !== undefined && Number(declared) > limit) {
      return yield* new HttpFailure({ wire: payloadTooLarge(limit) })
    }
    const text = yield* request.text.pipe(
      Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(limit)),
      Effect.mapError((e) =>
        new HttpFailure({
          wire: e.reason._tag === "RequestParseError" && e.reason.reason === "BodyTooLarge"
            ? payloadTooLarge(limit)
            : invalidJson()
        })
      )
    )
    try {
      return JSON.parse(text) as unknown
    } catch {
      return yield* new HttpFailure({ wire: invalidJson() })
    }
  })
