import { expect } from "vitest"
import { DEMO, demoOrgOf } from "../../../src/DemoData.ts"
import { freePort, type Started, startGatewayProcess } from "../../http/support/Processes.ts"
import { waitFor } from "./WebhookReceiver.ts"

/** The organization the presenton service key bills; 48 credits a generation (40 × 1.2, managed). */
export const ORG = demoOrgOf("presenton-service")
export const PRESENTON_KEY = "sk-presenton-service-key-2025"
export const GENERATION_MILLICREDITS = 48_000
export const BYOK_KEY = "Zq3nS0b8f4m2XkV7cR1tLwY9pJ5hD6gA0eU3iO8uK2s="
export const SECRET = "whsec-alerts-4b1d0e9c2f7a6b3d8e5f1a0c9b7d2e4f"

const UNICORN = { prompt: "A unicorn with a magic wand", model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 }

export interface Gateway {
  readonly origin: string
  readonly process: Started
}

/**
 * `npm start` with the local provider and the demo data, and `env` (storage, alert settings).
 * The weekly report is off unless `env` turns it on: a new store's first start raises last
 * week's, which the balance alert tests would count.
 */
export const startGatewayWith = async (env: Record<string, string>): Promise<Gateway> => {
  const port = await freePort()
  const process = await startGatewayProcess({
    DEMO: "1",
    LOCAL_PROVIDER: "1",
    BYOK_ENCRYPTION_KEY: BYOK_KEY,
    HOST: "127.0.0.1",
    PORT: String(port),
    ALERT_WEEKLY_REPORT: "0",
    ...env
  })
  const origin = `http://127.0.0.1:${port}`
  // It listens before its stores are up (503 "starting" until then): wait for /readyz.
  await waitFor("the gateway ready", async () => {
    const ready = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(2_000) }).catch(() => undefined)
    return ready?.status === 200 ? true : undefined
  }, 30_000)
  return { origin, process }
}

/** On PostgreSQL (migrating it), alerts to `webhookUrl` signed with `SECRET`. */
export const startGateway = (databaseUrl: string, webhookUrl: string): Promise<Gateway> =>
  startGatewayWith({ DATABASE_URL: databaseUrl, MIGRATE: "1", ALERT_WEBHOOK_URL: webhookUrl, ALERT_WEBHOOK_SECRET: SECRET })

/** One billed generation, on the presenton organization unless another service's key is given. */
export const generate = async (origin: string, key = PRESENTON_KEY) => {
  const response = await fetch(`${origin}/api/v1/llm/image/generations`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify(UNICORN),
    signal: AbortSignal.timeout(30_000)
  })
  expect(response.status, await response.clone().text()).toBe(200)
}

/** An admin API call with the demo admin key: its status and JSON body. */
export const admin = async (origin: string, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${origin}/api/v1/admin${path}`, {
    method,
    headers: {
      authorization: `Bearer ${DEMO.adminKey}`,
      ...(body === undefined ? {} : { "content-type": "application/json" })
    },
    body: body === undefined ? null : typeof body === "string" ? body : JSON.stringify(body),
    signal: AbortSignal.timeout(10_000)
  })
  const text = await response.text()
  return { status: response.status, json: text === "" ? undefined : JSON.parse(text), text }
}

export const availableOf = async (origin: string, account: string): Promise<number> => {
  const r = await admin(origin, "GET", `/accounts/${account}`)
  expect(r.status, r.text).toBe(200)
  return r.json.available_millicredits
}

/** The account detail's low-balance alert: threshold in force and `armed` or `fired`. */
export const lowBalanceAlertOf = async (origin: string, account: string) => {
  const r = await admin(origin, "GET", `/accounts/${account}`)
  expect(r.status, r.text).toBe(200)
  return r.json.low_balance_alert as { threshold: number; threshold_millicredits: number; default: boolean; state: "armed" | "fired" }
}

export interface ListedAlert {
  readonly id: string
  readonly type: string
  readonly data: Record<string, unknown>
  readonly delivery: { readonly status: string; readonly attempts: number; readonly last_error: string | null }
}

export const alertsOf = async (origin: string): Promise<ReadonlyArray<ListedAlert>> => {
  const r = await admin(origin, "GET", "/alerts?limit=500")
  expect(r.status, r.text).toBe(200)
  return r.json.data
}
