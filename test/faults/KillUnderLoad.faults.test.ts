/**
 * SIGKILL of a gateway process with billed generations in flight, and a new process on the same
 * PostgreSQL database: every hold the dead process left is released by the sweeper, the debits
 * posted are exactly the images delivered, and a request retried with its Idempotency-Key is
 * charged at most once.
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

      // Every request that got no answer is retried with its key: a first run, a replay of a
      // finished one (charged 0), or 409 for one the dead process had claimed and never finished.
      const retries = new Map<string, Outcome>()
      for (const key of unanswered) retries.set(key, await generateOnce(origin, { key }))
      const retryOutcomes = [...retries.values()]
      for (const o of retryOutcomes) {
        expect(o.answered, JSON.stringify(o)).toBe(true)
        if (o.answered && o.status !== 200) expect({ status: o.status, code: o.code }).toEqual({ status: 409, code: "idempotency_conflict" })
      }

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
      const conflicts = retryOutcomes.filter((o) => o.answered && o.status === 409).length
      console.log(
        `kill under load: ${REQUESTS} requests, killed when ${killedAt} had been sent and ${REQUESTS / 4} answered; ${firstRun.filter(paid).length} answered in all; ` +
          `${unanswered.length} unanswered; holds at kill ${JSON.stringify(holdsAtKill)}; retries: ` +
          `${firstTime.length - firstRun.filter(paid).length} drawn, ${replays} replayed, ${conflicts} in progress (409); ` +
          `ledger after the sweep ${JSON.stringify(afterSweep)}; price ${price} mc`
      )

      expect(afterSweep.holds["pending"] ?? 0).toBe(0)
      expect(afterSweep.accountsOffJournal).toBe(0)
      // Every image delivered (the first answer or a replay) was paid exactly once.
      expect(delivered.length).toBe(firstTime.length + replays)
      // Known gap: a request the dead process settled but had not yet recorded as answered is
      // charged, and its key stays "in progress" (409) until the record expires: no image. Such
      // charges can only belong to the keys answered 409; every other debit is an image delivered.
      const chargedUndelivered = afterSweep.settles - delivered.length
      console.log(`kill under load: ${chargedUndelivered} charged without an image, of ${conflicts} keys left in progress`)
      expect(chargedUndelivered).toBeGreaterThanOrEqual(0)
      expect(chargedUndelivered).toBeLessThanOrEqual(conflicts)
      expect(afterSweep.settled).toBe(price * afterSweep.settles)
      expect(await second.stop()).toBe(0)
    } finally {
      await database.close()
    }
  }, 180_000)
})
