import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type EmptyDatabase, openEmptyDatabase } from "../../specs/support/postgres.ts"
import { jsonOf, runCli } from "./support/Cli.ts"

/** `admin services create|update --requests-per-minute … --concurrent …` and `services show`, on PostgreSQL. */
describe("npm run admin services: rate limits", () => {
  let database: EmptyDatabase
  let env: Record<string, string>

  beforeAll(async () => {
    database = await openEmptyDatabase("admin_cli_limits")
    env = { DATABASE_URL: database.url, BYOK_ENCRYPTION_KEY: "8drrwUU75yHwbeWePqUX9Lh0tTtENQw1RF3a8qQkbfo=", STORAGE: "", MIGRATE: "1" }
  })
  afterAll(() => database?.close())

  it("sets, shows and removes a service's rate limits, and refuses a limit that is not a whole number from 1", async () => {
    const created = await runCli(["services", "create", "limited-cli", "--org", "org_limited_cli"], { env })
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout).toMatch(/Rate limits:\s+none/)

    const set = await runCli(["services", "update", "limited-cli", "--requests-per-minute", "600", "--concurrent", "8"], { env })
    expect(set.code, set.stderr).toBe(0)
    expect(set.stdout).toMatch(/Rate limits:\s+600\/min, 8 in flight/)

    const perKey = await runCli(["--json", "services", "update", "limited-cli", "--per-key-requests-per-minute", "100", "--concurrent", "none"], { env })
    expect(perKey.code, perKey.stderr).toBe(0)
    expect(jsonOf(perKey).rate_limits).toEqual({ requests_per_minute: 600, per_key_requests_per_minute: 100, concurrent: null })

    const refused = await runCli(["services", "update", "limited-cli", "--concurrent", "0"], { env })
    expect(refused.code).not.toBe(0)
    expect(refused.stderr).toContain("A rate limit is a whole number from 1 to 1000000")

    const shown = await runCli(["--json", "services", "show", "limited-cli"], { env })
    expect(jsonOf(shown).rate_limits).toEqual({ requests_per_minute: 600, per_key_requests_per_minute: 100, concurrent: null })

    // Limits given at creation.
    const born = await runCli(["--json", "services", "create", "born-limited-cli", "--org", "org_born_cli", "--requests-per-minute", "60", "--concurrent", "4"], { env })
    expect(born.code, born.stderr).toBe(0)
    expect(jsonOf(born).service.rate_limits).toEqual({ requests_per_minute: 60, per_key_requests_per_minute: null, concurrent: 4 })
  }, 90_000)
})
