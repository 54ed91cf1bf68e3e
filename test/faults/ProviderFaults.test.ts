/**
 * The fast twin of ProviderFaults.faults.test.ts in `npm test`: the same trials, fewer of them.
 */
import { describe, expect, it } from "vitest"
import { runProviderFaultTrials } from "./support/ProviderFaultTrials.ts"

describe("provider faults through the real adapters (fast)", () => {
  it.each([["memory", 60], ["postgres", 20]] as const)(
    "on %s: %i random trials, each failure uncharged, each success charged its price",
    async (store, trials) => {
      const report = await runProviderFaultTrials({ store, trials, seed: 20261201 })
      // The seed draws both kinds; a run of only one would prove little.
      expect(report.successes).toBeGreaterThan(0)
      expect(report.failures).toBeGreaterThan(0)
    }
  )
})
