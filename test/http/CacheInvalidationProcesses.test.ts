import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEMO } from "../../src/DemoData.ts"
import { type EmptyDatabase, openEmptyDatabase } from "../../specs/support/postgres.ts"
import { type Started, startDemoOnDatabase } from "./support/Processes.ts"

const ADMIN = { authorization: `Bearer ${DEMO.adminKey}`, "content-type": "application/json" }
const PRESENTON_KEY = "sk-presenton-service-key-2025"
const UNICORN = JSON.stringify({ prompt: "A unicorn with a magic wand", model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 })

const generate = async (origin: string, key: string, user?: string) => {
  const response = await fetch(`${origin}/v1/images/generations`, {
    method: "POST",
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...(user === undefined ? {} : { "x-user-id": user }) },
    body: UNICORN,
    signal: AbortSignal.timeout(10_000)
  })
  const body = (await response.json()) as { error?: { code: string } }
  return { status: response.status, code: body.error?.code }
}

const admin = async (origin: string, method: string, path: string, body?: unknown) => {
  const response = await fetch(`${origin}/api/v1/admin${path}`, {
    method,
    headers: ADMIN,
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(10_000)
  })
  expect(response.status, await response.clone().text()).toBeLessThan(300)
  return (await response.json()) as any
}

/** Sends `attempt` back to back until it answers `status`: how long that took, or a failure at the deadline. */
const untilStatus = async (attempt: () => Promise<{ status: number; code: string | undefined }>, status: number, deadlineMs: number) => {
  const started = performance.now()
  let last: { status: number; code: string | undefined } | undefined
  while (performance.now() - started < deadlineMs) {
    last = await attempt()
    if (last.status === status) return { took: performance.now() - started, answer: last }
  }
  throw new Error(`still ${JSON.stringify(last)} instead of ${status} after ${deadlineMs} ms`)
}

/**
 * Two gateway processes on one PostgreSQL database, each caching keys, services and users: a key
 * revoked and a user suspended through the admin API of one are refused by the other within a
 * second (PostgreSQL's change notification; the stated bound is in docs/scaling.md).
 */
describe("a change made on one instance takes effect on every instance", () => {
  let database: EmptyDatabase
  const gateways: Array<Started> = []
  let one: string
  let two: string

  beforeAll(async () => {
    database = await openEmptyDatabase("gateway_caches")
    ;[one, two] = await Promise.all([startDemoOnDatabase(database.url, gateways), startDemoOnDatabase(database.url, gateways)])
  })
  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()))
    await database?.close()
  })

  it("a key issued on one instance works on the other at once; revoked there, it is refused within a second", async () => {
    const created = await admin(one, "POST", "/services", {
      name: "cache-service",
      organization: { id: "org_cache_service", name: "Cache Inc" },
      initial_credits: 1_000
    })
    const key: string = created.key.secret
    // Never seen by the second instance before: found at once (an unknown key is never cached).
    expect(await generate(two, key)).toEqual({ status: 200, code: undefined })
    // Now cached there.
    expect(await generate(two, key)).toEqual({ status: 200, code: undefined })

    await admin(one, "POST", `/keys/${created.key.id}/revoke`)
    const refused = await untilStatus(() => generate(two, key), 401, 1_000)
    expect(refused.answer.code).toBe("invalid_api_key")
    expect((await generate(one, key)).status).toBe(401)
    console.log(`revocation on one instance refused on the other after ${refused.took.toFixed(1)} ms`)
  })

  it("a user suspended on one instance is refused on the other within a second, and served again once reactivated", async () => {
    expect((await generate(two, PRESENTON_KEY, DEMO.alice.id)).status).toBe(200)
    expect((await generate(two, PRESENTON_KEY, DEMO.alice.id)).status).toBe(200)

    await admin(one, "PATCH", `/users/${DEMO.alice.id}`, { status: "suspended" })
    const refused = await untilStatus(() => generate(two, PRESENTON_KEY, DEMO.alice.id), 403, 1_000)
    expect(refused.answer.code).toBe("account_suspended")

    await admin(one, "PATCH", `/users/${DEMO.alice.id}`, { status: "active" })
    const served = await untilStatus(() => generate(two, PRESENTON_KEY, DEMO.alice.id), 200, 1_000)
    console.log(
      `suspension seen on the other instance after ${refused.took.toFixed(1)} ms, reactivation after ${served.took.toFixed(1)} ms`
    )
  })

  it("a deactivated service's key is refused on the other instance within a second", async () => {
    expect((await generate(two, "sk-bolt-diy-service-key-2025")).status).toBe(200)
    await admin(one, "POST", "/services/bolt-diy-service/deactivate")
    const refused = await untilStatus(() => generate(two, "sk-bolt-diy-service-key-2025"), 401, 1_000)
    expect(refused.answer.code).toBe("invalid_api_key")
  })
})
