/**
 * Provider 5xx, 429s, timeouts, malformed bodies, connection resets and failed downloads through
 * the real OpenAI and OpenRouter backends: 1,000 trials on memory and 200 on PostgreSQL, and not
 * one failure charged (`npm run test:faults`; a small version runs in `npm test`).
 */
import { describe, expect, it } from "vitest"
import { FAULTS, runProviderFaultTrials } from "./support/ProviderFaultTrials.ts"

const SEED = Number(process.env["FAULT_SEED"] ?? 7_2026)

describe("provider faults through the real adapters", () => {
  it.each([["memory", 1_000], ["postgres", 200]] as const)(
    "on %s: %i random trials, 0 charges for failures, every success charged its price once",
    async (store, trials) => {
      const report = await runProviderFaultTrials({ store, trials, seed: SEED })
      console.log(`provider faults on ${store}: ${JSON.stringify(report)}`)
      expect(report.successes + report.failures).toBe(trials)
      // Every fault of the table was drawn at least once.
      if (trials >= 1_000) expect(Object.keys(report.byFault).sort()).toEqual(FAULTS.map((f) => f.name).sort())
    },
    600_000
  )
})
