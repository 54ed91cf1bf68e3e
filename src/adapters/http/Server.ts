import { Cause, Context, Effect, Layer, Option, Redacted, Result, SchemaIssue, Scope } from "effect"
import { HttpRouter, HttpServer, HttpServerError, HttpServerRequest, HttpServerResponse } from "effect/http"
import { HttpApiBuilder, HttpApiScalar } from "effect/http-api"
import { PrometheusMetrics } from "effect/observability"
import { HttpApiSchemaError } from "effect/http-api/HttpApiError"
import * as NodeHttpServer from "@effect/platform-node/NodeHttpServer"
import { createHash, timingSafeEqual } from "node:crypto"
import type { IncomingMessage, ServerOptions, ServerResponse } from "node:http"
import type { Duplex } from "node:stream"
import { ByokHandlers, CreditsHandlers } from "./AccountHandlers.ts"
import { AdminHandlers } from "./AdminHandlers.ts"
import { Dashboard } from "../dashboard/DashboardRoutes.ts"
import { AuthenticatedLayer } from "./AuthMiddleware.ts"
import { bearerToken } from "./Credentials.ts"
import { Api } from "./Api.ts"
import {
  errorBody,
  errorResponse,
  expectationFailed,
  headersTooLarge,
  unhandledFailure,
  invalidParameter,
  malformedRequest,
  metricsUnauthorized,
  notFound,
  requestTimeout,
  shuttingDown,
  starting,
  type WireError
} from "./ErrorMapping.ts"
import { observeResponse } from "../metrics/Metrics.ts"
import { ScrapeRefresh } from "../metrics/LedgerGauges.ts"
import { AccessLog, accessEntry } from "./AccessLog.ts"
import { GenerationEndpoint } from "./GenerationEndpoint.ts"
import { FrontLane, type Lane, GenerationLane } from "./GenerationLane.ts"
import { ImagesHandlers } from "./ImagesHandlers.ts"
import { JwtMigrationRoute } from "./JwtMigrationRoute.ts"
import { LINGER_DEFAULTS, lingerThenClose } from "./Linger.ts"
import { CurrentRequestId, requestIdOf } from "./Requests.ts"
import { ModelsHandlers, SystemHandlers } from "./SystemHandlers.ts"

const standardIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/** What escaped every handler: a route that does not exist, a header that did not decode, a bug. */
const unexpected = (cause: Cause.Cause<unknown>, request: HttpServerRequest.HttpServerRequest) => {
  if (Cause.hasInterruptsOnly(cause)) {
    // A client that went away gets nothing; a request cut short by shutdown gets a 503 to retry.
    const clientGone = cause.reasons.some((r) => r._tag === "Interrupt" && r.annotations.has(HttpServerError.ClientAbort.key))
    return clientGone ? Effect.failCause(cause) : Effect.succeed(errorResponse(shuttingDown()))
  }
  const error = Cause.squash(cause)
  if (HttpServerError.isHttpServerError(error) && error.reason._tag === "RouteNotFound") {
    return Effect.succeed(errorResponse(notFound(request.method, request.url.split("?", 1)[0]!)))
  }
  if (HttpApiSchemaError.is(error) && error.kind !== "Body" && error.kind !== "ResponseHeaders") {
    const where = error.kind === "Params" ? "path" : error.kind === "Query" ? "query" : error.kind.toLowerCase()
    // The parameter itself when the issue names it (`?limit=1&limit=2`: `limit`).
    const key = standardIssues(error.cause.issue).issues[0]?.path?.[0]
    const name = typeof key === "object" && key !== null ? key.key : key
    const param = typeof name === "string" ? name : where
    return Effect.succeed(errorResponse(invalidParameter(param, `Invalid ${where} parameter: ${error.cause.message}`)))
  }
  // Logged with the request id; the client gets a generic message, never a stack trace.
  return Effect.logError("unhandled failure", cause).pipe(Effect.as(errorResponse(unhandledFailure(cause))))
}

/**
 * Runs around every request: names it (`X-Request-ID`: a valid incoming id is kept), turns
 * whatever escaped the handlers into OpenAI's error shape, so no response is ever empty, counts
 * the answer, and writes it to the access log when there is one.
 */
export const GatewayMiddleware = HttpRouter.middleware(
  (app) =>
    Effect.withFiber((fiber) => {
      const request = Context.getUnsafe(fiber.context, HttpServerRequest.HttpServerRequest)
      const id = requestIdOf(request.headers["x-request-id"])
      const sink = fiber.getRef(AccessLog)
      const startedMs = sink === undefined ? 0 : Date.now()
      const startedAt = sink === undefined ? 0 : performance.now()
      return app.pipe(
        Effect.catchCause((cause) => unexpected(cause, request)),
        Effect.map(HttpServerResponse.setHeader("x-request-id", id)),
        Effect.tap((response) =>
          Effect.sync(() => {
            observeResponse(response.status, fiber.context)
            sink?.(accessEntry({
              requestId: id,
              method: request.method,
              url: request.url,
              status: response.status,
              startedMs,
              startedAt,
              creditsCharged: response.headers["x-credits-charged"]
            }))
          })
        ),
        Effect.provideService(CurrentRequestId, id)
      )
    }),
  { global: true }
)

export const ApiHandlers = Layer.mergeAll(
  Layer.mergeAll(ImagesHandlers, ModelsHandlers, CreditsHandlers, ByokHandlers, SystemHandlers).pipe(Layer.provide(AuthenticatedLayer)),
  AdminHandlers
)

/** The bearer token `GET /metrics` asks for (METRICS_TOKEN); with none, the metrics are open. */
export const MetricsToken = Context.Reference<Option.Option<Redacted.Redacted<string>>>(
  "image-gateway/http/MetricsToken",
  { defaultValue: () => Option.none() }
)

const digestOf = (text: string) => createHash("sha256").update(text).digest()

/** Whether `authorization` is `Bearer <token>`, compared in constant time. */
const bearerMatches = (authorization: string | undefined, token: Redacted.Redacted<string>): boolean => {
  const sent = authorization === undefined ? undefined : bearerToken(authorization)
  return sent !== undefined && Result.isSuccess(sent) && timingSafeEqual(digestOf(sent.success), digestOf(Redacted.value(token)))
}

/** `GET /metrics`: effect's Prometheus exposition of the process's metrics, behind METRICS_TOKEN if set. */
const MetricsRoute = Layer.effectDiscard(Effect.gen(function*() {
  const router = yield* HttpRouter.HttpRouter
  const token = yield* MetricsToken
  const refresh = yield* ScrapeRefresh
  yield* router.add(
    "GET",
    "/metrics",
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (Option.isSome(token) && !bearerMatches(request.headers["authorization"], token.value)) {
        return errorResponse(metricsUnauthorized())
      }
      yield* refresh
      return HttpServerResponse.text(yield* PrometheusMetrics.format(), {
        contentType: "text/plain; version=0.0.4; charset=utf-8"
      })
    })
  )
}))

/**
 * `GET /docs`: effect's Scalar page with its script inline (no CDN). The script is 3 MB of
 * source and the page twice that as one string, so both are made on the first request for the
 * page, not at start-up: an idle gateway whose docs nobody reads does not hold them.
 */
const DocsRoute = Layer.effectDiscard(Effect.gen(function*() {
  const router = yield* HttpRouter.HttpRouter
  const scope = yield* Effect.scope
  const page = yield* Effect.cached(
    HttpRouter.toHttpEffect(HttpApiScalar.layer(Api, { path: "/docs", scalar: { withDefaultFonts: false } })).pipe(
      Scope.provide(scope)
    )
  )
  yield* router.add("GET", "/docs", Effect.flatten(page))
}))

/**
 * Every route: the API, its OpenAPI document, the docs page (Scalar, served inline, no CDN), the
 * JWT migration guide, the Prometheus metrics, and the operators' dashboard (`/admin`).
 */
export const HttpApp = Layer.mergeAll(
  HttpApiBuilder.layer(Api, { openapiPath: "/openapi.json" }).pipe(Layer.provide(ApiHandlers)),
  DocsRoute,
  JwtMigrationRoute,
  MetricsRoute,
  Dashboard,
  GatewayMiddleware
)

/**
 * The gateway served over HTTP: the generation lane in front, the HttpApi router for the rest.
 * The per-request logger is off: it halves throughput, and failures the gateway did not expect
 * are logged by `GatewayMiddleware` and the lane. The lane is built before the router and
 * closed after it, so that on shutdown the router drains first.
 */
export const HttpGatewayServer = HttpRouter.serve(HttpApp, { disableLogger: true, disableListenLog: true }).pipe(
  Layer.provide(GenerationLane),
  Layer.provide(GenerationEndpoint.layer)
)

export interface ListenOptions {
  readonly host: string
  readonly port: number
  /** How long in-flight requests may take to finish on shutdown before they are interrupted. */
  readonly gracefulShutdownMs?: number | undefined
  /** Time allowed to receive a request's headers (default 10 s). */
  readonly headersTimeoutMs?: number | undefined
  /** Time allowed to receive a whole request, headers and body (default 30 s). */
  readonly requestTimeoutMs?: number | undefined
}

/**
 * A Node HTTP server with timeouts: the headers must arrive within 10 s and the whole request
 * within 30 s (a slow client cannot hold a connection open), checked every second (Node checks
 * every 30 s by default, which would let a stalled client stay three times as long); idle
 * keep-alive connections close after 5 s. Generating an image may take longer: these bound
 * receiving the request, not producing the response.
 */
export const NodeServer = (options: ListenOptions) => {
  let lane: Lane | undefined
  const front = FrontLane.of({
    install: (next) =>
      Effect.acquireRelease(Effect.sync(() => void (lane = next)), () => Effect.sync(() => void (lane = undefined)))
  })
  const headersTimeout = options.headersTimeoutMs ?? 10_000
  const requestTimeout = options.requestTimeoutMs ?? 30_000
  return Layer.merge(
    NodeHttpServer.layer(
      () =>
        new GatewayNodeServer(() => lane, {
          headersTimeout,
          requestTimeout,
          keepAliveTimeout: 5_000,
          connectionsCheckingInterval: Math.min(1_000, Math.ceil(headersTimeout / 4))
        }),
      { host: options.host, port: options.port, gracefulShutdownTimeout: options.gracefulShutdownMs ?? 20_000 }
    ),
    Layer.succeed(FrontLane, front)
  )
}

/**
 * node:http through `getBuiltinModule`: an ESM import of it makes Node load undici too (for the
 * WebSocket exports), a few MB the gateway never uses.
 */
const { Server, STATUS_CODES } = process.getBuiltinModule("node:http")

/**
 * What Node answers by itself, before there is a request to hand on (a timeout while receiving
 * it, headers too large, bytes that are not HTTP), in OpenAI's error shape rather than Node's
 * empty body.
 */
const clientErrorWire = (code: string | undefined, options: ServerOptions): WireError =>
  code === "ERR_HTTP_REQUEST_TIMEOUT"
    ? requestTimeout(options.headersTimeout ?? 60_000, options.requestTimeout ?? 300_000)
    : code === "HPE_HEADER_OVERFLOW"
    ? headersTooLarge()
    : malformedRequest()

/**
 * A Node HTTP server that offers each request to the installed lane before its listeners, and
 * answers client errors in OpenAI's shape.
 */
class GatewayNodeServer extends Server {
  readonly lane: () => Lane | undefined
  constructor(lane: () => Lane | undefined, options: ServerOptions) {
    super(options)
    this.lane = lane
    this.on("clientError", (error: NodeJS.ErrnoException, socket: Duplex) => {
      // A connection reset or already closed has no one to answer.
      if (error.code === "ECONNRESET" || !socket.writable) return void socket.destroy()
      // A response already on the wire (a 417 to an unknown Expect, a 413 while the body still
      // came) is the request's answer: a second one after it would be read as the answer to a
      // request never sent. It ends the connection once written. (`_httpMessage` is Node's
      // response of the socket's current request; there is no public accessor.)
      const current = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage
      if (current?.headersSent) {
        if (current.writableFinished) socket.end()
        else current.once("finish", () => socket.end())
        return
      }
      const wire = clientErrorWire(error.code, options)
      const body = errorBody(wire)
      const headers = {
        ...wire.headers,
        "content-type": "application/json",
        "content-length": String(Buffer.byteLength(body)),
        "x-request-id": requestIdOf(undefined),
        connection: "close"
      }
      const head = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`).join("")
      socket.end(`HTTP/1.1 ${wire.status} ${STATUS_CODES[wire.status]}\r\n${head}\r\n${body}`)
    })
    // Node's own answer to an unknown `Expect` is a bare 417 with no body. The body may still be
    // coming: read and discarded within the default bounds (`lingerThenClose`), or the close
    // after the answer resets the connection and the client loses the 417.
    this.on("checkExpectation", (request: IncomingMessage, response: ServerResponse) => {
      lingerThenClose(request, LINGER_DEFAULTS)
      answerUnserved(response, expectationFailed())
    })
  }
  /** Whether the gateway has served: a request with no handler then means it is stopping, not starting. */
  private served = false
  override emit(event: string, ...args: Array<any>): boolean {
    if (event === "request") {
      const lane = this.lane()
      if (lane !== undefined && lane(args[0] as IncomingMessage, args[1] as ServerResponse)) return true
      if (this.listenerCount("request") === 0) {
        // The port opens before the gateway is ready (its database starts, migrates and seeds
        // behind it), and closes after the handlers are gone: a request in either window gets a
        // prompt 503 to retry, never silence.
        answerUnserved(args[1] as ServerResponse, this.served ? shuttingDown() : starting())
        return true
      }
      this.served = true
    }
    return super.emit(event, ...args)
  }
}

/** A request that arrived while no handler was installed: its body is discarded, the answer written. */
const answerUnserved = (response: ServerResponse, wire: WireError) => {
  const body = errorBody(wire)
  response.req.resume()
  response.writeHead(wire.status, {
    ...wire.headers,
    "content-type": "application/json",
    "content-length": String(Buffer.byteLength(body)),
    "x-request-id": requestIdOf(undefined)
  })
  response.end(body)
}

/** `http://host:port` of the listening server (an unspecified host is shown as 127.0.0.1). */
export const serverOrigin = Effect.gen(function*() {
  const server = yield* HttpServer.HttpServer
  const url = new URL(HttpServer.formatAddress(server.address))
  if (url.hostname === "0.0.0.0" || url.hostname === "[::]") url.hostname = "127.0.0.1"
  return url.origin
})
