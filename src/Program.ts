import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Cause, Console, Effect, Exit, Layer, Option, References, Runtime } from "effect"
import type { HttpServerError } from "effect/http"
import { AccessLog, makeStdoutAccessLog } from "./adapters/http/AccessLog.ts"
import { HttpGatewayServer, MetricsToken, NodeServer } from "./adapters/http/Server.ts"
import { Gateway, GatewayConfig } from "./Layers.ts"
import { Announce, Seed, Sweeper } from "./Startup.ts"
import { describeConfigError } from "./adapters/config/ConfigErrors.ts"
import { TracingConfig } from "./adapters/observability/TracingConfig.ts"


/** Why the server could not listen, naming HOST and PORT: one line, no stack trace. */
const describeListenError = (e: HttpServerError.ServeError, host: string, port: number): string => {
  const code = (e.cause as NodeJS.ErrnoException | undefined)?.code
  const where = `HOST ${host}, PORT ${port}`
  switch (code) {
    case "EADDRINUSE":
      return `${where}: the address is already in use (another gateway or program listens there); stop it or set another PORT`
    case "EACCES":
      return `${where}: permission denied (ports below 1024 need privileges); set a PORT of 1024 or more`
    case "EADDRNOTAVAIL":
      return `${where}: HOST is not an address of this machine; use 127.0.0.1, 0.0.0.0 or one of its addresses`
    default:
      return `${where}: cannot listen (${code ?? String(e.cause)})`
  }
}

/** Start-up stops with one line naming what to fix, and the exit code for a configuration error. */
const stop = (message: string) =>
  Console.error(message).pipe(Effect.andThen(Effect.sync(() => void (process.exitCode = 78))))

/**
 * The composition root (`npm start` runs it through src/main.ts): configuration → adapters →
 * core → HTTP. `npm start` with no configuration runs the complete product on one machine.
 * SIGTERM / SIGINT stop accepting connections, let in-flight requests finish (up to 20 s; what
 * is still running then is interrupted and its credit holds released), and exit.
 */
const main = Effect.gen(function*() {
  const config = yield* GatewayConfig
  const tracing = yield* TracingConfig
  // Demo data is seeded before the first request is served; the banner is printed once every
  // route is installed (until then the open port answers 503 `starting`).
  const serving = HttpGatewayServer.pipe(
    Layer.provideMerge(Layer.mergeAll(Seed(config), Sweeper)),
    Layer.provideMerge(Gateway(config)),
    Layer.provideMerge(NodeServer({ host: config.host, port: config.port }))
  )
  const server = Announce(config).pipe(Layer.provide(serving))
  const launched = Layer.launch(server).pipe(
    Effect.provideService(MetricsToken, config.metricsToken),
    Effect.provideService(AccessLog, config.accessLog ? makeStdoutAccessLog() : undefined),
    Effect.catchTag("ServeError", (e) => stop(describeListenError(e, config.host, config.port)))
  )
  // Without an OTLP endpoint no tracer is exported, so spans would only cost time on every
  // request: the core is built untraced. With one, the exporter is loaded and provided.
  if (Option.isNone(tracing)) return yield* Effect.provideService(launched, References.TracerEnabled, false)
  const { describeTracing, Tracing } = yield* Effect.promise(() => import("./adapters/observability/Tracing.ts"))
  yield* Console.log(describeTracing(tracing.value))
  return yield* Effect.provide(launched, Tracing(tracing.value))
}).pipe(
  Effect.catchTag("ConfigError", (e) => stop(`Invalid configuration: ${describeConfigError(e)}`)),
  Effect.catchTag("StartupError", (e) => stop(e.message))
)

// Stopped by SIGTERM / SIGINT after draining is a clean exit (0), not a failure.
const teardown: Runtime.Teardown = (exit, onExit) =>
  Exit.isFailure(exit) && Cause.hasInterruptsOnly(exit.cause) ? onExit(0) : Runtime.defaultTeardown(exit, onExit)

NodeRuntime.runMain(main, { teardown })
