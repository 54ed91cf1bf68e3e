import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type EmptyDatabase, openEmptyDatabase } from "../../specs/support/postgres.ts"
import { jsonOf, runCli } from "./support/Cli.ts"

/** `npm run admin pricing route`: a model's provider set and cleared in the stored pricing data. */
describe("npm run admin pricing route", () => {
  let database: EmptyDatabase
  let env: Record<string, string>
  let dataDir: string

  beforeAll(async () => {
    database = await openEmptyDatabase("admin_cli_route")
    dataDir = await mkdtemp(join(tmpdir(), "admin-cli-route-"))
    env = { DATABASE_URL: database.url, BYOK_ENCRYPTION_KEY: "8drrwUU75yHwbeWePqUX9Lh0tTtENQw1RF3a8qQkbfo=", DATA_DIR: dataDir, STORAGE: "", MIGRATE: "1" }
  }, 60_000)
  afterAll(async () => {
    await database?.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  it("routes a model to a provider, shows the route, and clears it; refuses an unknown provider and a call with neither", async () => {
    const routed = await runCli(["--json", "pricing", "route", "dall-e-3", "openrouter"], { env })
    expect(routed.code, routed.stderr).toBe(0)
    expect(jsonOf(routed)).toMatchObject({ object: "pricing", routes: { "dall-e-3": "openrouter" } })

    const shown = await runCli(["--json", "pricing", "show"], { env })
    expect(shown.code, shown.stderr).toBe(0)
    expect(jsonOf(shown)).toMatchObject({ routes: { "dall-e-3": "openrouter" } })
    const text = await runCli(["pricing", "show"], { env })
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toMatch(/Provider routes[^\n]*\n\s*MODEL\s+PROVIDER\s*\n\s*dall-e-3\s+openrouter/)

    const unknown = await runCli(["pricing", "route", "dall-e-3", "anthropic"], { env })
    expect(unknown.code).not.toBe(0)
    const neither = await runCli(["pricing", "route", "dall-e-3"], { env })
    expect(neither.code).not.toBe(0)
    expect(neither.stderr).toContain("give the provider, or --clear")

    const cleared = await runCli(["--json", "pricing", "route", "dall-e-3", "--clear"], { env })
    expect(cleared.code, cleared.stderr).toBe(0)
    expect(jsonOf(cleared)).toMatchObject({ routes: {} })
    expect(Object.keys(jsonOf(cleared).routes)).toEqual([])
  }, 60_000)
})
