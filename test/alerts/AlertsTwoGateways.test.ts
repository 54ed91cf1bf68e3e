/**
 * Low-balance alerts across two gateway processes (`npm start`) on one PostgreSQL database:
 * many billed generations on both, crossing the organization's threshold at once, raise exactly
 * one alert, listed by the admin API and delivered once to a webhook that verifies its signature;
 * a grant above the threshold re-arms it, and the next crossing raises exactly one more.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type EmptyDatabase, openEmptyDatabase } from "../../specs/support/postgres.ts"
import {
  admin,
  alertsOf,
  availableOf,
  type Gateway,
  generate,
  GENERATION_MILLICREDITS,
  lowBalanceAlertOf,
  ORG,
  SECRET,
  startGateway
} from "./support/AlertGateways.ts"
import { startWebhookReceiver, waitFor, type WebhookReceiver } from "./support/WebhookReceiver.ts"

/** Generations per process in one burst: 2 × 12 × 48 credits, far past a threshold 100 credits below. */
const PER_PROCESS = 12
/** Longer than a delivery worker's look (1 s) and a balance check: time for a wrong second alert to show. */
const SETTLE_MS = 3_000

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

describe("low-balance alerts with two gateway processes on one PostgreSQL", () => {
  let database: EmptyDatabase
  let receiver: WebhookReceiver
  let one: Gateway
  let two: Gateway

  beforeAll(async () => {
    database = await openEmptyDatabase("alerts_two")
    receiver = await startWebhookReceiver(SECRET)
    // Both start at once on the empty database: migration 0007 runs once, under the migrator's lock.
    ;[one, two] = await Promise.all([startGateway(database.url, receiver.url), startGateway(database.url, receiver.url)])
  }, 90_000)
  afterAll(async () => {
    const codes = await Promise.all([one?.process.stop(), two?.process.stop()])
    await receiver?.close()
    await database?.close()
    expect(codes).toEqual([0, 0])
  })

  /** Generations on both processes at once. */
  const burst = () =>
    Promise.all([one, two].flatMap((g) => Array.from({ length: PER_PROCESS }, () => generate(g.origin))))

  /** Waits until `n` alerts are listed delivered and the receiver took them; then checks that there are exactly `n`. */
  const expectAlerts = async (n: number) => {
    await waitFor(`${n} alert(s) delivered`, async () => {
      const listed = await alertsOf(one.origin)
      // At least n: more than n fails below with the count, not here with a timeout.
      return listed.length >= n && listed.every((a) => a.delivery.status === "delivered") && receiver.accepted().size >= n
        ? true
        : undefined
    })
    await sleep(SETTLE_MS)
    const [fromOne, fromTwo] = await Promise.all([alertsOf(one.origin), alertsOf(two.origin)])
    expect(fromTwo).toEqual(fromOne)
    expect(fromOne).toHaveLength(n)
    // Each alert taken once by the receiver, every signature verified, nothing else received.
    expect([...receiver.accepted().values()]).toEqual(Array(n).fill(1))
    expect(receiver.deliveries.every((d) => d.verified)).toBe(true)
    expect(receiver.deliveries.map((d) => d.alert.id).sort()).toEqual(fromOne.map((a) => a.id).sort())
    return fromOne
  }

  it("one alert per crossing from both processes, delivered once and signed; a grant re-arms, the next crossing gives exactly one more", async () => {
    const start = await availableOf(one.origin, ORG)
    const threshold = start - 100_000
    const set = await admin(one.origin, "PUT", `/accounts/${ORG}/alert-threshold`, { credits: threshold / 1000 })
    expect(set.status, set.text).toBe(200)
    expect(set.json).toMatchObject({ account: ORG, millicredits: threshold, default: false })

    await burst()
    const afterFirst = await availableOf(two.origin, ORG)
    expect(afterFirst).toBe(start - 2 * PER_PROCESS * GENERATION_MILLICREDITS)
    const [first] = await expectAlerts(1)
    expect(first!.data).toMatchObject({ account: ORG, threshold_millicredits: threshold })
    const seen = first!.data["available_millicredits"] as number
    expect(seen).toBeLessThan(threshold)
    expect(seen).toBeGreaterThanOrEqual(afterFirst)
    expect(receiver.deliveries[0]!.alert).toMatchObject({ id: first!.id, type: "balance.low", data: first!.data })
    expect(await lowBalanceAlertOf(two.origin, ORG)).toMatchObject({ threshold_millicredits: threshold, default: false, state: "fired" })

    // Back 100 credits above the threshold: the grant's balance check (on process two) re-arms.
    const grant = await admin(two.origin, "POST", `/accounts/${ORG}/grants`, {
      credits: (threshold + 100_000 - afterFirst) / 1000,
      reason: "top-up after the low-balance alert"
    })
    expect(grant.status, grant.text).toBe(201)
    expect(await availableOf(one.origin, ORG)).toBe(threshold + 100_000)
    await waitFor("the alert re-armed", async () => (await lowBalanceAlertOf(one.origin, ORG)).state === "armed" ? true : undefined)

    await burst()
    const listed = await expectAlerts(2)
    expect(listed[1]!.id).toBe(first!.id) // newest first
    expect(listed[0]!.data).toMatchObject({ account: ORG, threshold_millicredits: threshold })
    expect(listed[0]!.data["available_millicredits"] as number).toBeLessThan(threshold)
  }, 120_000)
})
