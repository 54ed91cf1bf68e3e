/** `GET /metrics`: Prometheus text, fed by the core's usage events and by every HTTP answer. */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { WORLD } from "../../specs/support/Harness.ts"
import { promptFor } from "../../specs/support/ScriptedProvider.ts"
import { samples } from "../observability/support/Prometheus.ts"
import { bearerHeader, generate, http, startGateway, type TestGateway, UNICORN } from "./support/HttpHarness.ts"


describe("GET /metrics", () => {
  let gateway: TestGateway
  beforeAll(async () => {
    gateway = await startGateway()
  })
  afterAll(() => gateway.close())

  const scrape = async () => {
    const r = await http(gateway.origin, "/metrics")
    expect(r.status).toBe(200)
    expect(r.headers.get("content-type")).toBe("text/plain; version=0.0.4; charset=utf-8")
    return samples(r.text)
  }
  // The registry is the process's: other gateways in this file's worker may have counted too.
  const delta = (before: Map<string, number>, after: Map<string, number>, key: string) =>
    (after.get(key) ?? 0) - (before.get(key) ?? 0)

  it("counts generations by mode and outcome, images, credits charged, durations and HTTP statuses", async () => {
    const before = await scrape()
    const ok = await generate(gateway.origin, bearerHeader(WORLD.presentonKey), { ...UNICORN, n: 1 })
    expect(ok.status).toBe(200)
    const failed = await generate(gateway.origin, bearerHeader(WORLD.presentonKey), { ...UNICORN, prompt: promptFor("unavailable") })
    expect(failed.status).toBe(503)
    const unauthenticated = await generate(gateway.origin, {})
    expect(unauthenticated.status).toBe(401)
    const after = await scrape()

    expect(delta(before, after, `image_gateway_generations_total{mode="billed",outcome="success"}`)).toBe(1)
    expect(delta(before, after, `image_gateway_generations_total{mode="billed",outcome="ProviderUnavailable"}`)).toBe(1)
    // A request that never authenticated is no generation; it shows as a 401.
    expect(delta(before, after, `image_gateway_http_responses_total{status="401"}`)).toBe(1)
    expect(delta(before, after, `image_gateway_http_responses_total{status="503"}`)).toBe(1)
    expect(delta(before, after, `image_gateway_http_responses_total{status="200"}`)).toBeGreaterThanOrEqual(2) // the generation and the first scrape
    expect(delta(before, after, `image_gateway_images_generated_total{model="dall-e-3",provider="local"}`)).toBe(1)
    // dall-e-3 standard 1024² is 40 credits; the Presenton org's tier multiplies it by 1.2.
    expect(delta(before, after, "image_gateway_charged_millicredits_total")).toBe(48_000)
    expect(ok.headers.get("x-credits-charged")).toBe("48")
    expect(delta(before, after, `image_gateway_generation_duration_seconds_count{provider="local"}`)).toBe(1)
  })

  it("counts an answer of the router as well as the generation lane's", async () => {
    const before = await scrape()
    expect((await http(gateway.origin, "/v1/nothing-here")).status).toBe(404)
    const after = await scrape()
    expect(delta(before, after, `image_gateway_http_responses_total{status="404"}`)).toBe(1)
  })
})

describe("GET /metrics with METRICS_TOKEN", () => {
  let gateway: TestGateway
  beforeAll(async () => {
    gateway = await startGateway({ metricsToken: "metrics-secret-0123" })
  })
  afterAll(() => gateway.close())

  it("answers 401 in OpenAI's shape without the token or with another, and never echoes it", async () => {
    for (const headers of [{}, { authorization: "Bearer wrong-token" }, { authorization: "metrics-secret-0123" }]) {
      const r = await http(gateway.origin, "/metrics", { headers })
      expect(r.status).toBe(401)
      expect(r.json.error).toMatchObject({ type: "authentication_error", code: "invalid_metrics_token", param: "Authorization" })
      expect(r.text).not.toContain("metrics-secret-0123")
    }
  })

  it("serves the metrics with the token", async () => {
    const r = await http(gateway.origin, "/metrics", { headers: { authorization: "Bearer metrics-secret-0123" } })
    expect(r.status).toBe(200)
    expect(r.text).toContain("# TYPE image_gateway_http_responses_total counter")
  })
})

