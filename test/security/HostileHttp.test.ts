/**
 * Hostile raw HTTP requests against the in-process gateway on memory adapters: the quick run of
 * `npm test` (HOSTILE_CASES, 300 by default). The long run, with PostgreSQL too, is
 * HostileHttp.faults.test.ts; the requests and the invariants are in support/HostileHttp.ts.
 */
import { afterAll, beforeAll, expect, it } from "vitest"
import type { LedgerStore } from "../../src/application/ports/LedgerStore.ts"
import { type DemoGateway, startDemoGateway } from "../http/support/DemoGateway.ts"
import { captureOutput, leakedSecrets, runHostile, secretsInPlay } from "./support/HostileHttp.ts"

const CASES = Number(process.env["HOSTILE_CASES"] ?? 300)

let gateway: DemoGateway<LedgerStore>
let output: ReturnType<typeof captureOutput>
beforeAll(async () => {
  output = captureOutput()
  gateway = await startDemoGateway<LedgerStore>("memory")
})
afterAll(async () => {
  await gateway.close()
  output.stop()
})

it(`${CASES} hostile requests over TCP: one well-formed answer each, no 5xx, OpenAI-shaped errors, the ledger moved only by announced charges`, async () => {
  const figures = await runHostile(gateway, { cases: CASES })
  expect(figures.cases).toBe(CASES)
  // The mix reaches the handlers, not only the parser: some succeed and charge, some are refused.
  expect(figures.charged).toBeGreaterThan(0)
  expect(figures.statuses["401"] ?? 0).toBeGreaterThan(0)
  console.log(`hostile HTTP: ${JSON.stringify(figures)}`)
  // The capture the next test scans does see what is written.
  expect(output.text()).toContain("hostile HTTP: {")
})

it("the gateway logged none of the secrets the requests carried or it holds", () => {
  expect(leakedSecrets(output.text(), secretsInPlay())).toEqual([])
})
