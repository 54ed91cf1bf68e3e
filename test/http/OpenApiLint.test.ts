import { execFile } from "node:child_process"
import { mkdtemp, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { http, startGateway, type TestGateway } from "./support/HttpHarness.ts"

const ROOT = new URL("../../", import.meta.url).pathname

describe("/openapi.json under Redocly's recommended rules", () => {
  let gateway: TestGateway
  let dir: string
  beforeAll(async () => {
    gateway = await startGateway()
    dir = await mkdtemp(join(tmpdir(), "openapi-lint-"))
  })
  afterAll(async () => {
    await gateway.close()
    await rm(dir, { recursive: true, force: true })
  })

  it("has no errors (servers, summaries, license, tags all described)", async () => {
    const file = join(dir, "openapi.json")
    await writeFile(file, (await http(gateway.origin, "/openapi.json")).text)
    const lint = await promisify(execFile)(
      process.execPath,
      [join(ROOT, "node_modules/@redocly/cli/bin/cli.js"), "lint", file, "--extends", "recommended", "--format", "json"],
      { cwd: dir, timeout: 60_000, env: { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" } }
    ).catch((e: { stdout: string }) => ({ stdout: e.stdout }))
    const report = JSON.parse(lint.stdout) as { totals: { errors: number; warnings: number }; problems: Array<{ ruleId: string; severity: string }> }
    expect(report.problems.filter((p) => p.severity === "error")).toEqual([])
    // What is left are warnings, each known: public probes with no 4xx, and a license without an SPDX id.
    expect(new Set(report.problems.map((p) => p.ruleId))).toEqual(new Set(["operation-4xx-response", "info-license-strict"]))
  })
})
