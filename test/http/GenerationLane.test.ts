/**
 * The generation lane (src/adapters/http/GenerationLane.ts) serves plain HTTP/1 generation POSTs
 * in front of the HttpApi router. These tests check which requests it takes, and that what it
 * answers is what the router's own generation handler answers for the same request.
 */
import { Effect, Exit, Layer, Scope } from "effect"
import { createServer, request as httpRequest, type Server } from "node:http"
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest"
import { CreditLedger } from "../../src/application/CreditLedger.ts"
import { GenerationEndpoint } from "../../src/adapters/http/GenerationEndpoint.ts"
import { FrontLane, GenerationLane, type Lane } from "../../src/adapters/http/GenerationLane.ts"
import { memoryAdapterSet } from "../../specs/support/AdapterSet.ts"
import { accounts, makeGateway, seedWorld, WORLD } from "../../specs/support/Harness.ts"
import { promptFor } from "../../specs/support/ScriptedProvider.ts"
import { startGateway, type TestGateway, UNICORN } from "./support/HttpHarness.ts"

interface Answer {
  readonly status: number
  readonly headers: Record<string, string | Array<string> | undefined>
  readonly body: string
}

/** One request over node:http; `expect100` sends `Expect: 100-continue` and waits for the 100. */
const send = (
  origin: string,
  options: { readonly method?: string; readonly path: string; readonly headers?: Record<string, string>; readonly body?: string; readonly expect100?: boolean }
) =>
  new Promise<Answer>((resolve, reject) => {
    const req = httpRequest(`${origin}${options.path}`, {
      method: options.method ?? "POST",
      headers: { ...options.headers, ...(options.expect100 ? { expect: "100-continue" } : {}) }
    })
    req.on("response", (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (c: Buffer) => chunks.push(c))
      res.on("end", () => resolve({ status: res.statusCode!, headers: res.headers, body: Buffer.concat(chunks).toString("utf8") }))
    })
    req.on("error", reject)
    if (options.expect100) req.on("continue", () => req.end(options.body))
    else req.end(options.body)
  })

describe("which requests the generation lane takes", () => {
  let scope: Scope.Closeable
  let origin: string
  let server: Server

  beforeAll(async () => {
    let installed: Lane | undefined
    const front = Layer.succeed(FrontLane, FrontLane.of({ install: (lane) => Effect.sync(() => void (installed = lane)) }))
    const gateway = makeGateway(memoryAdapterSet, { tinyImages: true })
    scope = Scope.makeUnsafe()
    await Effect.runPromise(
      Layer.buildWithScope(
        Layer.mergeAll(GenerationLane, Layer.effectDiscard(seedWorld)).pipe(
          Layer.provide(GenerationEndpoint.layer),
          Layer.provide(Layer.merge(gateway.layer, front))
        ),
        scope
      )
    )
    // What the lane leaves alone gets a 599 here, where the router would take it.
    server = createServer((req, res) => {
      if (!installed!(req, res)) {
        req.resume()
        res.writeHead(599).end()
      }
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    origin = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  })

  afterAll(async () => {
    await new Promise((resolve) => server.close(resolve))
    await Effect.runPromise(Scope.close(scope, Exit.void))
  })

  const body = JSON.stringify({ ...UNICORN, model: "local", size: "256x256", response_format: "b64_json" })
  const headers = { "content-type": "application/json", authorization: `Bearer ${WORLD.presentonKey}` }

  it.each([
    "/v1/images/generations",
    "/api/v1/llm/images/generations",
    "/api/v1/llm/image/generations",
    "/v1/images/generations/",
    "/v1/images/generations?trace=1"
  ])("answers a generation POST to %s itself", async (path) => {
    const r = await send(origin, { path, headers, body })
    expect(r.status).toBe(200)
    expect(JSON.parse(r.body).data[0].b64_json).toMatch(/^iVBORw0KGgo/)
    expect(r.headers["x-request-id"]).toMatch(/^req_/)
    expect(r.headers["x-credits-charged"]).toBe("1.2")
  })

  it.each([
    ["GET on a generation path", { method: "GET", path: "/v1/images/generations" }],
    ["POST elsewhere", { path: "/v1/images/edits", headers, body }],
    ["a path that only starts like one", { path: "/v1/images/generations/extra", headers, body }],
    ["Expect: 100-continue", { path: "/v1/images/generations", headers, body, expect100: true }]
  ] as const)("leaves %s to the router", async (_, options) => {
    const r = await send(origin, options)
    expect(r.status).toBe(599)
  })
})

describe("the lane answers as the router's generation handler does", () => {
  let gateway: TestGateway

  beforeAll(async () => {
    gateway = await startGateway()
  })
  afterAll(() => gateway.close())

  const json = { "content-type": "application/json" }
  const presenton = { ...json, authorization: `Bearer ${WORLD.presentonKey}` }
  const CASES: ReadonlyArray<readonly [string, { readonly headers: Record<string, string>; readonly body: string }]> = [
    ["a billed generation (b64_json)", { headers: presenton, body: JSON.stringify({ ...UNICORN, response_format: "b64_json" }) }],
    ["a user's own generation", { headers: { ...json, authorization: `Bearer ${WORLD.alice.key}` }, body: JSON.stringify(UNICORN) }],
    ["no credentials", { headers: json, body: JSON.stringify(UNICORN) }],
    ["a bad key", { headers: { ...json, authorization: "Bearer sk-nope" }, body: JSON.stringify(UNICORN) }],
    ["X-User-ID that is not a UUID", { headers: { ...presenton, "x-user-id": "alice" }, body: JSON.stringify(UNICORN) }],
    ["X-User-ID with a user credential", { headers: { ...json, authorization: `Bearer ${WORLD.alice.key}`, "x-user-id": WORLD.bob.id }, body: JSON.stringify(UNICORN) }],
    ["a missing prompt", { headers: presenton, body: JSON.stringify({ model: "dall-e-3" }) }],
    ["an unknown model", { headers: presenton, body: JSON.stringify({ ...UNICORN, model: "dall-e-9" }) }],
    ["a body that is not JSON", { headers: presenton, body: "{prompt" }],
    ["a body that is JSON but not an object", { headers: presenton, body: "[1,2]" }],
    ["a text/plain body", { headers: { ...presenton, "content-type": "text/plain" }, body: "draw" }],
    ["a body over 1 MiB", { headers: presenton, body: JSON.stringify({ ...UNICORN, prompt: "x".repeat(1_100_000) }) }],
    ["an empty Idempotency-Key", { headers: { ...presenton, "idempotency-key": "" }, body: JSON.stringify(UNICORN) }],
    ["a provider that is unavailable", { headers: presenton, body: JSON.stringify({ ...UNICORN, prompt: promptFor("unavailable") }) }],
    ["a suspended user", { headers: { ...json, authorization: `Bearer ${WORLD.suspended.key}` }, body: JSON.stringify(UNICORN) }]
  ]

  /** What must match: the status, the headers a client reads, and the body without per-request values. */
  const comparable = (a: Answer) => ({
    status: a.status,
    headers: Object.fromEntries(
      ["content-type", "x-should-retry", "retry-after", "connection", "x-credits-charged", "www-authenticate", "deprecation"]
        .map((h) => [h, a.headers[h]])
    ),
    body: a.body
      .replace(/"created":\d+/, "")
      .replace(/hold_[0-9a-f-]+/g, "hold")
      .replace(/"credits_remaining":[\d.]+/, "")
      .replace(/"b64_json":"[^"]+"/g, "")
      .replace(/files\/[0-9a-f]{32}\.png/g, "files/<id>.png")
  })

  it.each(CASES)("%s", async (_, c) => {
    const viaLane = await send(gateway.origin, { path: "/v1/images/generations", ...c })
    const viaRouter = await send(gateway.origin, { path: "/v1/images/generations", ...c, expect100: true })
    expect(viaLane.headers["x-request-id"]).toMatch(/^req_[0-9a-f]{32}$/)
    expect(comparable(viaLane)).toEqual(comparable(viaRouter))
  })

  it.each([false, true])("releases the hold when the client goes away mid-generation (router: %s)", async (expect100) => {
    const balance = () => gateway.run(CreditLedger.use((l) => l.balance(accounts.presentonOrg)))
    const before = await balance()
    const req = httpRequest(`${gateway.origin}/v1/images/generations`, {
      method: "POST",
      headers: { ...presenton, ...(expect100 ? { expect: "100-continue" } : {}) }
    })
    req.on("error", () => {})
    const body = JSON.stringify({ ...UNICORN, prompt: "stuck [hang]" })
    if (expect100) req.on("continue", () => req.end(body))
    else req.end(body)
    await vi.waitFor(async () => expect((await balance()).pending).toBe(before.pending + 48_000), { timeout: 5_000 })
    req.destroy()
    await vi.waitFor(async () => expect((await balance()).pending).toBe(before.pending), { timeout: 5_000 })
    expect((await balance()).posted).toBe(before.posted)
  })

  it("keeps a valid X-Request-ID on both", async () => {
    const id = "req_parity-check-0001"
    for (const expect100 of [false, true]) {
      const r = await send(gateway.origin, { path: "/v1/images/generations", headers: { ...presenton, "x-request-id": id }, body: JSON.stringify(UNICORN), expect100 })
      expect(r.headers["x-request-id"]).toBe(id)
    }
  })
})
