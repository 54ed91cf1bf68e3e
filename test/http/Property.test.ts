import { Effect } from "effect"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { serviceJwt, WORLD } from "../../specs/support/Harness.ts"
import { balances, changedAccounts, http, startGateway, type TestGateway } from "./support/HttpHarness.ts"

let gateway: TestGateway
let credentials: ReadonlyArray<Record<string, string>>
const GOOD_CREDENTIALS = 7

beforeAll(async () => {
  gateway = await startGateway()
  const jwt = (claims: Record<string, unknown>, options: Parameters<typeof serviceJwt>[1] = {}) =>
    Effect.runPromise(serviceJwt(claims, options))
  const now = Math.floor(Date.now() / 1000)
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
  credentials = [
    ...[
      // GOOD_CREDENTIALS of them first.
      WORLD.presentonKey, WORLD.boltKey, WORLD.alice.key, WORLD.carol.key, WORLD.member.key, await jwt({}), await jwt({ user_id: WORLD.alice.id }),
      WORLD.strict.key, WORLD.closed.key, WORLD.orphan.key, WORLD.scoped.key, WORLD.bob.key, WORLD.suspended.key, WORLD.capped.key, WORLD.vip.key,
      "sk-unknown-key-0000", "uc_unknown", "not.a.jwt",
      await jwt({}, { secret: "wrong" }), await jwt({}, { iat: now - 2000, exp: now - 1000 }), await jwt({ service: "ghost-service" })
    ].map(bearer),
    {},
    { authorization: "Basic dXNlcjpwYXNz" },
    { authorization: "Bearer" },
    { authorization: "bearer   " },
    { cookie: "session_token=sess_unknown" }
  ]
})
afterAll(() => gateway.close())

const ascii = (max: number) =>
  fc.string({ unit: fc.constantFrom(..."abcXYZ019-_:. /{}\"'[]".split("")), maxLength: max })

const userIds = fc.option(
  fc.oneof(
    fc.constantFrom(WORLD.alice.id, WORLD.carol.id, WORLD.member.id, WORLD.suspended.id, WORLD.ghost, WORLD.alice.id.toUpperCase(), ""),
    ascii(40)
  ),
  { nil: undefined, freq: 2 }
)

// Prompts never carry the scripted provider's failure markers: provider failures are 5xx by design.
const prompt = fc.oneof(fc.string({ maxLength: 60 }).map((s) => s.replaceAll("[", "(")), fc.integer(), fc.constant(null), fc.constant(""))

const generationBody = fc.record(
  {
    prompt,
    model: fc.constantFrom("dall-e-3", "dall-e-2", "gpt-image-1", "gpt-image-1-mini", "local", "google/gemini-2.5-flash-image", "nope", null, 7),
    n: fc.oneof(fc.integer({ min: -1, max: 11 }), fc.double({ noNaN: true }), fc.constant("2"), fc.constant(null)),
    size: fc.constantFrom("1024x1024", "1792x1024", "256x256", "1536x1024", "auto", "8x8", null, 1024),
    quality: fc.constantFrom("standard", "hd", "low", "medium", "high", "auto", "ultra", null),
    response_format: fc.constantFrom("url", "b64_json", "png", null),
    style: fc.constantFrom("vivid", "natural", "odd", null),
    output_format: fc.constantFrom("png", "webp", "bmp", null),
    background: fc.constantFrom("transparent", "auto", "pink", null),
    user: fc.option(ascii(10), { nil: undefined }),
    extra: fc.jsonValue({ maxDepth: 2 })
  },
  { requiredKeys: [] }
)

/** Bodies that are valid for their model, so that many runs reach the ledger and the provider. */
const validBody = fc.oneof(
  fc.record({ prompt: ascii(30).map((p) => `p ${p}`.replaceAll("[", "(")), model: fc.constant("local"), n: fc.integer({ min: 1, max: 10 }), size: fc.constantFrom("256x256", "1024x1024") }),
  fc.record({ prompt: fc.constant("a lighthouse"), model: fc.constant("dall-e-2"), n: fc.integer({ min: 1, max: 3 }), response_format: fc.constantFrom("url", "b64_json") }),
  fc.record({ prompt: fc.constant("a unicorn"), model: fc.constant("dall-e-3"), quality: fc.constantFrom("standard", "hd") })
)

const rawBody = fc.oneof(
  { weight: 4, arbitrary: validBody.map((b) => JSON.stringify(b)) },
  { weight: 4, arbitrary: generationBody.map((b) => JSON.stringify(b)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }).map((v) => JSON.stringify(v)) },
  { weight: 1, arbitrary: fc.string({ maxLength: 40 }) }
)

const request = fc.record({
  // Half the runs use a credential that works (the first entries of the list).
  credential: fc.oneof(fc.nat({ max: GOOD_CREDENTIALS - 1 }), fc.nat()),
  userId: userIds,
  route: fc.constantFrom(
    ["POST", "/v1/images/generations"],
    ["POST", "/api/v1/llm/images/generations"],
    ["POST", "/api/v1/llm/image/generations"],
    ["GET", "/api/v1/llm/credits"],
    ["GET", "/api/v1/llm/byok/keys"]
  ),
  body: rawBody,
  contentType: fc.oneof(
    { weight: 6, arbitrary: fc.constant("application/json") },
    { weight: 1, arbitrary: fc.constantFrom("application/json; charset=utf-8", "text/plain", undefined) }
  ),
  idempotencyKey: fc.option(fc.constantFrom("k-1", "k-2", "k-3", ""), { nil: undefined })
})

describe("random requests over HTTP", () => {
  it("never answer 5xx (but the configured 500 for a service without organization) and never move credits unless they answer 200", async () => {
    const seen = new Map<number, number>()
    await fc.assert(
      fc.asyncProperty(request, async (r) => {
        const credential = credentials[r.credential % credentials.length]!
        const headers: Record<string, string> = { ...credential }
        if (r.userId !== undefined) headers["x-user-id"] = r.userId
        if (r.contentType !== undefined) headers["content-type"] = r.contentType
        if (r.idempotencyKey !== undefined) headers["idempotency-key"] = r.idempotencyKey
        const [method, path] = r.route
        const before = await gateway.run(balances)
        const response = await http(gateway.origin, path, { method, headers, body: method === "POST" ? r.body : undefined })
        const after = await gateway.run(balances)
        seen.set(response.status, (seen.get(response.status) ?? 0) + 1)

        expect(response.headers.get("x-request-id")).toBeTruthy()
        expect(response.headers.get("content-type")).toBe("application/json")
        if (response.status >= 500) {
          expect(response.status).toBe(500)
          expect(response.json.error.code).toBe("service_org_not_configured")
        }
        if (response.status !== 200) {
          expect(Object.keys(response.json.error).sort()).toEqual(["code", "message", "param", "type"])
          expect(changedAccounts(before, after)).toEqual([])
        }
        // Every hold is settled or released by the time the response is sent.
        expect(after.every((b) => b.pending === 0)).toBe(true)
        const token = credential["authorization"]?.slice(7) ?? ""
        if (token.length > 12) expect(response.text).not.toContain(token)
      }),
      { numRuns: 200 }
    )
    // The runs reach both sides: images generated and paid for, and every kind of refusal.
    expect(seen.get(200) ?? 0).toBeGreaterThan(20)
    for (const status of [400, 401, 403]) expect(seen.get(status) ?? 0).toBeGreaterThan(0)
  })
})
