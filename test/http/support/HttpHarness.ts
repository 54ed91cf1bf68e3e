import { Effect, Exit, Layer, Option, Redacted, Scope } from "effect"
import { readFileSync } from "node:fs"
import { Ajv, type ValidateFunction } from "ajv"
import { GatewayPolicy, type GatewayPolicyShape } from "../../../src/application/GatewayPolicy.ts"
import type { ImageProvider } from "../../../src/application/ports/ImageProvider.ts"
import type { ProviderKeyCheck } from "../../../src/application/ports/ProviderKeyCheck.ts"
import { LedgerStore } from "../../../src/application/ports/LedgerStore.ts"
import { AccessLog, type AccessSink } from "../../../src/adapters/http/AccessLog.ts"
import { LocalProviderKeyCheck } from "../../../src/adapters/local/LocalProviderKeyCheck.ts"
import { HttpGatewayServer, MetricsToken, NodeServer, serverOrigin } from "../../../src/adapters/http/Server.ts"
import { MemoryAdapters } from "../../../src/adapters/memory/MemoryAdapters.ts"
import { withMetrics } from "../../../src/adapters/metrics/Metrics.ts"
import type { Balance } from "../../../src/domain/Ledger.ts"
import { ServerCore } from "../../../src/Layers.ts"
import { seedWorld } from "../../../specs/support/Harness.ts"
import { makeScriptedProvider } from "../../../specs/support/ScriptedProvider.ts"

/** The core on fresh in-memory adapters, image URLs on the test server's own origin. */
const testGateway = (options: {
  readonly policy?: Partial<GatewayPolicyShape> | undefined
  readonly provider: Layer.Layer<ImageProvider>
  readonly keyCheck?: Layer.Layer<ProviderKeyCheck> | undefined
}) =>
  ServerCore.pipe(Layer.provideMerge(Layer.mergeAll(
    Layer.unwrap(Effect.map(serverOrigin, (origin) => Layer.fresh(withMetrics(MemoryAdapters(`${origin}/v1/images/files`))))),
    GatewayPolicy.layer(options.policy),
    options.provider,
    options.keyCheck ?? LocalProviderKeyCheck
  )))

export type GatewayServices = Layer.Success<ReturnType<typeof testGateway>>

export interface TestGateway {
  readonly origin: string
  /** Runs an effect against the same core the server uses (to read or arrange the ledger). */
  readonly run: <A, E>(effect: Effect.Effect<A, E, GatewayServices>) => Promise<A>
  readonly calls: ReturnType<typeof makeScriptedProvider>["calls"]
  readonly close: () => Promise<void>
}

/**
 * The whole HTTP service on 127.0.0.1, port 0, over the spec fixtures (demo data plus one
 * service or user per row of the decision table) and a scripted provider (prompt markers
 * choose failures; tiny images keep tests fast).
 */
export const startGateway = async (options: {
  readonly policy?: Partial<GatewayPolicyShape>
  readonly provider?: Layer.Layer<ImageProvider>
  /** How BYOK keys are checked ("test this key"); every key passes by default. */
  readonly keyCheck?: Layer.Layer<ProviderKeyCheck>
  readonly tinyImages?: boolean
  readonly gracefulShutdownMs?: number
  readonly headersTimeoutMs?: number
  readonly requestTimeoutMs?: number
  readonly metricsToken?: string
  readonly accessLog?: AccessSink
} = {}): Promise<TestGateway> => {
  const scripted = makeScriptedProvider({ tiny: options.tinyImages ?? true })
  const server = NodeServer({
    host: "127.0.0.1",
    port: 0,
    gracefulShutdownMs: options.gracefulShutdownMs,
    headersTimeoutMs: options.headersTimeoutMs,
    requestTimeoutMs: options.requestTimeoutMs
  })
  const gateway = testGateway({ policy: options.policy, provider: options.provider ?? scripted.layer, keyCheck: options.keyCheck }).pipe(
    Layer.provideMerge(server)
  )
  const layer = Layer.mergeAll(HttpGatewayServer, Layer.effectDiscard(seedWorld)).pipe(Layer.provideMerge(gateway))
  const scope = Scope.makeUnsafe()
  const context = await Effect.runPromise(Layer.buildWithScope(layer, scope).pipe(
    Effect.provideService(MetricsToken, Option.map(Option.fromUndefinedOr(options.metricsToken), Redacted.make)),
    Effect.provideService(AccessLog, options.accessLog)
  ))
  const run = <A, E>(effect: Effect.Effect<A, E, GatewayServices>) => Effect.runPromise(Effect.provideContext(effect, context))
  const origin = await run(serverOrigin as Effect.Effect<string, never, never>)
  return {
    origin,
    run,
    calls: scripted.calls,
    close: () => Effect.runPromise(Scope.close(scope, Exit.void))
  }
}

export const balances = LedgerStore.use((s) => s.balances)

/** Accounts whose posted or pending balance differs between two snapshots. */
export const changedAccounts = (before: ReadonlyArray<Balance>, after: ReadonlyArray<Balance>): Array<string> => {
  const key = (b: Balance | undefined) => (b === undefined ? "0/0" : `${b.posted}/${b.pending}`)
  const accounts = new Set([...before, ...after].map((b) => b.account))
  return [...accounts]
    .filter((a) => key(before.find((b) => b.account === a)) !== key(after.find((b) => b.account === a)))
    .sort()
}

export const postedOf = (snapshot: ReadonlyArray<Balance>, account: string) =>
  snapshot.find((b) => b.account === account)?.posted ?? 0

// --- OpenAI's published schema -------------------------------------------------------------------

const reference = JSON.parse(
  readFileSync(new URL("../../../../shared/reference/openai-images-openapi.json", import.meta.url), "utf8")
) as { components: Record<string, unknown> }

/** OpenAPI 3.0's `nullable: true` (which the document still uses) as JSON Schema: "this, or null". */
const withNullables = (schema: unknown): unknown => {
  if (Array.isArray(schema)) return schema.map(withNullables)
  if (typeof schema !== "object" || schema === null) return schema
  const { nullable, ...rest } = schema as Record<string, unknown>
  const mapped = Object.fromEntries(Object.entries(rest).map(([k, v]) => [k, withNullables(v)]))
  if (nullable !== true) return mapped
  const { description, default: _default, example, ...core } = mapped
  return { description, anyOf: [core, { type: "null" }] }
}

/** Validators for OpenAI's own schemas (OpenAPI 3.1; `$ref`s resolve to `#/components/schemas/…`). */
export const openAISchemas = (() => {
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true })
  ajv.addSchema({ $id: "openai", components: withNullables(reference.components) })
  const get = (name: string): ValidateFunction => {
    const validate = ajv.getSchema(`openai#/components/schemas/${name}`)
    if (validate === undefined) throw new Error(`no schema ${name}`)
    return validate
  }
  return { createImageRequest: get("CreateImageRequest"), imagesResponse: get("ImagesResponse"), errorResponse: get("ErrorResponse") }
})()

export const schemaErrors = (validate: ValidateFunction, value: unknown): string | undefined =>
  validate(value) ? undefined : JSON.stringify(validate.errors)

// --- plain HTTP ----------------------------------------------------------------------------------

export interface HttpResult {
  readonly status: number
  readonly headers: Headers
  readonly text: string
  readonly json: any
}

export const http = async (
  origin: string,
  path: string,
  init: { readonly method?: string; readonly headers?: Record<string, string>; readonly body?: string | undefined } = {}
): Promise<HttpResult> => {
  const response = await fetch(`${origin}${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: init.headers ?? {},
    body: init.body ?? null
  })
  const text = await response.text()
  let json: unknown = undefined
  try {
    json = JSON.parse(text)
  } catch {
    // not JSON: left undefined
  }
  return { status: response.status, headers: response.headers, text, json }
}

export const UNICORN = { prompt: "A unicorn with a magic wand", model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 } as const

/** A generation on the legacy path, JSON body, with the given headers. */
export const generate = (origin: string, headers: Record<string, string>, body: unknown = UNICORN, path = "/api/v1/llm/image/generations") =>
  http(origin, path, { headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) })

export const bearerHeader = (token: string) => ({ authorization: `Bearer ${token}` })
