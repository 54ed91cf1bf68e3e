/**
 * SIGKILL of a gateway process with billed generations in flight, and a new process on the same
 * PostgreSQL database: every hold the dead process left is released by the sweeper, the debits
 * posted are exactly the images delivered, and a request retried with its Idempotency-Key is
 * charged once and gets its image (a replay of what the dead process settled, or a new attempt
 * once the dead process's claim is stale).
 */
import { afterAll, describe, expect, it } from "vitest"
import { SWEEP_INTERVAL_MS } from "../../src/Startup.ts"
import { openEmptyDatabase } from "../../specs/support/postgres.ts"
import { freePort, type Started, startGatewayProcess } from "../http/support/Processes.ts"
import { databaseGatewayEnv, generateOnce, type Outcome, readLedger, waitUntil } from "./support/GatewayLoad.ts"

/** Holds outlive the provider call (2 s) by one second: the sweeper may release the dead process's holds soon. */
const HOLD_TTL_SECONDS = 3
const REQUESTS = 400
const CONCURRENCY = 48

const gatewayEnv = (url: string, port: number) => databaseGatewayEnv(url, port, HOLD_TTL_SECONDS)

describe("a gateway process killed under load", () => {
  const started: Array<Started> = []
  afterAll(async () => {
    for (const p of started) if (p.child.exitCode === null && p.child.signalCode === null) p.child.kill("SIGKILL")
  })

  it("after SIGKILL and a restart: no hold pending, debits = images delivered, no request charged twice", async () => {
    const database = await openEmptyDatabase("kill_under_load")
    try {
      const port = await freePort()
      const origin = `http://127.0.0.1:${port}`
      const first = await startGatewayProcess(gatewayEnv(database.url, port))
      started.push(first)

      // REQUESTS generations, CONCURRENCY at a time, each under its own Idempotency-Key; the
      // process is killed once a quarter of them have been answered.
      const outcomes = new Map<string, Outcome>()
      let next = 0
      let answered = 0
      let killedAt = 0
      const worker = async () => {
        while (next < REQUESTS) {
          const key = `kill-${next++}`
          const outcome = await generateOnce(origin, { key })
          outcomes.set(key, outcome)
          if (outcome.answered && ++answered === REQUESTS / 4) {
            killedAt = next
            first.child.kill("SIGKILL")
          }
        }
      }
      await Promise.all(Array.from({ length: CONCURRENCY }, worker))
      expect(await first.exited).toBe(null)
      expect(first.child.signalCode).toBe("SIGKILL")

      const firstRun = [...outcomes.values()]
      const unanswered = [...outcomes].filter(([, o]) => !o.answered).map(([key]) => key)
      // Requests were in flight at the kill: some got no answer at all.
      expect(unanswered.length).toBeGreaterThan(0)
      expect(firstRun.filter((o) => o.answered && o.status !== 200)).toEqual([])

      const holdsAtKill = (await readLedger(database.url)).holds
      const second = await startGatewayProcess(gatewayEnv(database.url, port))
      started.push(second)

      // Every request that got no answer is retried with its key: a first run, a replay of one the
      // dead process finished (settled and recorded in one commit: charged 0 now), or, for a key
      // the dead process had claimed and never settled, 409 until that claim is stale (the
      // provider's deadline, 2 s, and a 10 s margin), then a new attempt that takes it over.
      const retries = new Map<string, Outcome>()
      let conflicts = 0
      await Promise.all(unanswered.map(async (key) => {
        const deadline = Date.now() + 60_000
        for (;;) {
          const o = await generateOnce(origin, { key })
          expect(o.answered, JSON.stringify(o)).toBe(true)
          if (!(o.answered && o.status === 409) || Date.now() > deadline) {
            retries.set(key, o)
            return
          }
          expect(o.code).toBe("idempotency_conflict")
          conflicts += 1
          await new Promise((wake) => setTimeout(wake, 1_000))
        }
      }))
      const retryOutcomes = [...retries.values()]
      for (const o of retryOutcomes) expect(o.answered && o.status, JSON.stringify(o)).toBe(200)

      // The sweeper runs every 30 s: the dead process's holds are released at its first pass after they expire.
      const afterSweep = await waitUntil("no pending hold", async () => {
        const facts = await readLedger(database.url)
        return (facts.holds["pending"] ?? 0) === 0 ? facts : undefined
      }, SWEEP_INTERVAL_MS + HOLD_TTL_SECONDS * 1000 + 15_000)

      const paid = (o: Outcome) => o.answered && o.status === 200 && o.chargedMillicredits > 0
      const delivered = [...firstRun, ...retryOutcomes].filter((o) => o.answered && o.status === 200)
      const firstTime = [...firstRun, ...retryOutcomes].filter(paid)
      const price = firstTime[0]!.answered ? (firstTime[0] as { chargedMillicredits: number }).chargedMillicredits : 0
      // One price for every image of the local model.
      expect(firstTime.every((o) => o.answered && o.chargedMillicredits === price)).toBe(true)
      // No key charged twice: a key paid in the first run is never paid again on retry.
      for (const [key, o] of retries) if (paid(o)) expect(paid(outcomes.get(key)!), key).toBe(false)

      const replays = retryOutcomes.filter((o) => o.answered && o.status === 200 && o.chargedMillicredits === 0).length
      console.log(
        `kill under load: ${REQUESTS} requests, killed when ${killedAt} had been sent and ${REQUESTS / 4} answered; ${firstRun.filter(paid).length} answered in all; ` +
          `${unanswered.length} unanswered; holds at kill ${JSON.stringify(holdsAtKill)}; retries: ` +
          `${firstTime.length - firstRun.filter(paid).length} drawn, ${replays} replayed, ${conflicts} answers 409 before a takeover; ` +
          `ledger after the sweep ${JSON.stringify(afterSweep)}; price ${price} mc`
      )

      expect(afterSweep.holds["pending"] ?? 0).toBe(0)
      expect(afterSweep.accountsOffJournal).toBe(0)
      // Every request got its image in the end: a first answer, a replay, or a new attempt.
      expect(delivered.length).toBe(REQUESTS)
      expect(delivered.length).toBe(firstTime.length + replays)
      // Every debit is an image delivered, exactly once: the settlements are the paid answers and
      // the replays of what the dead process settled; nothing charged without its image.
      expect(afterSweep.settles).toBe(delivered.length)
      expect(afterSweep.settled).toBe(price * afterSweep.settles)
      expect(await second.stop()).toBe(0)
    } finally {
      await database.close()
    }
  }, 240_000)
})
