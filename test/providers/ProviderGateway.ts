import { Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { GatewayPolicy, type GatewayPolicyShape } from "../../src/application/GatewayPolicy.ts"
import { LedgerStore } from "../../src/application/ports/LedgerStore.ts"
import { HttpGatewayServer, MetricsToken, NodeServer, serverOrigin } from "../../src/adapters/http/Server.ts"
import { MemoryAdapters } from "../../src/adapters/memory/MemoryAdapters.ts"
import { withMetrics } from "../../src/adapters/metrics/Metrics.ts"
import { PgAdapters } from "../../src/adapters/postgres/PgAdapters.ts"
import { makeOpenAIBackend } from "../../src/adapters/providers/OpenAIBackend.ts"
import { makeOpenRouterBackend } from "../../src/adapters/providers/OpenRouterBackend.ts"
import { type CircuitOptions, ProviderRouter } from "../../src/adapters/providers/ProviderRouter.ts"
import type { Balance } from "../../src/domain/Ledger.ts"
import { ServerCore, withPricingCatalog } from "../../src/Layers.ts"
import { seedWorld } from "../../specs/support/Harness.ts"
import { type TestDatabase, TEST_BYOK_KEY } from "../../specs/support/postgres.ts"
import type { FakeOpenAI } from "./FakeOpenAI.ts"
import type { FakeOpenRouter } from "./FakeOpenRouter.ts"

export const PLATFORM_KEY = "sk-platform-openai-test-key-0123456789"
export const OPENROUTER_PLATFORM_KEY = "sk-or-platform-test-key-0123456789"

export type Store = "memory" | "postgres"

export interface ProviderGateway {
  readonly origin: string
  /** Runs an effect against the gateway's own ports (to read the ledger). */
  readonly run: <A, E>(effect: Effect.Effect<A, E, LedgerStore>) => Promise<A>
  readonly balances: () => Promise<ReadonlyArray<Balance>>
  readonly close: () => Promise<void>
}

/**
 * The HTTP service on 127.0.0.1 (port 0), seeded, with the router over the real OpenAI (and,
 * when given, OpenRouter) backends pointed at the fake servers; one attempt per call.
 */
export const startProviderGateway = async (options: {
  readonly store: Store
  readonly database?: TestDatabase | undefined
  readonly fake: FakeOpenAI
  readonly openrouter?: FakeOpenRouter | undefined
  readonly circuit: CircuitOptions
  readonly policy?: Partial<GatewayPolicyShape>
}): Promise<ProviderGateway> => {
  if (options.database !== undefined) await Effect.runPromise(options.database.truncate)
  const ports = Layer.unwrap(Effect.map(serverOrigin, (origin) => {
    const imageBaseUrl = `${origin}/v1/images/files`
    return options.store === "memory"
      ? Layer.fresh(withMetrics(MemoryAdapters(imageBaseUrl)))
      : withMetrics(PgAdapters({ imageBaseUrl, byokKey: TEST_BYOK_KEY }).pipe(Layer.provide(Layer.succeedContext(options.database!.client))))
  }))
  const router = ProviderRouter({
    backends: [
      makeOpenAIBackend({ apiKey: Option.some(Redacted.make(PLATFORM_KEY)), baseUrl: options.fake.baseUrl, maxAttempts: 1 }),
      ...(options.openrouter === undefined ? [] : [
        makeOpenRouterBackend({
          apiKey: Option.some(Redacted.make(OPENROUTER_PLATFORM_KEY)),
          baseUrl: options.openrouter.baseUrl,
          maxAttempts: 1
        })
      ])
    ],
    localStandsIn: false,
    circuit: options.circuit
  })
  const base = Layer.mergeAll(ports, GatewayPolicy.layer(options.policy))
  const gateway = ServerCore.pipe(
    Layer.provideMerge(Layer.mergeAll(base, withPricingCatalog(router, base))),
    Layer.provideMerge(NodeServer({ host: "127.0.0.1", port: 0 }))
  )
  const layer = Layer.mergeAll(HttpGatewayServer, Layer.effectDiscard(seedWorld)).pipe(Layer.provideMerge(gateway))
  const scope = Scope.makeUnsafe()
  const context = await Effect.runPromise(
    Layer.buildWithScope(layer, scope).pipe(Effect.provideService(MetricsToken, Option.none()))
  )
  const run = <A, E>(effect: Effect.Effect<A, E, any>) => Effect.runPromise(Effect.provideContext(effect, context) as Effect.Effect<A, E>)
  return {
    origin: await run(serverOrigin),
    run,
    balances: () => run(LedgerStore.use((s) => s.balances)),
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}
