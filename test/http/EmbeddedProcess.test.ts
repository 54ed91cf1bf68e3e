import { mkdtemp, readFile, rm, stat } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { DEMO } from "../../src/DemoData.ts"
import { creditsOf, curl, freePort, incidentCommands, startGatewayProcess } from "./support/Processes.ts"

/** `npm start` with no configuration but DATA_DIR and PORT: embedded PostgreSQL under DATA_DIR. */
describe("npm start on the embedded default", () => {
  const dirs: Array<string> = []
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  const start = async (dataDir: string) => {
    const port = await freePort()
    const origin = `http://127.0.0.1:${port}`
    return { origin, process: await startGatewayProcess({ DATA_DIR: dataDir, PORT: String(port), HOST: "127.0.0.1", STORAGE: "", DATABASE_URL: "" }) }
  }

  it("runs the incident report's commands on embedded PostgreSQL, and keeps everything across a restart without granting twice", async () => {
    const dataDir = await mkdtemp(join(tmpdir(), "gateway-embedded-"))
    dirs.push(dataDir)
    const commands = await incidentCommands()

    const first = await start(dataDir)
    let imageUrl: string
    try {
      expect(first.process.output()).toContain("embedded PostgreSQL under")
      expect(first.process.output()).toContain("DEMO DATA")
      const org = await curl(commands[0]!, first.origin)
      expect(org.status).toBe(200)
      expect(org.body._metadata).toMatchObject({ billed_to: "org_presenton_service", cost_incurred: 48, credits_remaining: 9952, provider_used: "local" })
      imageUrl = org.body.data[0].url
      const alice = await curl(commands[1]!, first.origin)
      expect(alice.body._metadata).toMatchObject({ billed_to: DEMO.alice.id, cost_incurred: 48, credits_remaining: 952 })
      expect(await creditsOf(first.origin, "sk-presenton-service-key-2025")).toMatchObject({ credits_remaining: 9952 })
      const bob = await curl(commands[2]!, first.origin)
      expect(bob.body._metadata).toMatchObject({ using_byok: true, cost_incurred: 0 })
    } finally {
      expect(await first.process.stop()).toBe(0)
    }
    // The cluster and the generated secrets are kept under DATA_DIR; the secrets file is private.
    expect((await stat(join(dataDir, "postgres", "PG_VERSION"))).isFile()).toBe(true)
    expect((await stat(join(dataDir, "secrets.json"))).mode & 0o077).toBe(0)
    expect(await readFile(join(dataDir, "secrets.json"), "utf8")).toContain("byokKey")

    const second = await start(dataDir)
    try {
      expect(await creditsOf(second.origin, "sk-presenton-service-key-2025")).toMatchObject({ credits_remaining: 9952 })
      expect(await creditsOf(second.origin, DEMO.alice.key)).toMatchObject({ credits_remaining: 952 })
      const image = await fetch(imageUrl.replace(first.origin, second.origin))
      expect(image.status).toBe(200)
      // Bob's own keys were encrypted with the key kept in DATA_DIR, and still decrypt.
      const again = await curl(commands[2]!, second.origin)
      expect(again.body._metadata).toMatchObject({ using_byok: true })
    } finally {
      expect(await second.process.stop()).toBe(0)
    }
  })
})
