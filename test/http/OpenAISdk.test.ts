import OpenAI from "openai"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { WORLD } from "../../specs/support/Harness.ts"
import {
  balances,
  changedAccounts,
  openAISchemas,
  postedOf,
  schemaErrors,
  startGateway,
  type TestGateway,
  UNICORN
} from "./support/HttpHarness.ts"

let gateway: TestGateway
beforeAll(async () => {
  gateway = await startGateway()
})
afterAll(() => gateway.close())

/** The official client, unchanged; `requests` counts what it really sent (retries included). */
const client = (apiKey: string, options: { readonly baseURL?: "v1" | "llm"; readonly maxRetries?: number } = {}) => {
  const counter = { requests: 0 }
  const sdk = new OpenAI({
    apiKey,
    baseURL: `${gateway.origin}${options.baseURL === "llm" ? "/api/v1/llm" : "/v1"}`,
    maxRetries: options.maxRetries ?? 0,
    fetch: (url, init) => {
      counter.requests++
      return fetch(url, init)
    }
  })
  return Object.assign(sdk, { counter })
}

const failureOf = async (promise: Promise<unknown>): Promise<InstanceType<typeof OpenAI.APIError>> => {
  try {
    await promise
  } catch (e) {
    if (e instanceof OpenAI.APIError) return e
    throw e
  }
  throw new Error("expected the call to fail")
}

describe("the official openai SDK against the gateway", () => {
  it.each(["v1", "llm"] as const)("generates through the base URL …/%s, in OpenAI's shape, billed to the service's organization", async (base) => {
    const before = await gateway.run(balances)
    const request = { ...UNICORN, prompt: `A unicorn with a magic wand (${base})` } as const
    expect(schemaErrors(openAISchemas.createImageRequest, request)).toBeUndefined()
    const { data, response } = await client(WORLD.presentonKey, { baseURL: base }).images.generate(request).withResponse()
    expect(schemaErrors(openAISchemas.imagesResponse, data)).toBeUndefined()
    expect(data.data).toHaveLength(1)
    const url = data.data![0]!.url!
    expect(url.startsWith(`${gateway.origin}/v1/images/files/`)).toBe(true)
    const image = await fetch(url)
    expect(image.status).toBe(200)
    expect(image.headers.get("content-type")).toBe("image/png")
    expect([...new Uint8Array(await image.arrayBuffer()).slice(1, 4)]).toEqual([0x50, 0x4e, 0x47])
    expect(response.headers.get("x-credits-charged")).toBe("48")
    expect(response.headers.get("x-request-id")).toMatch(/^req_[0-9a-f]{32}$/)
    const metadata = (data as unknown as { _metadata: Record<string, unknown> })._metadata
    expect(metadata).toMatchObject({ billed_to: "org_presenton_service", cost_incurred: 48, provider_used: "local" })
    const after = await gateway.run(balances)
    expect(changedAccounts(before, after)).toEqual(["org_presenton_service", "system:revenue"])
    expect(postedOf(before, "org_presenton_service") - postedOf(after, "org_presenton_service")).toBe(48_000)
  })

  it("checks responses against OpenAI's schema for real (a wrong shape is refused)", () => {
    expect(schemaErrors(openAISchemas.imagesResponse, { created: "yesterday", data: [] })).toBeDefined()
    expect(schemaErrors(openAISchemas.imagesResponse, { data: [] })).toBeDefined()
    expect(schemaErrors(openAISchemas.createImageRequest, { ...UNICORN, n: "one" })).toBeDefined()
    expect(schemaErrors(openAISchemas.createImageRequest, { ...UNICORN, model: null })).toBeUndefined()
  })

  it("returns base64 images for b64_json, valid against OpenAI's schema", async () => {
    const data = await client(WORLD.alice.key).images.generate({ ...UNICORN, response_format: "b64_json" })
    expect(schemaErrors(openAISchemas.imagesResponse, data)).toBeUndefined()
    expect(Buffer.from(data.data![0]!.b64_json!, "base64").subarray(1, 4).toString()).toBe("PNG")
  })

  it("lists the image models with their prices", async () => {
    const models = await client(WORLD.alice.key).models.list()
    const ids = models.data.map((m) => m.id)
    expect(ids).toEqual(expect.arrayContaining(["dall-e-3", "dall-e-2", "gpt-image-1", "local"]))
    const dalle3 = models.data.find((m) => m.id === "dall-e-3") as unknown as { owned_by: string; prices: Array<unknown> }
    expect(dalle3.owned_by).toBe("openai")
    expect(dalle3.prices).toContainEqual({ quality: "standard", size: "1024x1024", credits: 40 })
  })

  it("401 → AuthenticationError with code invalid_api_key", async () => {
    const e = await failureOf(client("sk-no-such-key-0000").images.generate(UNICORN))
    expect(e).toBeInstanceOf(OpenAI.AuthenticationError)
    expect(e.status).toBe(401)
    expect(e.code).toBe("invalid_api_key")
    expect(e.type).toBe("authentication_error")
    expect(e.message).toContain("sk-no-su")
    expect(e.message).not.toContain("sk-no-such-key-0000")
    expect(e.requestID).toMatch(/^req_/)
  })

  it("403 → PermissionDeniedError when a user key names another user", async () => {
    const e = await failureOf(
      client(WORLD.alice.key).images.generate(UNICORN, { headers: { "X-User-ID": WORLD.carol.id } })
    )
    expect(e).toBeInstanceOf(OpenAI.PermissionDeniedError)
    expect(e.code).toBe("user_context_forbidden")
    expect(e.param).toBe("X-User-ID")
  })

  it("400 → BadRequestError naming the header when a service must send X-User-ID", async () => {
    const e = await failureOf(client(WORLD.strict.key).images.generate(UNICORN))
    expect(e).toBeInstanceOf(OpenAI.BadRequestError)
    expect(e.code).toBe("missing_user_context")
    expect(e.param).toBe("X-User-ID")
    expect(e.message).toContain("Service key authentication requires X-User-ID header. Format: X-User-ID: <user-uuid>")
  })

  it("400 → BadRequestError naming the parameter the core rejected", async () => {
    const e = await failureOf(client(WORLD.alice.key).images.generate({ ...UNICORN, n: 2 }))
    expect(e).toBeInstanceOf(OpenAI.BadRequestError)
    expect(e.param).toBe("n")
    expect(e.code).toBe("integer_out_of_range")
    const model = await failureOf(client(WORLD.alice.key).images.generate({ ...UNICORN, model: "dall-e-9" }))
    expect(model.code).toBe("model_not_found")
    expect(model.param).toBe("model")
  })

  it("409 → ConflictError when an Idempotency-Key is reused for another request; the first is replayed for free", async () => {
    const sdk = client(WORLD.alice.key)
    const key = { headers: { "Idempotency-Key": "sdk-idem-1" } }
    const first = await sdk.images.generate({ ...UNICORN, prompt: "first" }, key).withResponse()
    const replay = await sdk.images.generate({ ...UNICORN, prompt: "first" }, key).withResponse()
    expect(replay.response.headers.get("idempotent-replayed")).toBe("true")
    expect(replay.response.headers.get("x-credits-charged")).toBe("0")
    expect(replay.data).toEqual(first.data)
    const e = await failureOf(sdk.images.generate({ ...UNICORN, prompt: "second" }, key))
    expect(e).toBeInstanceOf(OpenAI.ConflictError)
    expect(e.code).toBe("idempotency_conflict")
    expect(e.param).toBe("Idempotency-Key")
  })

  it("429 → RateLimitError for a monthly cap, with Retry-After; the SDK does not retry it", async () => {
    const sdk = client(WORLD.capped.key, { maxRetries: 2 })
    const e = await failureOf(sdk.images.generate({ ...UNICORN, quality: "hd", size: "1792x1024" }))
    expect(e).toBeInstanceOf(OpenAI.RateLimitError)
    expect(e.code).toBe("monthly_cap_exceeded")
    expect(e.type).toBe("insufficient_quota")
    expect(Number(e.headers?.get("retry-after"))).toBeGreaterThan(0)
    expect(e.headers?.get("x-should-retry")).toBe("false")
    expect(sdk.counter.requests).toBe(1)
  })

  it("402 → APIError with code insufficient_credits, stating balance and cost", async () => {
    const e = await failureOf(client(WORLD.bob.key).images.generate({ ...UNICORN, model: "local" }))
    expect(e.status).toBe(402)
    expect(e.code).toBe("insufficient_credits")
    expect(e.message).toContain("0 credits available")
    expect(e.message).toContain("1.5 credits")
  })

  it("500 → InternalServerError naming the service without an organization; not retried", async () => {
    const sdk = client(WORLD.orphan.key, { maxRetries: 2 })
    const e = await failureOf(sdk.images.generate(UNICORN))
    expect(e).toBeInstanceOf(OpenAI.InternalServerError)
    expect(e.code).toBe("service_org_not_configured")
    expect(e.message).toContain("orphan-service")
    expect(sdk.counter.requests).toBe(1)
  })

  it("a BYOK user gets an image and no credits move", async () => {
    const before = await gateway.run(balances)
    const { data, response } = await client(WORLD.bob.key).images.generate(UNICORN).withResponse()
    expect(schemaErrors(openAISchemas.imagesResponse, data)).toBeUndefined()
    expect((data as unknown as { _metadata: Record<string, unknown> })._metadata).toMatchObject({
      using_byok: true,
      byok_provider: "openai",
      cost_incurred: 0
    })
    expect(response.headers.get("x-credits-charged")).toBe("0")
    expect(changedAccounts(before, await gateway.run(balances))).toEqual([])
  })
})
