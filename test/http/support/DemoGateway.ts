import { type Context, Effect, Exit, Layer, Scope } from "effect"
import { GatewayPolicy } from "../../../src/application/GatewayPolicy.ts"
import { LocalProviderKeyCheck } from "../../../src/adapters/local/LocalProviderKeyCheck.ts"
import { HttpGatewayServer, NodeServer, serverOrigin } from "../../../src/adapters/http/Server.ts"
import { MemoryAdapters } from "../../../src/adapters/memory/MemoryAdapters.ts"
import { PgAdapters } from "../../../src/adapters/postgres/PgAdapters.ts"
import { seedDemo } from "../../../src/DemoData.ts"
import { ServerCore } from "../../../src/Layers.ts"
import { openTestDatabase, TEST_BYOK_KEY, type TestDatabase } from "../../../specs/support/postgres.ts"
import { makeScriptedProvider } from "../../../specs/support/ScriptedProvider.ts"

export interface DemoGateway<R = never> {
  readonly origin: string
  /** Services the gateway's layers provide (ports, core services) that a test looks inside. */
  readonly context: Context.Context<R>
  readonly close: () => Promise<void>
}

/**
 * The HTTP gateway in this process over the demo data, on 127.0.0.1 and a free port: fresh
 * in-memory adapters, or a PostgreSQL database of its own; a provider that answers at once with
 * a tiny PNG.
 */
export const startDemoGateway = async <R = never>(store: "memory" | "postgres" = "memory"): Promise<DemoGateway<R>> => {
  const database: TestDatabase | undefined = store === "postgres" ? await openTestDatabase() : undefined
  const ports = Layer.unwrap(Effect.map(serverOrigin, (origin) => {
    const imageBaseUrl = `${origin}/v1/images/files`
    return database === undefined
      ? Layer.fresh(MemoryAdapters(imageBaseUrl))
      : PgAdapters({ imageBaseUrl, byokKey: TEST_BYOK_KEY }).pipe(Layer.provide(Layer.succeedContext(database.client)))
  }))
  const core = ServerCore.pipe(
    Layer.provideMerge(Layer.mergeAll(ports, GatewayPolicy.layer(), makeScriptedProvider({ tiny: true }).layer, LocalProviderKeyCheck)),
    Layer.provideMerge(NodeServer({ host: "127.0.0.1", port: 0 }))
  )
  const layer = Layer.mergeAll(HttpGatewayServer, Layer.effectDiscard(seedDemo)).pipe(Layer.provideMerge(core))
  const scope = Scope.makeUnsafe()
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope))
  const origin = await Effect.runPromise(Effect.provideContext(serverOrigin, context))
  return {
    origin,
    // The layers provide every port and core service; R names the ones the caller reads.
    context: context as unknown as Context.Context<R>,
    close: async () => {
      await Effect.runPromise(Scope.close(scope, Exit.void))
      await database?.close()
    }
  }
}
