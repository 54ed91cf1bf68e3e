import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEMO } from "../../src/DemoData.ts"
import { creditsOf, curl, exec, freePort, incidentCommands, ROOT, type Started, startGatewayProcess } from "./support/Processes.ts"

describe("npm start (node src/main.ts) with STORAGE=memory", () => {
  let server: Started
  let origin: string
  let dataDir: string

  beforeAll(async () => {
    const port = await freePort()
    origin = `http://127.0.0.1:${port}`
    dataDir = await mkdtemp(join(tmpdir(), "gateway-data-"))
    server = await startGatewayProcess({ STORAGE: "memory", PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir })
  })
  afterAll(async () => {
    if (server.child.exitCode === null) server.child.kill("SIGKILL")
    await rm(dataDir, { recursive: true, force: true })
  })

  const credits = (headers: { authorization: string }) => creditsOf(origin, headers.authorization.slice("Bearer ".length))

  it("prints the demo data, marked as such, and the incident report's commands", () => {
    const out = server.output()
    expect(out).toContain(`Image Gateway listening on ${origin}`)
    expect(out).toContain("DEMO DATA")
    expect(out).toContain("sk-presenton-service-key-2025")
    expect(out).toContain(DEMO.alice.id)
    expect(out).toContain(`${origin}/docs`)
  })

  it("runs the incident report's three curl commands verbatim: 48 credits from the org, 48 from Alice, nothing for BYOK", async () => {
    const commands = await incidentCommands()
    expect(commands).toHaveLength(3)
    const org = { authorization: "Bearer sk-presenton-service-key-2025" }
    const alice = { authorization: `Bearer ${DEMO.alice.key}` }
    const bob = { authorization: `Bearer ${DEMO.bob.key}` }

    const first = await curl(commands[0]!, origin)
    expect(first.status).toBe(200)
    expect(first.body._metadata).toMatchObject({ billed_to: "org_presenton_service", cost_incurred: 48, credits_remaining: 9952 })
    expect(first.body.data[0].url.startsWith(`${origin}/v1/images/files/`)).toBe(true)
    expect((await fetch(first.body.data[0].url)).headers.get("content-type")).toBe("image/png")
    expect(await credits(alice)).toMatchObject({ credits_remaining: 1000 })

    const second = await curl(commands[1]!, origin)
    expect(second.status).toBe(200)
    expect(second.body._metadata).toMatchObject({ billed_to: DEMO.alice.id, cost_incurred: 48, credits_remaining: 952 })
    expect(await credits(org)).toMatchObject({ user_id: "org_presenton_service", credits_remaining: 9952 })

    const third = await curl(commands[2]!, origin)
    expect(third.status).toBe(200)
    expect(third.body._metadata).toMatchObject({ using_byok: true, byok_provider: "openai", cost_incurred: 0, provider_used: "local" })
    expect(await credits(bob)).toMatchObject({ credits_remaining: 0 })
    expect(await credits(org)).toMatchObject({ credits_remaining: 9952 })
    expect(await credits(alice)).toMatchObject({ credits_remaining: 952 })
  })

  it("stops on SIGTERM", async () => {
    server.child.kill("SIGTERM")
    expect(await server.exited).toBe(0)
  })
})

describe("start-up configuration", () => {
  it.each([
    [{ PORT: "eighty" }, "PORT"],
    [{ PORT: "70000" }, "PORT"],
    [{ STORAGE: "mysql" }, "STORAGE"],
    [{ DEMO: "perhaps" }, "DEMO"],
    [{ PUBLIC_URL: "not a url" }, "PUBLIC_URL"],
    [{ RATE_LIMIT_CONCURRENT: "0" }, "RATE_LIMIT_CONCURRENT"]
  ])("stops with a message naming the variable for %o", async (env, variable) => {
    const failure = await exec(process.execPath, ["src/main.ts"], { cwd: ROOT, env: { ...process.env, ...env } }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e
    )
    expect(failure?.code).toBe(78)
    expect(failure?.stderr).toMatch(new RegExp(`^Invalid configuration: ${variable}: `))
    expect(failure?.stderr).not.toContain("    at ")
  })

  it("stops with one line naming HOST and PORT when the port is taken, never a stack trace", async () => {
    const taken = createServer()
    await new Promise<void>((listening) => taken.listen(0, "127.0.0.1", listening))
    const port = (taken.address() as { port: number }).port
    const failure = await exec(process.execPath, ["src/main.ts"], {
      cwd: ROOT,
      env: { ...process.env, STORAGE: "memory", HOST: "127.0.0.1", PORT: String(port) },
      timeout: 30_000
    }).then(() => undefined, (e: { code: number; stderr: string }) => e)
    await new Promise((closed) => taken.close(closed))
    expect(failure?.code).toBe(78)
    expect(failure?.stderr.trim()).toBe(
      `HOST 127.0.0.1, PORT ${port}: the address is already in use (another gateway or program listens there); stop it or set another PORT`
    )
  })

  it("stops with a message naming DATA_DIR when images cannot be kept there", async () => {
    const dir = await mkdtemp(join(tmpdir(), "gateway-file-"))
    const file = join(dir, "not-a-directory")
    await writeFile(file, "")
    const failure = await exec(process.execPath, ["src/main.ts"], { cwd: ROOT, env: { ...process.env, DATA_DIR: file, PORT: "0" }, timeout: 30_000 })
      .then(() => undefined, (e: { code: number; stderr: string }) => e)
    await rm(dir, { recursive: true, force: true })
    expect(failure?.code).toBe(78)
    expect(failure?.stderr).toMatch(/^DATA_DIR \(/)
  })
})
