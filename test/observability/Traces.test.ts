/**
 * Traces over OTLP/HTTP from the gateway as users run it (`npm start`'s command with
 * STORAGE=memory and OTEL_EXPORTER_OTLP_ENDPOINT), received by a local OTLP receiver.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEMO } from "../../src/DemoData.ts"
import { freePort, type Started, startGatewayProcess } from "../http/support/Processes.ts"
import { type ReceivedSpan, startReceiver } from "./support/OtlpReceiver.ts"

const KEY = "sk-presenton-service-key-2025"
const PROMPT = "A lighthouse keeper painting the storm"

const generate = (origin: string, requestId: string) =>
  fetch(`${origin}/v1/images/generations`, {
    method: "POST",
    headers: { authorization: `Bearer ${KEY}`, "content-type": "application/json", "x-request-id": requestId },
    body: JSON.stringify({ prompt: PROMPT, model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 }),
    signal: AbortSignal.timeout(20_000)
  })

const startGateway = async (env: Record<string, string>) => {
  const port = await freePort()
  const started = await startGatewayProcess({ STORAGE: "memory", HOST: "127.0.0.1", PORT: String(port), ...env })
  return { origin: `http://127.0.0.1:${port}`, process: started }
}

describe("traces exported as OTLP/HTTP JSON", () => {
  let receiver: Awaited<ReturnType<typeof startReceiver>>
  let gateway: { origin: string; process: Started }

  beforeAll(async () => {
    receiver = await startReceiver()
    gateway = await startGateway({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_HEADERS: "x-collector-token=collector%20secret",
      OTEL_SERVICE_NAME: "image-gateway-under-test",
      OTEL_BSP_SCHEDULE_DELAY: "100"
    })
  }, 60_000)
  afterAll(async () => {
    expect(await gateway?.process.stop()).toBe(0)
    await receiver?.close()
  })

  it("sends one trace per billed generation: the flow, its ledger operations and the provider call, with no key or prompt", async () => {
    const requestId = "req_trace_billed_0001"
    const answer = await generate(gateway.origin, requestId)
    expect(answer.status).toBe(200)
    const rootOf = () => receiver.spans().find((s) => s.name === "ImageGeneration.generate" && s.attributes["request.id"] === requestId)
    const inTrace = () => receiver.spans().filter((s) => s.traceId === rootOf()?.traceId)
    // The root ends last; its children were exported with it or before.
    expect(await receiver.until(() => rootOf() !== undefined && inTrace().length >= 4)).toBe(true)

    expect(gateway.process.output()).toContain(
      `Traces: OTLP/HTTP (http/json) to ${receiver.endpoint}/v1/traces as service image-gateway-under-test`
    )
    expect(gateway.process.output()).not.toContain("collector secret")
    const root = rootOf()!
    const spans = inTrace()
    const byName = (name: string): ReceivedSpan => {
      const found = spans.filter((s) => s.name === name)
      expect(found, name).toHaveLength(1)
      return found[0]!
    }
    expect(root.parentSpanId).toBeUndefined()
    expect(root.resource["service.name"]).toBe("image-gateway-under-test")
    expect(root.attributes).toMatchObject({
      "generation.model": "dall-e-3",
      "generation.n": 1,
      "generation.billing_mode": "billed",
      "generation.outcome": "success",
      "generation.provider": "local",
      "generation.images": 1,
      "generation.cost_millicredits": 48_000,
      "generation.payer": "org_presenton_service",
      "auth.method": "service_key",
      "auth.service": "presenton-service"
    })
    const reserve = byName("CreditLedger.reserve")
    const settle = byName("CreditLedger.settle")
    const provider = byName("ImageProvider.generate")
    for (const child of [reserve, settle, provider]) expect(child.parentSpanId).toBe(root.spanId)
    expect(reserve.attributes).toMatchObject({ "ledger.account": "org_presenton_service", "ledger.amount_millicredits": 48_000 })
    expect(settle.attributes["ledger.hold"]).toBe(reserve.attributes["ledger.hold"])
    expect(provider.attributes).toMatchObject({ "provider.name": "local", "provider.model": "dall-e-3", "provider.n": 1, "provider.byok": false })

    const exports = receiver.received.filter((r) => r.body.includes(requestId))
    expect(exports.length).toBeGreaterThan(0)
    for (const r of exports) {
      expect(r.path).toBe("/v1/traces")
      expect(r.headers["x-collector-token"]).toBe("collector secret")
    }
    // Requests served by the router are traced too, but not an image's URL (its only access control).
    const { data } = await answer.json() as { data: Array<{ url: string }> }
    expect((await fetch(data[0]!.url)).status).toBe(200)
    expect((await fetch(`${gateway.origin}/api/v1/llm/credits`, { headers: { authorization: `Bearer ${KEY}` } })).status).toBe(200)
    expect(await receiver.until(() => receiver.spans().some((s) => s.attributes["url.path"] === "/api/v1/llm/credits"))).toBe(true)
    const everything = Buffer.concat(receiver.received.map((r) => r.body)).toString("utf8")
    expect(everything).not.toContain(new URL(data[0]!.url).pathname)
    expect(everything).not.toContain(KEY)
    expect(everything).not.toContain("presenton-service-key")
    expect(everything).not.toContain(PROMPT)
  })

  it("traces a BYOK generation without ledger spans, and never exports the payer's own key", async () => {
    const requestId = "req_trace_byok_0001"
    const answer = await fetch(`${gateway.origin}/v1/images/generations`, {
      method: "POST",
      headers: { authorization: `Bearer ${DEMO.bob.key}`, "content-type": "application/json", "x-request-id": requestId },
      body: JSON.stringify({ prompt: PROMPT, model: "dall-e-3", n: 1 }),
      signal: AbortSignal.timeout(20_000)
    })
    expect(answer.status).toBe(200)
    const rootOf = () => receiver.spans().find((s) => s.name === "ImageGeneration.generate" && s.attributes["request.id"] === requestId)
    expect(await receiver.until(() => rootOf() !== undefined)).toBe(true)
    const root = rootOf()!
    expect(root.attributes).toMatchObject({ "generation.billing_mode": "byok", "generation.cost_millicredits": 0, "auth.method": "user_key" })
    const trace = receiver.spans().filter((s) => s.traceId === root.traceId)
    expect(trace.map((s) => s.name).sort()).toEqual(["ImageGeneration.generate", "ImageProvider.generate"])
    expect(trace.find((s) => s.name === "ImageProvider.generate")!.attributes["provider.byok"]).toBe(true)
    const everything = Buffer.concat(receiver.received.map((r) => r.body)).toString("utf8")
    for (const secret of [DEMO.bob.key, DEMO.bobOpenAiKey, DEMO.bobOpenRouterKey, PROMPT]) expect(everything).not.toContain(secret)
  })
})

describe("traces exported as OTLP/HTTP protobuf (the default)", () => {
  it("posts protobuf to <endpoint>/v1/traces under the default service name image-gateway", async () => {
    const receiver = await startReceiver()
    // A base URL with a path: traces go under it.
    const gateway = await startGateway({ OTEL_EXPORTER_OTLP_ENDPOINT: `${receiver.endpoint}/otlp/`, OTEL_BSP_SCHEDULE_DELAY: "100" })
    try {
      const requestId = "req_trace_protobuf_0001"
      expect((await generate(gateway.origin, requestId)).status).toBe(200)
      expect(await receiver.until(() => receiver.received.some((r) => r.body.includes(requestId)))).toBe(true)
      const exports = receiver.received
      for (const r of exports) {
        expect(r.path).toBe("/otlp/v1/traces")
        expect(r.headers["content-type"]).toBe("application/x-protobuf")
      }
      // Protobuf keeps strings as UTF-8 bytes: names and values are found as they are.
      const body = Buffer.concat(exports.map((r) => r.body))
      for (const text of ["image-gateway", "service.name", "ImageGeneration.generate", "CreditLedger.reserve", "CreditLedger.settle", "ImageProvider.generate"]) {
        expect(body.includes(text), text).toBe(true)
      }
      expect(body.includes(KEY)).toBe(false)
      expect(body.includes(PROMPT)).toBe(false)
    } finally {
      expect(await gateway.process.stop()).toBe(0)
      await receiver.close()
    }
  })
})

/** Sequential generations; every one must succeed. Returns each one's latency in milliseconds. */
const timedGenerations = async (origin: string, count: number): Promise<Array<number>> => {
  const latencies: Array<number> = []
  for (let i = 0; i < count; i++) {
    const started = performance.now()
    const answer = await generate(origin, `req_trace_timed_${String(i).padStart(4, "0")}`)
    expect(answer.status).toBe(200)
    await answer.arrayBuffer()
    latencies.push(performance.now() - started)
  }
  return latencies
}

const occurrences = (text: string, part: string) => text.split(part).length - 1

describe("a collector that is down or does not answer", () => {
  it("neither slows nor breaks requests when nothing listens at the endpoint, and says so once", async () => {
    const closed = await freePort()
    const gateway = await startGateway({ OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${closed}`, OTEL_BSP_SCHEDULE_DELAY: "50" })
    try {
      // Over about two seconds: many export attempts (every 50 ms, each retried) fail meanwhile.
      const started = Date.now()
      const latencies: Array<number> = []
      while (Date.now() - started < 2_000) latencies.push(...await timedGenerations(gateway.origin, 10))
      latencies.sort((a, b) => a - b)
      // Export is off the request path: generations do not wait for the export's retry delay (1 s).
      // (Medians and a loose p95, not tight tails: a loaded machine delays single requests.)
      expect(latencies[Math.floor(latencies.length / 2)]!).toBeLessThan(250)
      expect(latencies[Math.floor(latencies.length * 0.95)]!).toBeLessThan(1_000)
      const output = gateway.process.output()
      expect(occurrences(output, "Traces cannot be exported")).toBe(1)
      expect(output).toContain(`http://127.0.0.1:${closed}/v1/traces`)
    } finally {
      expect(await gateway.process.stop()).toBe(0)
    }
  })

  it("bounds each export by OTEL_EXPORTER_OTLP_TIMEOUT when the collector accepts and never answers", async () => {
    const receiver = await startReceiver({ hang: true })
    const gateway = await startGateway({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_TIMEOUT: "200",
      OTEL_BSP_SCHEDULE_DELAY: "50"
    })
    try {
      const latencies = await timedGenerations(gateway.origin, 20)
      latencies.sort((a, b) => a - b)
      // Were generations waiting on the export, each would take its 200 ms bound: the median stays
      // below it, and no request waits anywhere near a second.
      expect(latencies[Math.floor(latencies.length / 2)]!).toBeLessThan(200)
      expect(latencies[Math.floor(latencies.length * 0.95)]!).toBeLessThan(1_000)
      expect(await receiver.until(() => gateway.process.output().includes("no answer within 200 ms"), 5_000)).toBe(true)
      expect(occurrences(gateway.process.output(), "Traces cannot be exported")).toBe(1)
    } finally {
      expect(await gateway.process.stop()).toBe(0)
      await receiver.close()
    }
  })
})
