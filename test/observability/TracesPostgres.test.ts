/**
 * Traces of a gateway process on PostgreSQL (`npm start` with DATABASE_URL and
 * OTEL_EXPORTER_OTLP_ENDPOINT): the generation's trace holds its SQL statements, and no span
 * carries a credential, a prompt or a statement's parameters.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEMO } from "../../src/DemoData.ts"
import { type EmptyDatabase, openEmptyDatabase } from "../../specs/support/postgres.ts"
import { freePort, type Started, startGatewayProcess } from "../http/support/Processes.ts"
import { startReceiver } from "./support/OtlpReceiver.ts"

const BYOK_KEY = "bJGHSMXl7S1KA44onf8rIEBoapy6-EYiI9xCTYkIarE"
const PROMPT = "A harbour at night, seen from a lighthouse"

describe("traces from a gateway on PostgreSQL", () => {
  let database: EmptyDatabase
  let receiver: Awaited<ReturnType<typeof startReceiver>>
  let gateway: Started
  let origin: string

  beforeAll(async () => {
    database = await openEmptyDatabase("traces_pg")
    receiver = await startReceiver()
    const port = await freePort()
    origin = `http://127.0.0.1:${port}`
    gateway = await startGatewayProcess({
      DATABASE_URL: database.url,
      MIGRATE: "1",
      DEMO: "1",
      LOCAL_PROVIDER: "1",
      BYOK_ENCRYPTION_KEY: BYOK_KEY,
      HOST: "127.0.0.1",
      PORT: String(port),
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/json",
      OTEL_BSP_SCHEDULE_DELAY: "100"
    })
  }, 60_000)
  afterAll(async () => {
    expect(await gateway?.stop()).toBe(0)
    await receiver?.close()
    await database?.close()
  })

  it("links the generation, its ledger operations, the provider call and their SQL in one trace", async () => {
    const requestId = "req_trace_pg_0001"
    const answer = await fetch(`${origin}/v1/images/generations`, {
      method: "POST",
      headers: { authorization: `Bearer ${DEMO.alice.key}`, "content-type": "application/json", "x-request-id": requestId },
      body: JSON.stringify({ prompt: PROMPT, model: "dall-e-3", n: 1 }),
      signal: AbortSignal.timeout(20_000)
    })
    expect(answer.status).toBe(200)
    const rootOf = () => receiver.spans().find((s) => s.name === "ImageGeneration.generate" && s.attributes["request.id"] === requestId)
    const trace = () => receiver.spans().filter((s) => s.traceId === rootOf()?.traceId)
    expect(await receiver.until(() => ["CreditLedger.reserve", "CreditLedger.settle", "ImageProvider.generate"].every((name) =>
      trace().some((s) => s.name === name)
    ))).toBe(true)
    const root = rootOf()!
    expect(root.attributes).toMatchObject({
      "generation.billing_mode": "billed",
      "generation.outcome": "success",
      "generation.cost_millicredits": 48_000,
      "generation.payer": DEMO.alice.id,
      "auth.method": "user_key",
      "auth.service": "none"
    })
    const spans = trace()
    for (const name of ["CreditLedger.reserve", "CreditLedger.settle", "ImageProvider.generate"]) {
      expect(spans.find((s) => s.name === name)!.parentSpanId).toBe(root.spanId)
    }
    // Every span of the trace descends from the root: the statements under their ledger or store span.
    const ids = new Set(spans.map((s) => s.spanId))
    for (const s of spans) if (s.spanId !== root.spanId) expect(ids.has(s.parentSpanId!), s.name).toBe(true)
    const statements = spans.filter((s) => typeof s.attributes["db.query.text"] === "string")
    expect(statements.length).toBeGreaterThan(0)

    const everything = Buffer.concat(receiver.received.map((r) => r.body)).toString("utf8")
    const password = new URL(database.url).password
    for (const secret of [DEMO.alice.key, PROMPT, BYOK_KEY, DEMO.bobOpenAiKey, ...(password === "" ? [] : [password])]) {
      expect(everything).not.toContain(secret)
    }
  })
})
