/**
 * Hostile raw HTTP requests against the in-process gateway on memory adapters: the quick run of
 * `npm test` (HOSTILE_CASES, 300 by default). The long run, with PostgreSQL, is
 * HostileHttp.faults.test.ts; the requests and the invariants are in support/HostileHttp.ts.
 */
import { afterAll, beforeAll, expect, it } from "vitest"
import type { LedgerStore } from "../../src/application/ports/LedgerStore.ts"
import { type DemoGateway, startDemoGateway } from "../http/support/DemoGateway.ts"
import { runHostile } from "./support/HostileHttp.ts"

const CASES = Number(process.env["HOSTILE_CASES"] ?? 300)

let gateway: DemoGateway<LedgerStore>
beforeAll(async () => {
  gateway = await startDemoGateway<LedgerStore>("memory")
})
afterAll(() => gateway.close())

it(`${CASES} hostile requests over TCP: one well-formed answer each, no 5xx, OpenAI-shaped errors, the ledger moved only by announced charges`, async () => {
  const figures = await runHostile(gateway, { cases: CASES })
  expect(figures.cases).toBe(CASES)
  // The mix reaches the handlers, not only the parser: some succeed, some are refused.
  expect(figures.statuses["200"] ?? 0).toBeGreaterThan(0)
  expect(figures.statuses["401"] ?? 0).toBeGreaterThan(0)
  console.log(`hostile HTTP: ${JSON.stringify(figures)}`)
})
