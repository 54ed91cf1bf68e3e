import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { exec, freePort, ROOT, type Started, startGatewayProcess } from "./support/Processes.ts"

const ADMIN_KEY = "adm_first0operator0key0of0this0gateway0x1"

/** ADMIN_API_KEY: an operator's first admin key, imported at start-up (SPEC §9). */
describe("ADMIN_API_KEY", () => {
  let gateway: Started
  let origin: string

  beforeAll(async () => {
    const port = await freePort()
    origin = `http://127.0.0.1:${port}`
    // No demo data: the only admin key is the one given.
    gateway = await startGatewayProcess({ STORAGE: "memory", DEMO: "0", HOST: "127.0.0.1", PORT: String(port), ADMIN_API_KEY: ADMIN_KEY })
  })
  afterAll(async () => {
    if (gateway !== undefined) expect(await gateway.stop()).toBe(0)
  })

  const admin = (token: string, path = "/api/v1/admin/services", init: RequestInit = {}) =>
    fetch(`${origin}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, "content-type": "application/json" } })

  it("works on the admin API from the first start, and nothing else does", async () => {
    const listed = await admin(ADMIN_KEY)
    expect(listed.status).toBe(200)
    expect(((await listed.json()) as { data: ReadonlyArray<unknown> }).data).toEqual([])
    const demo = await admin("admin_demo_key")
    expect(demo.status).toBe(401)
    expect(((await demo.json()) as any).error.code).toBe("invalid_api_key")
    // The first service, made with it; its key works on the image endpoint and not here.
    const created = await admin(ADMIN_KEY, "/api/v1/admin/services", {
      method: "POST",
      body: JSON.stringify({ name: "first-service", organization: { id: "org_first" }, initial_credits: 100 })
    })
    expect(created.status).toBe(201)
    const secret = ((await created.json()) as any).key.secret as string
    expect((await admin(secret)).status).toBe(403)
    const made = await fetch(`${origin}/v1/images/generations`, {
      method: "POST",
      headers: { authorization: `Bearer ${secret}`, "content-type": "application/json" },
      body: JSON.stringify({ prompt: "a lighthouse", model: "dall-e-3" })
    })
    expect(made.status).toBe(200)
    // The operator's key never moves credits on the image endpoint.
    const refused = await fetch(`${origin}/v1/images/generations`, {
      method: "POST",
      headers: { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ prompt: "a lighthouse", model: "dall-e-3" })
    })
    expect(refused.status).toBe(401)
    expect(gateway.output()).not.toContain(ADMIN_KEY)
  })

  it.each([
    ["too short", "adm_short"],
    ["not an admin key", "sk-looks-like-a-service-key-0000000000000"]
  ])("a value that is no admin key (%s) stops start-up naming ADMIN_API_KEY, never echoing it", async (_what, value) => {
    const failure = await exec(process.execPath, ["src/main.ts"], {
      cwd: ROOT,
      env: { ...process.env, STORAGE: "memory", PORT: "0", ADMIN_API_KEY: value },
      timeout: 30_000
    }).then(() => undefined, (e: { code: number; stderr: string }) => e)
    expect(failure?.code).toBe(78)
    expect(failure?.stderr).toMatch(/^Invalid configuration: ADMIN_API_KEY: /)
    expect(failure?.stderr).not.toContain(value)
  })
})
