import * as NodeHttpClient from "@effect/platform-node/NodeHttpClient"
import { Duration, Effect, Layer, Redacted } from "effect"
import { HttpClient, HttpClientError, HttpMiddleware } from "effect/http"
import { OtlpSerialization, OtlpTracer } from "effect/observability"
import type { TracingSettings } from "./TracingConfig.ts"

/** The collector's URL for messages: no user or password. */
const shown = (url: string) => {
  const u = new URL(url)
  u.username = ""
  u.password = ""
  return u.href
}

/** A Node error's code (ECONNREFUSED, …), when the failure has one. */
const codeOf = (cause: unknown): string | undefined => {
  const code = (cause as { code?: unknown } | undefined)?.code
  return typeof code === "string" ? code : undefined
}

/**
 * An image's URL is its only access control (unguessable, served to whoever has it): requests for
 * images get no span, so that collectors do not learn the URLs.
 */
const untracedRequests = Layer.succeed(
  HttpMiddleware.TracerDisabledWhen,
  (request) => request.url.startsWith("/v1/images/files/")
)

/**
 * The HTTP client spans are exported with (node:http). Each request is bounded by the export
 * timeout: a collector that accepts connections and never answers cannot pile up exports. A
 * collector that fails is logged once, when it starts failing, and once when it answers again:
 * effect's exporter retries a batch, then drops spans for a minute and tries again, which would
 * otherwise be silent (it logs at debug level) or, per attempt, noisy.
 */
const exportClient = (settings: TracingSettings): Layer.Layer<HttpClient.HttpClient> =>
  Layer.effect(
    HttpClient.HttpClient,
    Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      const where = shown(settings.url)
      let failing = false
      const failed = (problem: string) =>
        Effect.suspend(() => {
          if (failing) return Effect.void
          failing = true
          return Effect.logWarning(`Traces cannot be exported to ${where} (${problem}): spans are dropped until it answers.`)
        })
      const answered = Effect.suspend(() => {
        if (!failing) return Effect.void
        failing = false
        return Effect.logInfo(`Traces are exported to ${where} again.`)
      })
      return HttpClient.transform(client, (response, request) =>
        response.pipe(
          Effect.timeoutOrElse({
            duration: Duration.millis(settings.timeoutMs),
            orElse: () =>
              Effect.fail(
                new HttpClientError.HttpClientError({
                  reason: new HttpClientError.TransportError({ request, description: `no answer within ${settings.timeoutMs} ms` })
                })
              )
          }),
          Effect.tap((r) => (r.status >= 200 && r.status < 300 ? answered : failed(`HTTP ${r.status}`))),
          Effect.tapError((e) => failed(e.reason.description ?? codeOf(e.reason.cause) ?? e.reason._tag))
        ))
    })
  ).pipe(Layer.provide(NodeHttpClient.layerNodeHttp))

/** One line for the start-up output: where spans go (without the headers, which may hold a token). */
export const describeTracing = (settings: TracingSettings): string =>
  `Traces: OTLP/HTTP (${settings.protocol}) to ${shown(settings.url)} as service ${settings.serviceName}`

/**
 * effect's OTLP tracer for `settings`: spans are batched and sent off the request path every
 * `scheduleDelayMs` (and when 1,000 are waiting), and flushed when the gateway stops (within 3 s).
 */
export const Tracing = (settings: TracingSettings) =>
  OtlpTracer.layer({
    url: settings.url,
    resource: { serviceName: settings.serviceName },
    headers: Redacted.value(settings.headers),
    exportInterval: Duration.millis(settings.scheduleDelayMs),
    shutdownTimeout: "3 seconds"
  }).pipe(
    Layer.provide(settings.protocol === "http/json" ? OtlpSerialization.layerJson : OtlpSerialization.layerProtobuf),
    Layer.provide(exportClient(settings)),
    Layer.merge(untracedRequests)
  )
