import { Effect, Layer, Redacted } from "effect"
import { mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { AuthFailureLog } from "../../src/application/ports/AuthFailureLog.ts"
import { type UsageEvent, UsageLog } from "../../src/application/ports/UsageLog.ts"
import { migrate } from "../../src/adapters/postgres/Migrations.ts"
import { PgAuthFailureLog } from "../../src/adapters/postgres/PgAuthFailureLog.ts"
import * as PgDatabase from "../../src/adapters/postgres/PgDatabase.ts"
import { PgUsageLog } from "../../src/adapters/postgres/PgUsageLog.ts"
import type { AccountId } from "../../src/domain/Ids.ts"
import { type EmptyDatabase, openEmptyDatabase } from "../../specs/support/postgres.ts"
import { jsonOf, runCli } from "./support/Cli.ts"

const event = (iso: string, service: string, cost: number, outcome = "success"): UsageEvent => ({
  requestId: `req_${iso}_${service}`,
  at: Date.parse(iso),
  actorKind: "service",
  actor: service,
  service,
  authMethod: "service_key",
  payer: `org_${service}` as AccountId,
  model: "dall-e-3",
  n: 1,
  images: outcome === "success" ? 1 : 0,
  costMillicredits: cost,
  mode: "billed",
  outcome,
  latencyMs: 5
})

/** `npm run admin -- usage analytics`: the weekly series per service from the database, as a table and as JSON. */
describe("npm run admin usage analytics", () => {
  let database: EmptyDatabase
  let env: Record<string, string>
  let dataDir: string

  beforeAll(async () => {
    database = await openEmptyDatabase("admin_cli_analytics")
    dataDir = await mkdtemp(join(tmpdir(), "admin-cli-analytics-"))
    env = { DATABASE_URL: database.url, BYOK_ENCRYPTION_KEY: "8drrwUU75yHwbeWePqUX9Lh0tTtENQw1RF3a8qQkbfo=", DATA_DIR: dataDir, STORAGE: "" }
    // Sunday 8 March 2026 ends one ISO week; Monday the 9th starts the next.
    await Effect.runPromise(Effect.gen(function*() {
      yield* migrate
      const usage = yield* UsageLog
      for (
        const e of [
          event("2026-03-08T23:59:59.999Z", "presenton-service", 48_000),
          event("2026-03-09T00:00:00.000Z", "presenton-service", 96_000),
          event("2026-03-09T10:00:00.000Z", "bolt-diy-service", 0, "InsufficientCredits")
        ]
      ) yield* usage.record(e)
      yield* AuthFailureLog.use((log) =>
        log.append([{ at: Date.parse("2026-03-09T11:00:00Z"), route: "generation", kind: "unauthenticated", reason: "invalid_api_key" }])
      )
    }).pipe(
      Effect.provide(Layer.mergeAll(PgUsageLog, PgAuthFailureLog).pipe(Layer.provideMerge(PgDatabase.layer({ url: Redacted.make(database.url) })))),
      Effect.scoped
    ))
  }, 60_000)
  afterAll(async () => {
    await database?.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  it("prints the weeks' totals with error rates and the services per week, and the same as JSON", async () => {
    const args = ["usage", "analytics", "--since", "2026-03-02", "--until", "2026-03-16", "--bucket", "week", "--group-by", "service"]
    const text = await runCli(args, { env })
    expect(text.code, text.stderr).toBe(0)
    expect(text.stdout).toContain("per week (UTC, weeks from Monday)")
    // The week of Monday 2 March: one request, 48 credits; the week of the 9th: two requests, a 402 and a 401 among 3 attempts.
    expect(text.stdout).toMatch(/2026-03-02\s+1\s+1\s+48\s+48\s+0\s+0\.0%\s+0\s+0\.0%\s+0\s+0\.0%/)
    expect(text.stdout).toMatch(/2026-03-09\s+2\s+1\s+96\s+96\s+1\s+33\.3%\s+0\s+0\.0%\s+1\s+33\.3%/)
    expect(text.stdout).toMatch(/Per service \(largest first\):\n\s*SERVICE.*\n\s*presenton-service\s+2\s+2\s+144\s+72\s+0\n\s*bolt-diy-service\s+1\s+0\s+0\s+-\s+1/)

    const json = await runCli(["--json", ...args, "--limit", "1"], { env })
    expect(json.code, json.stderr).toBe(0)
    const body = jsonOf(json)
    expect(body).toMatchObject({ object: "usage_analytics", bucket: "week", group_by: "service" })
    expect(body.totals.map((t: any) => [t.date, t.requests, t.millicredits, t.unauthorized, t.insufficient_credits])).toEqual([
      ["2026-03-02", 1, 48_000, 0, 0],
      ["2026-03-09", 2, 96_000, 1, 1]
    ])
    expect(body.groups.map((g: any) => g.key)).toEqual(["presenton-service"])
    expect(typeof body.next_cursor).toBe("string")
  }, 60_000)
})
