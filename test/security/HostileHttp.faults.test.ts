/**
 * The long run of the hostile HTTP property (`npm run test:faults`): 10,000 raw requests against
 * the in-process gateway on memory adapters, then 1,000 against one on PostgreSQL. Each exchange
 * has a 15 s deadline; each run is bounded by its test timeout. The invariants are stated in
 * support/HostileHttp.ts; the quick twin in `npm test` is HostileHttp.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import type { LedgerStore } from "../../src/application/ports/LedgerStore.ts"
import { startDemoGateway } from "../http/support/DemoGateway.ts"
import { captureOutput, leakedSecrets, runHostile, secretsInPlay } from "./support/HostileHttp.ts"

const MEMORY_CASES = Number(process.env["HOSTILE_CASES"] ?? 10_000)
const POSTGRES_CASES = Number(process.env["HOSTILE_PG_CASES"] ?? 1_000)

let output: ReturnType<typeof captureOutput>
beforeAll(() => {
  output = captureOutput()
})
afterAll(() => output.stop())

describe("hostile raw HTTP, the long run", () => {
  for (const [store, cases, boundMs] of [["memory", MEMORY_CASES, 15 * 60_000], ["postgres", POSTGRES_CASES, 10 * 60_000]] as const) {
    it(`${cases} requests on ${store}: one answer each, no 5xx, OpenAI-shaped errors, no unexplained ledger move`, { timeout: boundMs }, async () => {
      const gateway = await startDemoGateway<LedgerStore>(store)
      try {
        const figures = await runHostile(gateway, { cases })
        expect(figures.cases).toBe(cases)
        expect(figures.charged).toBeGreaterThan(0)
        console.log(`hostile HTTP on ${store}: ${JSON.stringify(figures)}`)
      } finally {
        await gateway.close()
      }
    })
  }

  it("no secret the requests carried or the gateways hold was logged", () => {
    expect(leakedSecrets(output.text(), secretsInPlay())).toEqual([])
  })
})
