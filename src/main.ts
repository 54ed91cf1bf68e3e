import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Config, Console, Effect, Layer, References } from "effect"
import { HttpGatewayServer, NodeServer } from "./adapters/http/Server.ts"
import { Gateway, GatewayConfig } from "./Layers.ts"
import { Announce, Sweeper } from "./Startup.ts"

/**
 * The composition root: configuration → adapters → core → HTTP. `npm start` with no
 * configuration runs the complete product on one machine. SIGTERM / SIGINT stop accepting
 * connections, let in-flight requests finish (up to 20 s; what is still running then is
 * interrupted and its credit holds released), and exit.
 */
const main = Effect.gen(function*() {
  const config = yield* GatewayConfig
  const server = HttpGatewayServer.pipe(
    // Demo data is seeded and announced before the first request is served.
    Layer.provide(Layer.mergeAll(Announce(config), Sweeper)),
    Layer.provide(Gateway(config)),
    Layer.provide(NodeServer({ host: config.host, port: config.port }))
  )
  return yield* Layer.launch(server)
}).pipe(
  // No tracer is exported, so spans would only cost time on every request.
  Effect.provideService(References.TracerEnabled, false),
  Effect.catchTag("ConfigError", (e) =>
    Console.error(`Invalid configuration: ${e.message}`).pipe(
      Effect.andThen(Effect.sync(() => void (process.exitCode = 78)))
    ))
)

NodeRuntime.runMain(main, { disableErrorReporting: false })
