/**
 * One server of `npm run bench:http`, in its own process so that it does not share an event
 * loop with the load generator. BENCH_TARGET picks it:
 * - `bare`: node:http answering the same JSON a generation answers (the ceiling);
 * - `gateway`: the gateway as `npm start` runs it (tracing and request logger off), with a
 *   provider that answers at once with a fixed 8×8 PNG, on memory adapters or, with
 *   BENCH_STORAGE=postgres, on PostgreSQL (embedded under DATA_DIR, or DATABASE_URL);
 * - BENCH_TRACING=1 / BENCH_WEBCRYPTO=1 / BENCH_NO_LANE=1 / BENCH_ACCESS_LOG=1 turn one cost
 *   on to measure it; OTEL_EXPORTER_OTLP_ENDPOINT exports traces there, as `npm start` does.
 * It prints `READY <origin>` once it listens.
 */
import * as NodeRuntime from "@effect/platform-node/NodeRuntime"
import { Console, Effect, Layer, Option, References } from "effect"
import { HttpRouter } from "effect/http"
import { createServer } from "node:http"
import { Core } from "../src/application/Core.ts"
import { GatewayPolicy } from "../src/application/GatewayPolicy.ts"
import { ImageProvider } from "../src/application/ports/ImageProvider.ts"
import { Provisioning } from "../src/application/Provisioning.ts"
import { AccessLog, makeStdoutAccessLog } from "../src/adapters/http/AccessLog.ts"
import { GenerationEndpoint } from "../src/adapters/http/GenerationEndpoint.ts"
import { GenerationLane } from "../src/adapters/http/GenerationLane.ts"
import { HttpApp, NodeServer, serverOrigin } from "../src/adapters/http/Server.ts"
import { LocalProviderKeyCheck } from "../src/adapters/local/LocalProviderKeyCheck.ts"
import { renderPng } from "../src/adapters/local/PngRenderer.ts"
import { MemoryAdapters } from "../src/adapters/memory/MemoryAdapters.ts"
import { withMetrics } from "../src/adapters/metrics/Metrics.ts"
import { Tracing } from "../src/adapters/observability/Tracing.ts"
import { TracingConfig } from "../src/adapters/observability/TracingConfig.ts"
import { demoOrgOf, seedDemo } from "../src/DemoData.ts"
import { accountOfOrg, type TransferId } from "../src/domain/Ids.ts"
import { GatewayConfig, Ports, ServerCore } from "../src/Layers.ts"

const flag = (name: string) => process.env[name] === "1"
const PNG = renderPng({ prompt: "bench", width: 8, height: 8, seed: 0 })

if (process.env["BENCH_TARGET"] === "bare") {
  // What a generation answers, built and serialized per request as a trivial handler would.
  const b64 = Buffer.from(PNG).toString("base64")
  let n = 0
  const server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const body = chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString("utf8"))
      const json = JSON.stringify({
        created: Math.floor(Date.now() / 1000),
        data: [{ b64_json: b64 }],
        _metadata: {
          provider_used: "local",
          cost_incurred: 1.2,
          credits_remaining: 999_999_998.8,
          transaction_id: `hold_${++n}`,
          user_tier: "managed",
          using_byok: false,
          byok_provider: null,
          images_generated: body.n ?? 1,
          billed_to: "org_presenton_service"
        }
      })
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(json),
        "x-request-id": `req_${n}`,
        "x-credits-charged": "1.2",
        "x-credits-remaining": "999999998.8"
      })
      res.end(json)
    })
  })
  server.listen(0, "127.0.0.1", () => {
    const address = server.address() as { port: number }
    console.log(`READY http://127.0.0.1:${address.port}`)
  })
} else {
  const provider = Layer.succeed(ImageProvider, ImageProvider.of({
    generate: (call) =>
      Effect.succeed({
        images: Array.from({ length: call.n }, () => ({ bytes: PNG, contentType: "image/png" })),
        providerUsed: "local" as const
      })
  }))
  // The server's core (node:crypto), or the default one on WebCrypto to measure the difference.
  const core = flag("BENCH_WEBCRYPTO") ? Core : ServerCore
  // Memory adapters, or BENCH_STORAGE=postgres: the ports as the configuration picks them
  // (embedded PostgreSQL under DATA_DIR, or DATABASE_URL), exactly as `npm start` builds them.
  const ports = process.env["BENCH_STORAGE"] === "postgres"
    ? Layer.unwrap(Effect.gen(function*() {
      return Ports(yield* GatewayConfig)
    }))
    : Layer.unwrap(Effect.map(serverOrigin, (origin) => MemoryAdapters(`${origin}/v1/images/files`)))
  const gateway = core.pipe(Layer.provideMerge(Layer.mergeAll(withMetrics(ports), GatewayPolicy.layer(), provider, LocalProviderKeyCheck)))
  const ready = Layer.effectDiscard(Effect.gen(function*() {
    yield* seedDemo
    // Enough credits that the run never meets a 402.
    yield* Provisioning.use((p) =>
      p.grant(accountOfOrg(demoOrgOf("presenton-service")), 1_000_000_000_000, "bench", "bench" as TransferId)
    )
    yield* Console.log(`READY ${yield* serverOrigin}`)
  }))
  const router = HttpRouter.serve(HttpApp, { disableLogger: true, disableListenLog: true })
  // The generation lane in front of the router, as the gateway runs; BENCH_NO_LANE=1 leaves it out.
  const server = (flag("BENCH_NO_LANE") ? router : router.pipe(Layer.provide(GenerationLane))).pipe(
    Layer.provide(GenerationEndpoint.layer),
    Layer.provide(ready),
    Layer.provide(gateway),
    Layer.provide(NodeServer({ host: "127.0.0.1", port: 0 }))
  )
  const launched = Layer.launch(server).pipe(
    Effect.provideService(AccessLog, flag("BENCH_ACCESS_LOG") ? makeStdoutAccessLog() : undefined)
  )
  NodeRuntime.runMain(Effect.flatMap(TracingConfig, (tracing) =>
    Option.isSome(tracing)
      ? Effect.provide(launched, Tracing(tracing.value))
      : Effect.provideService(launched, References.TracerEnabled, flag("BENCH_TRACING"))))
}
