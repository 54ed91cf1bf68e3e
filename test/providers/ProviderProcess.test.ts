/** `npm start` with provider variables: the real wiring from the environment to the fake OpenAI server. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { WORLD } from "../../specs/support/Harness.ts"
import { bearerHeader, generate, UNICORN } from "../http/support/HttpHarness.ts"
import { freePort, type Started, startGatewayProcess } from "../http/support/Processes.ts"
import { type FakeOpenAI, startFakeOpenAI } from "./FakeOpenAI.ts"

const PLATFORM_KEY = "sk-process-platform-key-0123456789"

describe("npm start with OPENAI_API_KEY and OPENAI_BASE_URL, LOCAL_PROVIDER=0", () => {
  let fake: FakeOpenAI
  let server: Started
  let origin: string
  beforeAll(async () => {
    fake = await startFakeOpenAI()
    const port = await freePort()
    origin = `http://127.0.0.1:${port}`
    server = await startGatewayProcess({
      STORAGE: "memory",
      PORT: String(port),
      HOST: "127.0.0.1",
      LOCAL_PROVIDER: "0",
      OPENAI_API_KEY: PLATFORM_KEY,
      OPENAI_BASE_URL: fake.baseUrl,
      OPENROUTER_API_KEY: "",
      PROVIDER_ROUTES: "dall-e-2=local"
    })
  }, 40_000)
  afterAll(async () => {
    await server?.stop()
    await fake?.close()
  })

  it("says in the banner what serves each model, without the key", () => {
    const banner = server.output()
    expect(banner).toMatch(/provider {3}openai: dall-e-3, gpt-image-1/)
    expect(banner).toContain("local: dall-e-2, local")
    expect(banner).toContain("openrouter for BYOK only (set OPENROUTER_API_KEY")
    expect(banner).not.toContain(PLATFORM_KEY)
  })

  it("draws dall-e-3 through OpenAI with the platform key, and dall-e-2 locally as routed", async () => {
    const sent = fake.imageRequests().length
    const drawn = await generate(origin, bearerHeader(WORLD.presentonKey), { ...UNICORN, response_format: "b64_json" })
    expect(drawn.status, drawn.text).toBe(200)
    expect(drawn.json._metadata.provider_used).toBe("openai")
    expect(fake.imageRequests().slice(sent).map((q) => q.authorization)).toEqual([`Bearer ${PLATFORM_KEY}`])

    const local = await generate(origin, bearerHeader(WORLD.presentonKey), { ...UNICORN, model: "dall-e-2", size: "256x256" })
    expect(local.status, local.text).toBe(200)
    expect(local.json._metadata.provider_used).toBe("local")
    expect(fake.imageRequests().length).toBe(sent + 1)
  })

  it("answers 503 provider_not_configured naming OPENROUTER_API_KEY for a platform call to OpenRouter", async () => {
    const r = await generate(origin, bearerHeader(WORLD.presentonKey), { prompt: "a fox", model: "google/gemini-2.5-flash-image" })
    expect(r.status, r.text).toBe(503)
    expect(r.json.error.code).toBe("provider_not_configured")
    expect(r.json.error.message).toContain("OPENROUTER_API_KEY")
  })
})
