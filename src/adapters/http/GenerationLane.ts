import { Context, Effect, Exit, FiberSet, Layer, type Scope } from "effect"
import type { IncomingMessage, ServerResponse } from "node:http"
import { payloadTooLarge, shuttingDown, unsupportedMediaType, type WireError } from "./ErrorMapping.ts"
import { errorAnswer, GenerationEndpoint, type WireAnswer } from "./GenerationEndpoint.ts"
import { observeResponse } from "../metrics/Metrics.ts"
import { accessEntry, AccessLog } from "./AccessLog.ts"
import { GENERATION_PATHS } from "./Api.ts"
import { lingerThenClose, LingerLimits } from "./Linger.ts"
import { acceptsContentType, collectNodeJson, MaxBodyBytes, requestIdOf } from "./Requests.ts"

/**
 * A handler that may take a request before the Effect router sees it: it answers the request
 * and returns true, or returns false and leaves it alone.
 */
export type Lane = (request: IncomingMessage, response: ServerResponse) => boolean

/** Where the Node server looks for a lane (see `NodeServer`); one lane at a time. */
export class FrontLane extends Context.Service<FrontLane, {
  /** Puts `lane` in front for the life of the scope. */
  readonly install: (lane: Lane) => Effect.Effect<void, never, Scope.Scope>
}>()("image-gateway/http/FrontLane") {}

/**
 * Answers waiting for the end of the current event-loop turn. Requests arrive in bursts (one
 * poll of the sockets hands Node many), and writing each answer the moment it is ready wakes
 * the client's side once per answer; written together after the burst (`setImmediate` runs
 * after the poll phase), they wake it once per burst. On `npm run bench:http` this alone took
 * the generation route from 13,500 to 17,800 req/s: the system time per request fell more than
 * the JavaScript time did. An answer waits at most for the rest of its turn.
 */
class Outbox {
  /** `failed` hears of an answer Node refused to write (that connection is then destroyed). */
  private readonly failed: (error: unknown) => void
  constructor(failed: (error: unknown) => void) {
    this.failed = failed
  }

  private pending: Array<{
    readonly response: ServerResponse
    readonly status: number
    readonly headers: Record<string, string>
    readonly body: string
  }> = []

  post(response: ServerResponse, status: number, headers: Record<string, string>, body: string) {
    if (this.pending.length === 0) setImmediate(this.flush)
    this.pending.push({ response, status, headers, body })
  }

  private readonly flush = () => {
    const answers = this.pending
    this.pending = []
    for (const { response, status, headers, body } of answers) {
      // The client may have gone while the answer waited.
      if (response.headersSent || response.destroyed) continue
      try {
        response.writeHead(status, headers)
        response.end(body)
      } catch (error) {
        // One answer Node refuses (a header it rejects) must not stop the others or the process.
        response.destroy()
        this.failed(error)
      }
    }
  }
}

const LANE_PATHS: ReadonlySet<string> = new Set(Object.values(GENERATION_PATHS))

/** The path of a request URL, without its query and without one trailing slash (as the router reads it). */
const pathOf = (url: string): string => {
  const query = url.indexOf("?")
  const path = query === -1 ? url : url.slice(0, query)
  return path.length > 1 && path.endsWith("/") ? path.slice(0, -1) : path
}

/**
 * Image generation served straight from Node's request event, in front of the HttpApi router.
 *
 * The generation endpoint is the one every caller hits, and the router's generic path (a copy
 * of the service map for each request, the middleware, the response written as headers plus a
 * separate body) cost more than the core itself. This lane takes plain HTTP/1 POSTs to the
 * three generation paths and keeps only Node's I/O: the request id, reading the body (415 /
 * 413 / 400 with the router's helpers), writing the answer, metrics and the access log. What
 * the request means is `GenerationEndpoint`'s, which the HttpApi handler calls too. Whatever
 * the lane does not take (HTTP/2, `Expect: 100-continue`, upgrades, any other route) goes to
 * the router.
 *
 * The core runs in a fiber of this layer's FiberSet: a client that goes away interrupts it (the
 * hold is released); when the server stops, the layer closes after the router has drained, so
 * generations still running then are interrupted, answered 503 `shutting_down`, and their
 * holds released.
 */
export const GenerationLane: Layer.Layer<never, never, FrontLane | GenerationEndpoint> = Layer.effectDiscard(
  Effect.gen(function*() {
    const endpoint = yield* GenerationEndpoint
    const front = yield* FrontLane
    const limit = yield* MaxBodyBytes
    const linger = yield* LingerLimits
    const run = yield* FiberSet.makeRuntime<never, WireAnswer, never>()
    const log = yield* FiberSet.makeRuntime<never, void, never>()

    // Answers are written together at the end of the event-loop turn that produced them (see
    // `Outbox`), each as one write of headers and body.
    const outbox = new Outbox((error) => log(Effect.logError("an answer could not be written", error)))
    const context = yield* Effect.context<never>()
    // With an access log, when each request arrived (epoch and monotonic milliseconds).
    const sink = yield* AccessLog
    const arrivals = new WeakMap<ServerResponse, readonly [number, number]>()
    const send = (response: ServerResponse, answer: WireAnswer) => {
      if (response.headersSent || response.destroyed) return
      const headers = answer.headers
      observeResponse(answer.status, context)
      const arrived = sink === undefined ? undefined : arrivals.get(response)
      if (arrived !== undefined) {
        sink!(accessEntry({
          requestId: headers["x-request-id"]!,
          method: response.req.method ?? "POST",
          url: response.req.url ?? "",
          status: answer.status,
          startedMs: arrived[0],
          startedAt: arrived[1],
          creditsCharged: headers["x-credits-charged"]
        }))
      }
      headers["content-type"] = "application/json"
      headers["content-length"] = String(Buffer.byteLength(answer.body))
      outbox.post(response, answer.status, headers, answer.body)
    }
    const sendError = (response: ServerResponse, requestId: string, wire: WireError) =>
      send(response, errorAnswer(wire, requestId))

    /** The endpoint's answer; interrupted, a client that went away gets nothing, shutdown a 503 to retry. */
    const settle = (response: ServerResponse, requestId: string, exit: Exit.Exit<WireAnswer>, clientGone: boolean) => {
      if (Exit.isSuccess(exit)) return send(response, exit.value)
      if (!clientGone) sendError(response, requestId, shuttingDown())
    }

    const generate = (request: IncomingMessage, response: ServerResponse, requestId: string, body: unknown) => {
      let clientGone = false
      const fiber = run(endpoint.handle(request.headers, body, requestId))
      const done = fiber.pollUnsafe()
      if (done !== undefined) return settle(response, requestId, done, false)
      const onClose = () => {
        if (!response.writableEnded) {
          clientGone = true
          fiber.interruptUnsafe()
        }
      }
      response.once("close", onClose)
      fiber.addObserver((exit) => {
        response.off("close", onClose)
        settle(response, requestId, exit, clientGone)
      })
    }

    const lane: Lane = (request, response) => {
      const headers = request.headers
      if (
        request.method !== "POST" || request.httpVersionMajor !== 1 || headers.expect !== undefined ||
        headers.upgrade !== undefined || !LANE_PATHS.has(pathOf(request.url ?? ""))
      ) return false
      if (sink !== undefined) arrivals.set(response, [Date.now(), performance.now()])
      const requestId = requestIdOf(typeof headers["x-request-id"] === "string" ? headers["x-request-id"] : undefined)
      const contentType = headers["content-type"]
      // A body refused before it has all arrived: the connection closes after the answer, once
      // the rest has been read and discarded within bounds (see `lingerThenClose`), so that a
      // client still sending reads the answer rather than a reset.
      if (!acceptsContentType(contentType)) {
        const wire = unsupportedMediaType(contentType!)
        if (request.complete) {
          sendError(response, requestId, wire)
        } else {
          lingerThenClose(request, linger)
          sendError(response, requestId, { ...wire, headers: { ...wire.headers, connection: "close" } })
        }
        return true
      }
      const declared = headers["content-length"]
      if (declared !== undefined && Number(declared) > limit) {
        lingerThenClose(request, linger)
        sendError(response, requestId, payloadTooLarge(limit))
        return true
      }
      collectNodeJson(request, limit, linger, (body) => {
        if (body._tag === "Failure") sendError(response, requestId, body.failure)
        else generate(request, response, requestId, body.success)
      })
      return true
    }

    yield* front.install(lane)
  })
)
