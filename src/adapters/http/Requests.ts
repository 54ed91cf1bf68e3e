import { ByteSize, Context, Data, Effect, Result } from "effect"
import { HttpIncomingMessage, type HttpServerRequest } from "effect/http"
import * as NodeHttpServerRequest from "@effect/platform-node/NodeHttpServerRequest"
import { randomUUID } from "node:crypto"
import type { IncomingMessage } from "node:http"
import { isRequestId } from "../../domain/Ids.ts"
import { invalidJson, payloadTooLarge, unsupportedMediaType, type WireError } from "./ErrorMapping.ts"
import { lingerThenClose, LingerLimits } from "./Linger.ts"

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

const isJsonMediaType = (contentType: string): boolean => {
  const media = contentType.split(";", 1)[0]!.trim().toLowerCase()
  return media === "application/json" || (media.startsWith("application/") && media.endsWith("+json"))
}

/** JSON.parse of a body's text; anything that does not parse is a 400. */
const parseJson = (text: string): Result.Result<unknown, WireError> => {
  try {
    return Result.succeed(JSON.parse(text) as unknown)
  } catch {
    return Result.fail(invalidJson())
  }
}

/**
 * The body of a plain HTTP/1 request, collected straight from Node's IncomingMessage and parsed;
 * `done` is called once with the value or the failure, and the returned function stops
 * listening. The platform's generic reader (a cached Effect per request, stream-completion
 * listeners, an ArrayBuffer copy, a TextDecoder) cost most of a POST's extra time over a GET.
 * Same limit and failures: above `limit` the 413 closes the connection after a bounded discard
 * of the rest (`lingerThenClose`, within `linger`); a stream error or premature close reads as
 * unparsable.
 */
export const collectNodeJson = (
  message: IncomingMessage,
  limit: number,
  linger: LingerLimits,
  done: (result: Result.Result<unknown, WireError>) => void
): () => void => {
  const chunks: Array<Buffer> = []
  let bytes = 0
  const cleanup = () => {
    message.off("data", onData)
    message.off("end", onEnd)
    message.off("error", onFailure)
    message.off("close", onFailure)
  }
  function onData(chunk: Buffer) {
    bytes += chunk.length
    if (bytes > limit) {
      cleanup()
      lingerThenClose(message, linger)
      done(Result.fail(payloadTooLarge(limit)))
    } else {
      chunks.push(chunk)
    }
  }
  function onEnd() {
    cleanup()
    const text = (chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)).toString("utf8")
    // TextDecoder, which the platform decodes with, drops a byte-order mark.
    done(parseJson(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text))
  }
  function onFailure() {
    cleanup()
    done(Result.fail(invalidJson()))
  }
  message.on("data", onData)
  message.on("end", onEnd)
  message.on("error", onFailure)
  message.on("close", onFailure)
  return cleanup
}

const readNodeJson = (message: IncomingMessage, limit: number, linger: LingerLimits): Effect.Effect<unknown, HttpFailure> =>
  Effect.callback<unknown, HttpFailure>((resume) => {
    const stop = collectNodeJson(message, limit, linger, (result) =>
      resume(Result.isSuccess(result)
        ? Effect.succeed(result.success)
        : Effect.fail(new HttpFailure({ wire: result.failure }))))
    // Interrupted (client gone, shutdown): the server tears the unread body down after the response.
    return Effect.sync(stop)
  })

/**
 * The platform's reader: HTTP/2, `Expect: 100-continue` (it answers the 100), upgrades, tests
 * without Node. Above the limit, an HTTP/1 body gets the same bounded discard as on Node's path
 * (`http1`: the request's IncomingMessage, if it is one).
 */
const readPlatformJson = (
  request: HttpServerRequest.HttpServerRequest,
  limit: number,
  http1: IncomingMessage | undefined,
  linger: LingerLimits
): Effect.Effect<unknown, HttpFailure> =>
  request.text.pipe(
    Effect.provideService(HttpIncomingMessage.MaxBodySize, ByteSize.bytes(limit)),
    Effect.mapError((e) => {
      if (e.reason._tag === "RequestParseError" && e.reason.reason === "BodyTooLarge") {
        if (http1 !== undefined) lingerThenClose(http1, linger)
        return new HttpFailure({ wire: payloadTooLarge(limit) })
      }
      return new HttpFailure({ wire: invalidJson() })
    }),
    Effect.flatMap((text) => Effect.mapError(Effect.fromResult(parseJson(text)), (wire) => new HttpFailure({ wire })))
  )

/** Whether a declared Content-Type is one the gateway reads (an absent one is read as JSON). */
export const acceptsContentType = (contentType: string | undefined): boolean =>
  contentType === undefined || isJsonMediaType(contentType)

/** node:http's class, without an ESM import of node:http (which would make Node load undici as well). */
const NodeIncomingMessage = process.getBuiltinModule("node:http").IncomingMessage

/** The HTTP/1 IncomingMessage under a request, if there is one (not HTTP/2, not a test without Node). */
const http1MessageOf = (request: HttpServerRequest.HttpServerRequest): IncomingMessage | undefined => {
  const source: unknown = NodeHttpServerRequest.toIncomingMessage(request)
  return source instanceof NodeIncomingMessage && source.httpVersionMajor === 1 ? source : undefined
}

/**
 * Reads a JSON body: 415 for a content type that is not JSON (an absent one is read as JSON),
 * 413 above the size limit, 400 for anything that does not parse. The value is not validated
 * here: the endpoint decodes it (`CreateImageRequest`, for a generation) and names the
 * parameter that is wrong.
 *
 * A 415 or 413 answered before the body has all arrived closes the connection (`Connection:
 * close`) after a bounded discard of the rest (`lingerThenClose`), so that a client still sending
 * reads the answer instead of a reset.
 */
export const readJsonBody = (request: HttpServerRequest.HttpServerRequest): Effect.Effect<unknown, HttpFailure> =>
  Effect.withFiber((fiber) => {
    const headers = request.headers
    const contentType = headers["content-type"]
    const http1 = http1MessageOf(request)
    const linger = fiber.getRef(LingerLimits)
    if (!acceptsContentType(contentType)) {
      const wire = unsupportedMediaType(contentType!)
      if (http1 === undefined || http1.complete) return Effect.fail(new HttpFailure({ wire }))
      lingerThenClose(http1, linger)
      return Effect.fail(new HttpFailure({ wire: { ...wire, headers: { ...wire.headers, connection: "close" } } }))
    }
    const limit = fiber.getRef(MaxBodyBytes)
    const declared = headers["content-length"]
    if (declared !== undefined && Number(declared) > limit) {
      if (http1 !== undefined) lingerThenClose(http1, linger)
      return Effect.fail(new HttpFailure({ wire: payloadTooLarge(limit) }))
    }
    return http1 !== undefined && !http1.readableEnded && headers["expect"] === undefined &&
        headers["upgrade"] === undefined
      ? readNodeJson(http1, limit, linger)
      : readPlatformJson(request, limit, http1, linger)
  })
