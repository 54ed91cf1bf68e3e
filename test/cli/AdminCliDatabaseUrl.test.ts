import { mkdtemp, readdir, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type EmptyDatabase, openEmptyDatabase } from "../../specs/support/postgres.ts"
import { freePort } from "../http/support/Processes.ts"
import { jsonOf, runCli } from "./support/Cli.ts"

/** `npm run admin` with DATABASE_URL: the same variables as the gateway, and no embedded server. */
describe("npm run admin with DATABASE_URL", () => {
  let database: EmptyDatabase
  let url: string
  let dataDir: string

  beforeAll(async () => {
    database = await openEmptyDatabase("admin_cli")
    url = database.url
    dataDir = await mkdtemp(join(tmpdir(), "admin-cli-dburl-"))
  })
  afterAll(async () => {
    await database?.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  it("migrates when MIGRATE=1 (as the gateway does) and works on the database, starting nothing under DATA_DIR", async () => {
    const env = { DATABASE_URL: url, BYOK_ENCRYPTION_KEY: "8drrwUU75yHwbeWePqUX9Lh0tTtENQw1RF3a8qQkbfo=", DATA_DIR: dataDir, STORAGE: "" }
    const created = await runCli(["orgs", "create", "org_dburl", "--name", "Database URL", "--credits", "5.25"], { env: { ...env, MIGRATE: "1" } })
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout).toContain("Created organization org_dburl.")
    const balance = await runCli(["--json", "credits", "balance", "org_dburl"], { env })
    expect(balance.code, balance.stderr).toBe(0)
    expect(jsonOf(balance)).toMatchObject({ id: "org_dburl", type: "org", available_millicredits: 5_250 })
    expect(await readdir(dataDir)).toEqual([])
  })

  it("stops with exit 78 and one line naming the variable: an unreachable DATABASE_URL (password hidden), no BYOK_ENCRYPTION_KEY", async () => {
    const port = await freePort()
    const [unreachable, noKey] = await Promise.all([
      runCli(["services", "list"], {
        env: { DATABASE_URL: `postgres://u:secret-password@127.0.0.1:${port}/none`, BYOK_ENCRYPTION_KEY: "t5fV3QsGOUbIvtNVVH4nITR5GQI6iyQD4+bp2dmnFAI=", STORAGE: "" }
      }),
      runCli(["services", "list"], { env: { DATABASE_URL: url, BYOK_ENCRYPTION_KEY: "", STORAGE: "" } })
    ])
    expect(unreachable.code).toBe(78)
    expect(unreachable.stderr).toMatch(new RegExp(`^admin: DATABASE_URL \\(127\\.0\\.0\\.1:${port}/none\\): .*\\n$`))
    expect(unreachable.stderr).not.toContain("secret-password")
    expect(noKey.code).toBe(78)
    expect(noKey.stderr).toMatch(/^admin: BYOK_ENCRYPTION_KEY must be set with DATABASE_URL.*\n$/)
  })
})
