import { mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { freePort, startGatewayProcess, type Started } from "../http/support/Processes.ts"
import { jsonOf, runCli } from "./support/Cli.ts"

/**
 * `npm run admin` while a gateway runs on the same DATA_DIR: the CLI connects to that gateway's
 * embedded PostgreSQL (it does not claim DATA_DIR), and what it makes works on the running
 * gateway at once.
 */
describe("npm run admin beside a running gateway (embedded default)", () => {
  let dataDir: string
  let gateway: Started
  let origin: string
  let env: Record<string, string>

  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "admin-cli-gateway-"))
    const port = await freePort()
    origin = `http://127.0.0.1:${port}`
    env = { DATA_DIR: dataDir, STORAGE: "", DATABASE_URL: "", PORT: String(port), HOST: "127.0.0.1" }
    gateway = await startGatewayProcess(env)
  })
  afterAll(async () => {
    if (gateway !== undefined) expect(await gateway.stop()).toBe(0)
    await rm(dataDir, { recursive: true, force: true })
  })

  const admin = (args: ReadonlyArray<string>, input?: string) => runCli(args, { env, ...(input === undefined ? {} : { input }) })

  const generate = async (token: string) => {
    const response = await fetch(`${origin}/api/v1/llm/image/generations`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ prompt: "a lighthouse", model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 })
    })
    return { status: response.status, body: (await response.json()) as any }
  }

  let serviceKey: string
  let serviceKeyId: string

  it("creates a service with credits whose key the running gateway accepts, billing its organization", async () => {
    const created = await admin(["--json", "services", "create", "cli-gw-service", "--org", "org_cli_gw", "--org-name", "CLI GW", "--credits", "1000"])
    expect(created.code, created.stderr).toBe(0)
    const body = jsonOf(created)
    expect(body.service).toMatchObject({ name: "cli-gw-service", organization: "org_cli_gw", active: true })
    expect(body.service.account).toMatchObject({ available_millicredits: 1_000_000, tier: "managed" })
    expect(body.key.secret).toMatch(/^sk-/)
    serviceKey = body.key.secret
    serviceKeyId = body.key.id

    const first = await generate(serviceKey)
    expect(first.status).toBe(200)
    // 40 credits × 1.2 (managed) from the organization's 1,000.
    expect(first.body._metadata).toMatchObject({ billed_to: "org_cli_gw", cost_incurred: 48, credits_remaining: 952 })

    // The gateway still owns DATA_DIR: the CLI connected to its PostgreSQL and claimed nothing.
    const lock = JSON.parse(await readFile(join(dataDir, "gateway.lock"), "utf8")) as { pid: number }
    expect(lock.pid).toBe(gateway.child.pid)
  })

  it("rotates a service's keys with no overlap (the old key is refused, the new one works) and revokes a key at once", async () => {
    const rotated = await admin(["--json", "keys", "rotate", "cli-gw-service", "--overlap", "0"])
    expect(rotated.code, rotated.stderr).toBe(0)
    const fresh = jsonOf(rotated).key
    expect(fresh.secret).toMatch(/^sk-/)
    expect((await generate(serviceKey)).status).toBe(401)
    expect((await generate(fresh.secret)).status).toBe(200)

    const revoked = await admin(["keys", "revoke", fresh.id])
    expect(revoked.code, revoked.stderr).toBe(0)
    expect(revoked.stdout).toContain(`Revoked key ${fresh.id}`)
    expect((await generate(fresh.secret)).status).toBe(401)

    const listed = jsonOf(await admin(["--json", "keys", "list", "--service", "cli-gw-service"]))
    const status = Object.fromEntries(listed.data.map((k: any) => [k.id, k.status]))
    expect(status[fresh.id]).toBe("revoked")
    expect(status[serviceKeyId]).toBe("expired")
    expect(JSON.stringify(listed)).not.toContain(fresh.secret)
  })

  it("imports a legacy key read from stdin, which then works; an admin key it creates works on the admin API", async () => {
    const legacy = "sk-cli-gw-legacy-key-2025"
    const imported = await admin(["keys", "import", "--service", "cli-gw-service"], `${legacy}\n`)
    expect(imported.code, imported.stderr).toBe(0)
    expect(imported.stdout).not.toContain(legacy)
    expect((await generate(legacy)).status).toBe(200)

    const made = await admin(["admin-keys", "create", "ops"])
    expect(made.code, made.stderr).toBe(0)
    expect(made.stdout).toContain("shown only once")
    const secret = /Secret: (adm_\S+)/.exec(made.stdout)?.[1]
    expect(secret).toBeDefined()
    const services = await fetch(`${origin}/api/v1/admin/services`, { headers: { authorization: `Bearer ${secret}` } })
    expect(services.status).toBe(200)
    expect(JSON.stringify(await services.json())).toContain("cli-gw-service")
  })

  it("grants once per idempotency key, and refunds a charge to the account that paid it", async () => {
    const grant = ["credits", "grant", "org_cli_gw", "10.5", "--reason", "invoice 7", "--idempotency-key", "cli-gw-invoice-7"]
    const first = await admin(grant)
    expect(first.code, first.stderr).toBe(0)
    expect(first.stdout).toContain("Granted 10.5 credits to org_cli_gw")
    const again = await admin(grant)
    expect(again.code, again.stderr).toBe(0)
    expect(again.stdout).toContain("Already done (same idempotency key)")

    const history = jsonOf(await admin(["--json", "credits", "history", "org_cli_gw"]))
    expect(history.data.filter((t: any) => t.kind === "grant").map((t: any) => t.millicredits).sort((a: number, b: number) => a - b)).toEqual([10_500, 1_000_000])
    // The three images generated so far, 48 credits each.
    const charges = history.data.filter((t: any) => t.kind === "settle")
    expect(charges.map((t: any) => t.millicredits)).toEqual([48_000, 48_000, 48_000])

    const refunded = await admin(["--json", "credits", "refund", charges[0].id, "--credits", "12", "--reason", "blurry image"])
    expect(refunded.code, refunded.stderr).toBe(0)
    // 1,000 + 10.5 − 3 × 48 + 12
    expect(jsonOf(refunded)).toMatchObject({
      kind: "refund",
      millicredits: 12_000,
      refund_of: charges[0].id,
      account: { id: "org_cli_gw", available_millicredits: 878_500 }
    })
    const balance = await admin(["credits", "balance", "org_cli_gw"])
    expect(balance.stdout).toMatch(/Available:\s+878\.5\n/)
  })

  it("changes a price that the running gateway charges within seconds", async () => {
    const set = await admin(["pricing", "set-price", "dall-e-3", "standard", "1024x1024", "45"])
    expect(set.code, set.stderr).toBe(0)
    expect(set.stdout).toMatch(/dall-e-3\s+standard\s+1024x1024\s+45/)
    const deadline = Date.now() + 10_000
    let cost: number | undefined
    while (Date.now() < deadline) {
      const charged = await generate("sk-cli-gw-legacy-key-2025")
      expect(charged.status).toBe(200)
      cost = charged.body._metadata.cost_incurred
      if (cost === 54) break
      await new Promise((wake) => setTimeout(wake, 250))
    }
    // 45 × 1.2 for the managed organization.
    expect(cost).toBe(54)
  })

  it("lists its own actions in the audit log and reports the week's usage per service, payer and credential kind", async () => {
    const [audit, report, text] = await Promise.all([
      admin(["--json", "audit", "--kind", "admin", "--limit", "100"]),
      admin(["--json", "report", "weekly"]),
      admin(["report", "weekly"])
    ])
    expect(audit.code, audit.stderr).toBe(0)
    const entries = jsonOf(audit).data as Array<any>
    const actions = entries.filter((e) => e.actor.startsWith("cli:")).map((e) => e.action)
    for (const action of ["service.create", "key.rotate", "key.revoke", "key.import", "key.issue", "credits.grant", "credits.refund", "pricing.update"]) {
      expect(actions).toContain(action)
    }
    expect(JSON.stringify(entries)).not.toContain("sk-cli-gw-legacy-key-2025")

    expect(report.code, report.stderr).toBe(0)
    const usage = jsonOf(report)
    const service = usage.by_service.find((g: any) => g.key === "cli-gw-service")
    expect(service).toMatchObject({ requests: expect.any(Number), images: expect.any(Number) })
    expect(service.succeeded).toBeGreaterThanOrEqual(4)
    expect(usage.by_payer.map((g: any) => g.key)).toContain("org_cli_gw")
    expect(usage.by_credential.map((g: any) => g.key)).toContain("service_key")
    expect(text.stdout).toContain("Per service")
    expect(text.stdout).toMatch(/cli-gw-service\s+\d+\s+[\d.]+%/)
  })

  it("refuses what the gateway's rules refuse with exit 1 and one line on stderr", async () => {
    const [missing, duplicate] = await Promise.all([
      admin(["keys", "revoke", "key_does_not_exist"]),
      admin(["orgs", "create", "org_cli_gw", "--name", "Again"])
    ])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toBe("admin: No key 'key_does_not_exist' exists.\n")
    expect(duplicate.code).toBe(1)
    expect(duplicate.stderr).toMatch(/^admin: An? organization 'org_cli_gw' already exists\.\n$/)
  })
})
