import { Config, Option, Redacted, Schema } from "effect"
import { DEFAULT_MODELS, PROVIDERS, type ProviderName } from "../../domain/Models.ts"
import { makeOpenAIBackend } from "./OpenAIBackend.ts"
import { makeOpenRouterBackend } from "./OpenRouterBackend.ts"
import { providerFetch } from "./NodeHttpFetch.ts"
import type { ProviderBackend } from "./ProviderBackend.ts"
import { DEFAULT_CIRCUIT, type ProviderRouterOptions } from "./ProviderRouter.ts"

/** A key variable; empty counts as unset (an empty key is never sent). */
const apiKey = (name: string) =>
  Config.Redacted(name).pipe(Config.option, Config.map(Option.filter((value) => Redacted.value(value).trim() !== "")))

const httpUrlProblem = (text: string): string | undefined => {
  try {
    const url = new URL(text)
    return url.protocol === "http:" || url.protocol === "https:" ? undefined : "must be an http:// or https:// URL"
  } catch {
    return "must be an http:// or https:// URL (e.g. https://api.openai.com/v1)"
  }
}

/** An optional base URL; empty counts as unset. */
const baseUrl = (name: string) =>
  Config.schema(Schema.String.check(Schema.makeFilter((text: string) => text === "" ? undefined : httpUrlProblem(text))), name).pipe(
    Config.option,
    Config.map((value) => Option.filter(Option.map(value, (text) => text.replace(/\/+$/, "")), (text) => text !== ""))
  )

const MODEL_IDS = DEFAULT_MODELS.map((m) => m.id)

/** `model=provider,…` → the overrides, or what is wrong with it (never the value of a key: routes hold none). */
export const parseRoutes = (text: string): Record<string, ProviderName> | string => {
  const routes: Record<string, ProviderName> = {}
  for (const entry of text.split(",").map((part) => part.trim()).filter((part) => part !== "")) {
    const at = entry.lastIndexOf("=")
    if (at <= 0) return `expected model=provider pairs separated by commas (e.g. dall-e-3=openrouter), got '${entry}'`
    const model = entry.slice(0, at).trim()
    const provider = entry.slice(at + 1).trim()
    if (!MODEL_IDS.includes(model)) return `unknown model '${model}' (known: ${MODEL_IDS.join(", ")})`
    if (!(PROVIDERS as ReadonlyArray<string>).includes(provider)) {
      return `unknown provider '${provider}' for ${model} (known: ${PROVIDERS.join(", ")})`
    }
    if (model in routes) return `the model '${model}' is routed twice`
    routes[model] = provider as ProviderName
  }
  return routes
}

const positiveInt = (name: string, fallback: number) =>
  Config.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), name).pipe(Config.withDefault(fallback))

/** The provider variables (README "Providers"); a bad value stops start-up, naming the variable. */
export const ProviderConfig = Config.all({
  openaiApiKey: apiKey("OPENAI_API_KEY"),
  openaiBaseUrl: baseUrl("OPENAI_BASE_URL"),
  openrouterApiKey: apiKey("OPENROUTER_API_KEY"),
  openrouterBaseUrl: baseUrl("OPENROUTER_BASE_URL"),
  routes: Config.schema(
    Schema.String.check(Schema.makeFilter((text: string) => {
      const parsed = parseRoutes(text)
      return typeof parsed === "string" ? parsed : undefined
    })),
    "PROVIDER_ROUTES"
  ).pipe(Config.withDefault(""), Config.map((text) => parseRoutes(text) as Record<string, ProviderName>)),
  // Forces the local stand-in on or off; by default it is on for the embedded default and STORAGE=memory.
  localProvider: Config.Boolean("LOCAL_PROVIDER").pipe(Config.option),
  circuitFailures: positiveInt("PROVIDER_CIRCUIT_FAILURES", DEFAULT_CIRCUIT.failures),
  circuitOpenSeconds: positiveInt("PROVIDER_CIRCUIT_OPEN_SECONDS", 30),
  // The transport of the provider API calls: node:http with keep-alive (NodeHttpFetch), or
  // Node's global fetch (undici), e.g. to go through a dispatcher or proxy set for it.
  httpClient: Config.schema(Schema.Literals(["node", "fetch"]), "PROVIDER_HTTP_CLIENT").pipe(Config.withDefault("node" as const))
})
export type ProviderConfig = Config.Success<typeof ProviderConfig>

/** The real providers, each with its platform key when one is set. */
export const providerBackends = (config: ProviderConfig): ReadonlyArray<ProviderBackend> => {
  const fetch = config.httpClient === "fetch" ? globalThis.fetch : providerFetch
  return [
    makeOpenAIBackend({ apiKey: config.openaiApiKey, baseUrl: Option.getOrUndefined(config.openaiBaseUrl), fetch }),
    makeOpenRouterBackend({ apiKey: config.openrouterApiKey, baseUrl: Option.getOrUndefined(config.openrouterBaseUrl), fetch })
  ]
}

/** The router's options: `localStandsIn` is LOCAL_PROVIDER, or `standsInByDefault` (the embedded default, STORAGE=memory). */
export const routerOptions = (
  config: ProviderConfig,
  standsInByDefault: boolean,
  backends: ReadonlyArray<ProviderBackend> = providerBackends(config)
): ProviderRouterOptions => ({
  backends,
  localStandsIn: Option.getOrElse(config.localProvider, () => standsInByDefault),
  routes: config.routes,
  circuit: { failures: config.circuitFailures, openDuration: `${config.circuitOpenSeconds} seconds` }
})

/**
 * What answers each model, for the start-up banner, e.g. "openai: dall-e-3, dall-e-2; local
 * (standing in for openrouter: no OPENROUTER_API_KEY): google/gemini-2.5-flash-image".
 */
export const describeRouting = (options: ProviderRouterOptions): string => {
  const keyed = (provider: ProviderName) =>
    provider === "local" || options.backends.some((b) => b.name === provider && Option.isSome(b.platformKey))
  const servedBy = new Map<string, Array<string>>()
  for (const model of DEFAULT_MODELS) {
    const provider = options.routes?.[model.id] ?? model.provider
    const variable = `${provider.toUpperCase()}_API_KEY`
    const who = keyed(provider)
      ? provider
      : options.localStandsIn
      ? `local standing in for ${provider} (no ${variable})`
      : `${provider} for BYOK only (set ${variable}; platform calls answer 503)`
    servedBy.set(who, [...(servedBy.get(who) ?? []), model.id])
  }
  return [...servedBy].map(([who, models]) => `${who}: ${models.join(", ")}`).join("; ")
}
