/**
 * PostgreSQL stopped and started again under load, the gateway process left running: while the
 * database is down, requests are answered 503 at once and /readyz says so; once it is back, the
 * gateway serves again by itself, and every charge matches an image delivered.
 */
import { afterAll, describe, expect, it } from "vitest"
import { type ScratchPostgres, startScratchPostgres } from "../../specs/support/ScratchPostgres.ts"
import { SWEEP_INTERVAL_MS } from "../../src/Startup.ts"
import { freePort, type Started, startGatewayProcess } from "../http/support/Processes.ts"
import { databaseGatewayEnv, generateOnce, type Outcome, readLedger, sleep, waitUntil } from "./support/GatewayLoad.ts"

/** How fast a request must be answered while the database is down. */
const FAIL_FAST_MS = 2_000
/** How soon after PostgreSQL accepts connections again the gateway must serve again. */
const RECOVERY_MS = 15_000
const OUTAGE_MS = 5_000
const CONCURRENCY = 8
const HOLD_TTL_SECONDS = 3

interface Timed {
  readonly at: number
  readonly outcome: Outcome
}

const readyz = async (origin: string) => {
  const started = performance.now()
  const response = await fetch(`${origin}/readyz`, { signal: AbortSignal.timeout(10_000) })
  const body = await response.json() as { status?: string; error?: { code?: string } }
  return { status: response.status, body, ms: performance.now() - started }
}

describe("PostgreSQL restarted under load", () => {
  let postgres: ScratchPostgres | undefined
  let gateway: Started | undefined
  afterAll(async () => {
    await gateway?.stop()
    await postgres?.stop()
  })

  it("503 fast and /readyz 503 during the outage, serving again without a restart, nothing lost or doubled", async () => {
    postgres = await startScratchPostgres({ prefix: "image-gateway-pg-", settings: ["fsync=off", "synchronous_commit=off"] })
    const port = await freePort()
    const origin = `http://127.0.0.1:${port}`
    // Holds left pending by a release the outage refused are the sweeper's: soon, here.
    gateway = await startGatewayProcess(databaseGatewayEnv(postgres.url, port, HOLD_TTL_SECONDS))
    const before = await readLedger(postgres.url)

    // Load: CONCURRENCY loops of billed generations until told to stop.
    const results: Array<Timed> = []
    let running = true
    const loop = async () => {
      while (running) {
        const at = Date.now()
        results.push({ at, outcome: await generateOnce(origin) })
      }
    }
    const load = Promise.all(Array.from({ length: CONCURRENCY }, loop))

    await sleep(2_000)
    await postgres.down()
    const downAt = Date.now()
    const outageReady: Array<Awaited<ReturnType<typeof readyz>>> = []
    while (Date.now() - downAt < OUTAGE_MS) {
      outageReady.push(await readyz(origin))
      await sleep(250)
    }
    const upStarted = Date.now()
    await postgres.up()
    const upAt = Date.now()
    const recovered = await waitUntil("a generation served after PostgreSQL is back", async () => {
      const at = Date.now()
      const o = await generateOnce(origin)
      results.push({ at, outcome: o })
      return o.answered && o.status === 200 ? Date.now() : undefined
    }, RECOVERY_MS)
    await sleep(2_000)
    running = false
    await load
    const readyAfter = await readyz(origin)

    // Requests sent while the server was down (after the stop completed, before the start began).
    const during = results.filter((r) => r.at > downAt + 200 && r.at < upStarted)
    const summary = (rs: ReadonlyArray<Timed>) => {
      const by: Record<string, number> = {}
      for (const { outcome: o } of rs) {
        const k = o.answered ? `${o.status}${o.code === undefined ? "" : ` ${o.code}`}` : `no answer (${o.error})`
        by[k] = (by[k] ?? 0) + 1
      }
      return by
    }
    const slowest = Math.max(...during.map((r) => r.outcome.ms))
    console.log(
      `postgres restart: ${results.length} requests; during the outage ${during.length}: ${JSON.stringify(summary(during))}, ` +
        `slowest ${Math.round(slowest)} ms; /readyz during: ${JSON.stringify(summary(outageReady.map((r, i) => ({ at: i, outcome: { answered: true, status: r.status, code: r.body.error?.code, chargedMillicredits: 0, ms: r.ms } }))))}; ` +
        `served again ${recovered - upAt} ms after PostgreSQL was up (start took ${upAt - upStarted} ms); all: ${JSON.stringify(summary(results))}`
    )

    // During the outage: answered, 503 with a code, fast.
    expect(during.length).toBeGreaterThan(0)
    for (const { outcome: o } of during) {
      expect(o.answered, JSON.stringify(o)).toBe(true)
      if (o.answered) expect({ status: o.status, code: o.code }).toEqual({ status: 503, code: "store_unavailable" })
      expect(o.ms).toBeLessThan(FAIL_FAST_MS)
    }
    expect(outageReady.length).toBeGreaterThan(0)
    for (const r of outageReady) {
      expect(r.status).toBe(503)
      expect(r.ms).toBeLessThan(FAIL_FAST_MS + 500)
    }
    expect(readyAfter.status).toBe(200)
    expect(recovered - upAt).toBeLessThan(RECOVERY_MS)

    // Nothing lost or doubled: one settle per image delivered, no hold left pending, every
    // account's balance equal to its journal.
    // A hold whose release the outage refused stays pending until it expires and the sweeper
    // (every 30 s) releases it.
    const after = await waitUntil("no pending hold", async () => {
      const facts = await readLedger(postgres!.url)
      return (facts.holds["pending"] ?? 0) === 0 ? facts : undefined
    }, SWEEP_INTERVAL_MS + HOLD_TTL_SECONDS * 1000 + 15_000)
    console.log(`postgres restart: ledger ${JSON.stringify(after)}`)
    const delivered = results.filter((r) => r.outcome.answered && r.outcome.status === 200)
    expect(after.holds["pending"] ?? 0).toBe(0)
    expect(after.accountsOffJournal).toBe(0)
    const charged = delivered.reduce((sum, r) => sum + (r.outcome.answered ? r.outcome.chargedMillicredits : 0), 0)
    const price = delivered[0]!.outcome.answered ? (delivered[0]!.outcome as { chargedMillicredits: number }).chargedMillicredits : 0
    // Known gap: a request whose hold was settled just before the stop, and whose next statement
    // (the balance for X-Credits-Remaining) then failed, was charged and answered 503. Such
    // requests can only be among those in flight at the stop; no other charge lacks its image.
    const inFlightAtStop = results.filter((r) => r.at < downAt && !(r.outcome.answered && r.outcome.status === 200)).length
    const chargedUndelivered = after.settles - before.settles - delivered.length
    console.log(`postgres restart: ${chargedUndelivered} charged without an image, of ${inFlightAtStop} in flight at the stop`)
    expect(chargedUndelivered).toBeGreaterThanOrEqual(0)
    expect(chargedUndelivered).toBeLessThanOrEqual(inFlightAtStop)
    expect(after.settled - before.settled).toBe(charged + chargedUndelivered * price)
    // A lost connection is a 503 the client may retry. Known gap: a few requests cut at the very
    // moment of the stop may still get a 500 (a failure path not yet recognised as a lost
    // connection); none after it.
    const internal = results.filter((r) => r.outcome.answered && r.outcome.status === 500)
    console.log(`postgres restart: 500s sent at (ms after the stop, ms taken) ${JSON.stringify(internal.map((r) => [r.at - downAt, Math.round(r.outcome.ms)]))}; up began at ${upStarted - downAt} ms`)
    expect(internal.filter((r) => r.at >= downAt)).toEqual([])
  }, 180_000)
})
