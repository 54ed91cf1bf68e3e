import { Effect, Layer, Redacted } from "effect"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ProviderKeyCheck } from "../../src/application/ports/ProviderKeyCheck.ts"
import { DEMO } from "../../src/DemoData.ts"
import { type ProviderError, ProviderRateLimited, ProviderRejected, ProviderUnavailable } from "../../src/domain/Errors.ts"
import { WORLD } from "../../specs/support/Harness.ts"
import { bearerHeader, http, startGateway, type TestGateway } from "./support/HttpHarness.ts"

const PATH = "/api/v1/llm/byok/keys"
/** What the provider would have said: it must never reach the client. */
const PROVIDER_TEXT = "Incorrect API key provided: sk-demo-***-key. You can find your API key at platform.example."

/**
 * A key check that answers by the key: keys containing "revoked" are refused, "busy" rate limited,
 * "down" unreachable; every other key passes. It records what it was asked.
 */
const scriptedCheck = (asked: Array<{ provider: string; key: string }>) =>
  Layer.succeed(ProviderKeyCheck, ProviderKeyCheck.of({
    check: (provider, apiKey) =>
      Effect.suspend((): Effect.Effect<void, ProviderError> => {
        const key = Redacted.value(apiKey)
        asked.push({ provider, key })
        if (key.includes("revoked")) {
          return Effect.fail(Object.assign(new ProviderRejected({ provider, reason: "credential", byok: true }), { detail: PROVIDER_TEXT }))
        }
        if (key.includes("busy")) return Effect.fail(new ProviderRateLimited({ provider, retryAfterSeconds: 30 }))
        if (key.includes("down")) return Effect.fail(new ProviderUnavailable({ provider }))
        return Effect.void
      })
  }))

const asked: Array<{ provider: string; key: string }> = []
let gateway: TestGateway
beforeAll(async () => {
  gateway = await startGateway({ keyCheck: scriptedCheck(asked) })
})
afterAll(() => gateway.close())

const post = (path: string, headers: Record<string, string>, body?: unknown) =>
  http(gateway.origin, path, {
    method: "POST",
    headers: body === undefined ? headers : { "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body)
  })
const addKey = async (token: string, provider: string, apiKey: string) => {
  const added = await post(PATH, bearerHeader(token), { provider, api_key: apiKey })
  expect(added.status).toBe(201)
  return added.json.id as string
}

describe("POST /api/v1/llm/byok/keys/{id}/test", () => {
  it("asks the provider with that very key and answers ok, never showing the key", async () => {
    const r = await post(`${PATH}/byok_demo_bob_openai/test`, bearerHeader(DEMO.bob.key))
    expect(r.status).toBe(200)
    expect(r.json).toEqual({ id: "byok_demo_bob_openai", provider: "openai", ok: true })
    expect(asked.at(-1)).toEqual({ provider: "openai", key: DEMO.bobOpenAiKey })
    expect(r.text).not.toContain(DEMO.bobOpenAiKey)
    expect(r.headers.get("x-request-id")).toBeTruthy()

    const router = await post(`${PATH}/byok_demo_bob_openrouter/test`, bearerHeader(DEMO.bob.key))
    expect(router.json).toEqual({ id: "byok_demo_bob_openrouter", provider: "openrouter", ok: true })
    expect(asked.at(-1)).toEqual({ provider: "openrouter", key: DEMO.bobOpenRouterKey })
    expect(router.text).not.toContain(DEMO.bobOpenRouterKey)
  })

  it("answers ok: false with the gateway's own code and message when the provider refuses the key or cannot answer", async () => {
    const cases = [
      ["sk-carol-revoked-key-000111", "byok_key_rejected", /openai refused this key/],
      ["sk-carol-busy-key-000222", "provider_rate_limited", /rate limiting/],
      ["sk-carol-down-key-000333", "provider_unavailable", /could not be reached/]
    ] as const
    for (const [secret, code, message] of cases) {
      const id = await addKey(WORLD.carol.key, "openai", secret)
      const r = await post(`${PATH}/${id}/test`, bearerHeader(WORLD.carol.key))
      expect(r.status).toBe(200)
      expect(r.json).toEqual({ id, provider: "openai", ok: false, error: { code, message: expect.stringMatching(message) } })
      expect(r.text).not.toContain(secret)
      expect(r.text).not.toContain(PROVIDER_TEXT)
      expect(r.text).not.toContain("sk-demo")
    }
  })

  it("tests a disabled key too (one may test a key before enabling it)", async () => {
    const id = await addKey(WORLD.carol.key, "openrouter", "sk-or-carol-disabled-000444")
    expect((await http(gateway.origin, `${PATH}/${id}`, {
      method: "PATCH",
      headers: { "content-type": "application/json", ...bearerHeader(WORLD.carol.key) },
      body: JSON.stringify({ enabled: false })
    })).json.enabled).toBe(false)
    const r = await post(`${PATH}/${id}/test`, bearerHeader(WORLD.carol.key))
    expect(r.json).toEqual({ id, provider: "openrouter", ok: true })
  })

  it("answers 404 for another account's key, and for no key at all, asking no provider", async () => {
    const before = asked.length
    const other = await post(`${PATH}/byok_demo_bob_openai/test`, bearerHeader(WORLD.alice.key))
    expect(other.status).toBe(404)
    expect(other.json.error.code).toBe("byok_key_not_found")
    expect(other.text).not.toContain(DEMO.bobOpenAiKey)
    const none = await post(`${PATH}/byok_nope/test`, bearerHeader(DEMO.bob.key))
    expect(none.status).toBe(404)
    expect(none.json.error.code).toBe("byok_key_not_found")
    expect(asked.length).toBe(before)
  })

  it("needs the byok:manage scope and a credential", async () => {
    const before = asked.length
    const scoped = await post(`${PATH}/byok_demo_bob_openai/test`, bearerHeader(WORLD.scoped.key))
    expect(scoped.status).toBe(403)
    expect(scoped.json.error.code).toBe("scope_denied")
    const anonymous = await post(`${PATH}/byok_demo_bob_openai/test`, {})
    expect(anonymous.status).toBe(401)
    expect(anonymous.json.error.code).toBe("missing_credentials")
    expect(asked.length).toBe(before)
  })

  it("is in the OpenAPI document as a POST with the ByokKeyTest answer", async () => {
    const spec = (await http(gateway.origin, "/openapi.json")).json
    const operation = spec.paths["/api/v1/llm/byok/keys/{id}/test"].post
    expect(operation.responses["200"].content["application/json"].schema.$ref).toBe("#/components/schemas/ByokKeyTest")
    expect(Object.keys(operation.responses)).toEqual(expect.arrayContaining(["401", "403", "404"]))
    expect(Object.keys(spec.components.schemas.ByokKeyTest.properties).sort()).toEqual(["error", "id", "ok", "provider"])
  })
})
