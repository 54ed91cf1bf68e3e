import { access, mkdtemp, readdir, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { jsonOf, runCli } from "./support/Cli.ts"

const exists = (path: string) => access(path).then(() => true, () => false)

/**
 * `npm run admin` on an embedded-default DATA_DIR with no gateway running: each command starts
 * the embedded PostgreSQL itself (claiming DATA_DIR, migrating), and stops it and releases
 * DATA_DIR when it ends.
 */
describe("npm run admin on a DATA_DIR with no gateway running", () => {
  let dataDir: string
  let env: Record<string, string>
  beforeAll(async () => {
    dataDir = await mkdtemp(join(tmpdir(), "admin-cli-embedded-"))
    env = { DATA_DIR: dataDir, STORAGE: "", DATABASE_URL: "" }
  })
  afterAll(async () => {
    await rm(dataDir, { recursive: true, force: true })
  })

  it("starts the embedded PostgreSQL for a command, then stops it and releases DATA_DIR; what it made is there the next time", async () => {
    const created = await runCli(["services", "create", "acme-service", "--org", "org_acme", "--org-name", "Acme", "--credits", "100.5"], { env })
    expect(created.code, created.stderr).toBe(0)
    expect(created.stdout).toContain("Created service acme-service.")
    expect(created.stdout).toMatch(/Balance:\s+100\.5 available \(posted 100\.5, pending 0\)/)
    const secret = /Secret: (sk-\S+)/.exec(created.stdout)?.[1]
    expect(secret).toBeDefined()
    expect(created.stdout).toContain("This secret is shown only once")
    // The key's line in the table shows its prefix, never the secret.
    expect(created.stdout.split(secret!)).toHaveLength(2)

    // Nothing is left running: no lock on DATA_DIR, no server on the cluster.
    expect(await exists(join(dataDir, "gateway.lock"))).toBe(false)
    expect(await exists(join(dataDir, "postgres", "postmaster.pid"))).toBe(false)

    const shown = await runCli(["--json", "services", "show", "acme-service"], { env })
    expect(shown.code, shown.stderr).toBe(0)
    const service = jsonOf(shown)
    expect(service).toMatchObject({ name: "acme-service", organization: "org_acme", user_id_policy: "optional", active: true })
    expect(service.account).toMatchObject({ id: "org_acme", available: 100.5, available_millicredits: 100_500 })
    expect(service.keys).toHaveLength(1)
    expect(JSON.stringify(service)).not.toContain(secret!)
    expect(await exists(join(dataDir, "gateway.lock"))).toBe(false)
  })

  it("refuses what the gateway's rules refuse with exit 1 and one line on stderr, never a stack trace", async () => {
    const refused = await runCli(["credits", "grant", "org_nobody", "5", "--reason", "test"], { env })
    expect(refused.code).toBe(1)
    expect(refused.stderr).toBe("admin: No account 'org_nobody' exists.\n")
    expect(refused.stdout).toBe("")
  })

  it("answers --help and usage errors (exit 2, one line) without opening the store", async () => {
    const untouched = await mkdtemp(join(tmpdir(), "admin-cli-untouched-"))
    try {
      const env = { DATA_DIR: untouched, STORAGE: "", DATABASE_URL: "" }
      const [rootHelp, help, badCredits, unknownFlag, unknownCommand, group, noKey] = await Promise.all([
        runCli(["--help"], { env }),
        runCli(["services", "create", "--help"], { env }),
        runCli(["credits", "grant", "org_acme", "1.2345", "--reason", "x"], { env }),
        runCli(["keys", "issue", "--service", "acme-service", "--colour", "red"], { env }),
        runCli(["servces", "list"], { env }),
        runCli(["keys"], { env }),
        runCli(["keys", "import", "--service", "acme-service"], { env, input: "" })
      ])
      expect(rootHelp.code).toBe(0)
      expect(rootHelp.stdout).toMatch(/Exit codes:\n\s+0  success\n\s+1  refused .*\n\s+2  usage error/)
      expect(rootHelp.stdout).toMatch(/SUBCOMMANDS[\s\S]*services[\s\S]*credits[\s\S]*report/)
      expect(help.code).toBe(0)
      expect(help.stdout).toContain("Create a service")
      expect(help.stdout).toContain("--jwt-secret-stdin")
      expect(help.stdout).toContain("EXAMPLES")

      for (const run of [badCredits, unknownFlag, unknownCommand, group, noKey]) expect(run.code).toBe(2)
      expect(badCredits.stderr).toBe(
        "admin: Invalid value for argument <credits>: \"1.2345\". Expected: more than 3 decimals: expected a positive number of credits with at most 3 decimals (e.g. 1000 or 0.5). (see: npm run admin -- credits grant --help)\n"
      )
      expect(unknownFlag.stderr).toMatch(/^admin: Unrecognized flag: --colour .*\(see: npm run admin -- keys issue --help\)\n$/)
      expect(unknownCommand.stderr).toBe('admin: Unknown subcommand "servces" for "admin". Did you mean this? services (see: npm run admin -- --help)\n')
      expect(group.stdout).toContain("SUBCOMMANDS")
      expect(noKey.stderr).toMatch(/^admin: expected the key to import on stdin/)
      for (const run of [badCredits, unknownFlag, unknownCommand, noKey]) expect(run.stderr.trim().split("\n")).toHaveLength(1)
      // No command above opened the store: DATA_DIR is as it was made.
      expect(await readdir(untouched)).toEqual([])
    } finally {
      await rm(untouched, { recursive: true, force: true })
    }
  })

  it("stops with exit 78 and one line when the store cannot be used: STORAGE=memory, an unusable DATA_DIR", async () => {
    const file = join(dataDir, "not-a-directory")
    await writeFile(file, "")
    const [memory, unusable] = await Promise.all([
      runCli(["services", "list"], { env: { STORAGE: "memory" } }),
      runCli(["services", "list"], { env: { DATA_DIR: file, STORAGE: "", DATABASE_URL: "" } })
    ])
    expect(memory.code).toBe(78)
    expect(memory.stderr).toMatch(/^admin: STORAGE=memory: .*admin API.*\n$/)
    expect(unusable.code).toBe(78)
    expect(unusable.stderr).toMatch(new RegExp(`^admin: DATA_DIR \\(${file}\\): .*\\n$`))
  })
})
