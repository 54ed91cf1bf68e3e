/**
 * `npm start` with every kind of secret configured (the platform's OpenAI key, an admin key, the
 * BYOK encryption key, a webhook secret, a metrics token, OTLP headers, a DATABASE_URL with a
 * password), driven through requests that log (refused keys and tokens, BYOK keys added and
 * tested, provider calls to an address that refuses them, failing webhook and trace exports,
 * admin actions, the access log): its whole stdout and stderr show none of them.
 */
import { randomBytes } from "node:crypto"
import { afterAll, beforeAll, expect, it } from "vitest"
import { DEMO } from "../../src/DemoData.ts"
import { type EmptyDatabase, openEmptyDatabase } from "../../specs/support/postgres.ts"
import { freePort, type Started, startGatewayProcess } from "../http/support/Processes.ts"

const hex = (bytes: number) => randomBytes(bytes).toString("hex")

/** Each secret is new per run, so that a match can only come from this process. */
const SECRETS = {
  openaiKey: `sk-platform-${hex(20)}`,
  adminKey: `adm_${hex(20)}`,
  byokEncryptionKey: randomBytes(32).toString("base64url"),
  webhookSecret: hex(32),
  metricsToken: `metrics-${hex(16)}`,
  otelToken: `otel-${hex(16)}`,
  byokKey: `sk-byok-${hex(20)}`,
  wrongKey: `sk-wrong-${hex(20)}`,
  wrongJwtSecret: `jwt-${hex(16)}`
}

let database: EmptyDatabase
let gateway: Started
let origin: string
let password: string
/** Secrets the gateway hands out during the run (issued keys): no more loggable than the rest. */
const issued: Array<string> = []

const call = async (path: string, init: { method?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {}) => {
  const response = await fetch(`${origin}${path}`, {
    method: init.method ?? (init.body === undefined ? "GET" : "POST"),
    headers: {
      ...(init.token === undefined ? {} : { authorization: `Bearer ${init.token}` }),
      ...(init.body === undefined ? {} : { "content-type": "application/json" }),
      ...init.headers
    },
    body: init.body === undefined ? null : JSON.stringify(init.body),
    signal: AbortSignal.timeout(20_000)
  })
  const text = await response.text()
  return { status: response.status, json: (() => { try { return JSON.parse(text) } catch { return undefined } })() }
}

const jwtWith = async (secret: string) => {
  const { SignJWT } = await import("jose")
  const now = Math.floor(Date.now() / 1000)
  return new SignJWT({ service: "presenton-service" }).setProtectedHeader({ alg: "HS256" }).setIssuedAt(now).setExpirationTime(now + 600)
    .sign(new TextEncoder().encode(secret))
}

beforeAll(async () => {
  database = await openEmptyDatabase("log_secrets")
  password = decodeURIComponent(new URL(database.url).password)
  const port = await freePort()
  // Nothing listens here: provider calls, webhook deliveries and trace exports all fail (and log).
  const refusing = `http://127.0.0.1:${await freePort()}`
  origin = `http://127.0.0.1:${port}`
  gateway = await startGatewayProcess({
    PORT: String(port),
    HOST: "127.0.0.1",
    DATABASE_URL: database.url,
    MIGRATE: "1",
    DEMO: "1",
    LOCAL_PROVIDER: "0",
    OPENAI_API_KEY: SECRETS.openaiKey,
    OPENAI_BASE_URL: `${refusing}/v1`,
    ADMIN_API_KEY: SECRETS.adminKey,
    BYOK_ENCRYPTION_KEY: SECRETS.byokEncryptionKey,
    ALERT_WEBHOOK_URL: `${refusing}/hook`,
    ALERT_WEBHOOK_SECRET: SECRETS.webhookSecret,
    ALERT_LOW_BALANCE_CREDITS: "1000000",
    METRICS_TOKEN: SECRETS.metricsToken,
    OTEL_EXPORTER_OTLP_ENDPOINT: refusing,
    OTEL_EXPORTER_OTLP_HEADERS: `authorization=Bearer ${SECRETS.otelToken}`,
    OTEL_BSP_SCHEDULE_DELAY: "100",
    ACCESS_LOG: "1",
    LOG_LEVEL: "Debug"
  })
})
afterAll(async () => {
  await gateway?.stop()
  await database?.close()
})

it("logs no key, token, BYOK secret or database password, whatever the requests", async () => {
  const generation = { prompt: "a lighthouse", model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 }
  // Refused credentials of every kind.
  expect((await call("/v1/images/generations", { token: SECRETS.wrongKey, body: generation })).status).toBe(401)
  expect((await call("/v1/images/generations", { token: await jwtWith(SECRETS.wrongJwtSecret), body: generation })).status).toBe(401)
  expect((await call("/api/v1/admin/services", { token: SECRETS.wrongKey })).status).toBe(401)
  expect((await call("/metrics", { token: SECRETS.wrongKey })).status).toBe(401)
  expect((await call("/metrics", { token: SECRETS.metricsToken })).status).toBe(200)
  // Provider calls with the platform key, to an address that refuses them.
  expect((await call("/v1/images/generations", { token: "sk-presenton-service-key-2025", body: generation })).status).toBeGreaterThanOrEqual(500)
  expect((await call("/v1/images/generations", { token: await jwtWith(DEMO.presentonJwtSecret), body: generation })).status).toBeGreaterThanOrEqual(500)
  // A BYOK key added, tested (against the refusing address) and used.
  const added = await call("/api/v1/llm/byok/keys", { token: DEMO.alice.key, body: { provider: "openai", api_key: SECRETS.byokKey } })
  expect(added.status, JSON.stringify(added.json)).toBeLessThan(300)
  const byokId = added.json.id ?? added.json.key?.id
  expect((await call(`/api/v1/llm/byok/keys/${byokId}/test`, { token: DEMO.alice.key, method: "POST" })).status).toBeLessThan(600)
  expect((await call("/v1/images/generations", { token: DEMO.alice.key, body: generation })).status).toBeGreaterThanOrEqual(400)
  // Admin actions: keys issued (and used, and refused once revoked).
  const key = await call(`/api/v1/admin/users/${DEMO.alice.id}/keys`, { token: SECRETS.adminKey, body: {} })
  expect(key.status, JSON.stringify(key.json)).toBe(201)
  issued.push(String(key.json.secret ?? key.json.key?.secret))
  expect((await call("/api/v1/llm/credits", { token: issued[0]! })).status).toBe(200)
  expect((await call(`/api/v1/admin/keys/${key.json.id ?? key.json.key?.id}/revoke`, { token: SECRETS.adminKey, body: {} })).status).toBeLessThan(300)
  expect((await call("/api/v1/llm/credits", { token: issued[0]! })).status).toBe(401)
  expect((await call("/api/v1/admin/keys", { token: SECRETS.adminKey })).status).toBe(200)
  // Give the background work (audit writes, alert deliveries, trace exports) time to fail and log.
  await new Promise((resolve) => setTimeout(resolve, 1_500))
  await gateway.stop()

  const output = gateway.output()
  // The run did log: the access log and the failures are there to be scanned.
  expect(output).toContain("/v1/images/generations")
  const secrets = { ...SECRETS, databasePassword: password, issuedKey: issued[0]! }
  const leaks = Object.entries(secrets).filter(([, value]) => {
    // The whole secret, or its part past what may be shown of it (the first 8 characters).
    return output.includes(value) || (value.length > 16 && output.includes(value.slice(8)))
  }).map(([name]) => name)
  expect(leaks).toEqual([])
  // No `sk-`-shaped token beyond the demo's published keys.
  const published = new Set(["sk-presenton-service-key-2025", "sk-bolt-diy-service-key-2025", "sk-brigade-service-key-2025", "sk-centerdeep-service-key-2025", DEMO.bobOpenAiKey, DEMO.bobOpenRouterKey])
  const skTokens = [...new Set(output.match(/sk-[A-Za-z0-9_-]{12,}/g) ?? [])].filter((t) => !published.has(t))
  expect(skTokens).toEqual([])
})
