import { ConfigProvider, Effect, Option, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { describeRouting, parseRoutes, ProviderConfig, routerOptions } from "../../src/adapters/providers/ProviderSettings.ts"
import { GatewayConfig, localStandsIn } from "../../src/Layers.ts"

const read = <A>(config: { parse: (p: ConfigProvider.ConfigProvider) => Effect.Effect<A, unknown> }, env: Record<string, string>) =>
  Effect.runPromise(config.parse(ConfigProvider.fromEnv({ env })))
const readError = (env: Record<string, string>) =>
  Effect.runPromise(Effect.flip(ProviderConfig.parse(ConfigProvider.fromEnv({ env }))).pipe(Effect.map(String)))

describe("provider configuration", () => {
  it("reads the keys as secrets, trims base URLs, and counts an empty key as unset", async () => {
    const config = await read(ProviderConfig, {
      OPENAI_API_KEY: "sk-platform-123",
      OPENAI_BASE_URL: "http://127.0.0.1:9999/v1/",
      OPENROUTER_API_KEY: ""
    })
    expect(Option.map(config.openaiApiKey, Redacted.value)).toEqual(Option.some("sk-platform-123"))
    expect(String(config.openaiApiKey)).not.toContain("sk-platform-123")
    expect(config.openaiBaseUrl).toEqual(Option.some("http://127.0.0.1:9999/v1"))
    expect(Option.isNone(config.openrouterApiKey)).toBe(true)
    expect(config.circuitFailures).toBe(5)
    expect(config.circuitOpenSeconds).toBe(30)
    expect(config.routes).toEqual({})
    expect(config.httpClient).toBe("node")
    expect((await read(ProviderConfig, { PROVIDER_HTTP_CLIENT: "fetch" })).httpClient).toBe("fetch")
  })

  it.each([
    [{ OPENAI_BASE_URL: "not a url" }, "OPENAI_BASE_URL"],
    [{ OPENROUTER_BASE_URL: "ftp://example.test" }, "OPENROUTER_BASE_URL"],
    [{ PROVIDER_ROUTES: "dall-e-3=nowhere" }, "PROVIDER_ROUTES"],
    [{ LOCAL_PROVIDER: "perhaps" }, "LOCAL_PROVIDER"],
    [{ PROVIDER_CIRCUIT_FAILURES: "0" }, "PROVIDER_CIRCUIT_FAILURES"],
    [{ PROVIDER_CIRCUIT_OPEN_SECONDS: "soon" }, "PROVIDER_CIRCUIT_OPEN_SECONDS"],
    [{ PROVIDER_HTTP_CLIENT: "curl" }, "PROVIDER_HTTP_CLIENT"]
  ])("refuses %o naming the variable", async (env, variable) => {
    expect(await readError(env)).toContain(variable)
  })

  it("parses PROVIDER_ROUTES against the known models and providers", () => {
    expect(parseRoutes("dall-e-3=openrouter, google/gemini-2.5-flash-image=local")).toEqual({
      "dall-e-3": "openrouter",
      "google/gemini-2.5-flash-image": "local"
    })
    expect(parseRoutes("")).toEqual({})
    expect(parseRoutes("dall-e-9=openai")).toMatch(/unknown model 'dall-e-9'/)
    expect(parseRoutes("dall-e-3=azure")).toMatch(/unknown provider 'azure'/)
    expect(parseRoutes("dall-e-3")).toMatch(/model=provider/)
    expect(parseRoutes("dall-e-3=openai,dall-e-3=local")).toMatch(/routed twice/)
  })

  it("the local stand-in is on for the embedded default and STORAGE=memory, off with DATABASE_URL, and LOCAL_PROVIDER forces it", async () => {
    const standsIn = async (env: Record<string, string>) => localStandsIn(await read(GatewayConfig, env))
    expect(await standsIn({})).toBe(true)
    expect(await standsIn({ STORAGE: "memory" })).toBe(true)
    expect(await standsIn({ DATABASE_URL: "postgres://u@127.0.0.1/db" })).toBe(false)
    expect(await standsIn({ DATABASE_URL: "postgres://u@127.0.0.1/db", LOCAL_PROVIDER: "1" })).toBe(true)
    expect(await standsIn({ STORAGE: "memory", LOCAL_PROVIDER: "0" })).toBe(false)
  })

  it("the banner says what serves each model", async () => {
    const config = await read(ProviderConfig, { OPENROUTER_API_KEY: "sk-or-1", PROVIDER_ROUTES: "dall-e-2=local" })
    const standing = describeRouting(routerOptions(config, true))
    expect(standing).toContain("openrouter: google/gemini-2.5-flash-image")
    expect(standing).toContain("local standing in for openai (no OPENAI_API_KEY): dall-e-3, gpt-image-1")
    expect(standing).toContain("local: dall-e-2, local")
    const strict = describeRouting(routerOptions(config, false))
    expect(strict).toContain("openai for BYOK only (set OPENAI_API_KEY; platform calls answer 503): dall-e-3")
    expect(strict).not.toContain("sk-or-1")
  })
})
