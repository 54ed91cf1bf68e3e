/**
 * An alert pending delivery when its gateway process stops: the receiver failed the first
 * attempt (503), the process is stopped (SIGTERM, or SIGKILL with no chance to clean up), and a
 * new process on the same PostgreSQL database delivers the alert, once.
 */
import { describe, expect, it } from "vitest"
import { openEmptyDatabase } from "../../specs/support/postgres.ts"
import { admin, alertsOf, availableOf, generate, ORG, SECRET, startGateway } from "./support/AlertGateways.ts"
import { startWebhookReceiver, waitFor } from "./support/WebhookReceiver.ts"

/** A retry comes 15 to 30 s after a failed first attempt (30 s with jitter down to half). */
const REDELIVERY_DEADLINE_MS = 60_000

/**
 * A gateway on the database, its organization's threshold set above the balance, and one billed
 * generation made: the alert has fired and its delivery begun.
 */
const alertingGateway = async (databaseUrl: string, receiverUrl: string, started: Array<{ stop: () => Promise<number | null> }>) => {
  const first = await startGateway(databaseUrl, receiverUrl)
  started.push(first.process)
  const threshold = (await availableOf(first.origin, ORG)) + 1_000_000
  expect((await admin(first.origin, "PUT", `/accounts/${ORG}/alert-threshold`, { credits: threshold / 1000 })).status).toBe(200)
  await generate(first.origin)
  return first
}

const restartCase = (signal: "SIGTERM" | "SIGKILL") => async () => {
  const database = await openEmptyDatabase(`alerts_${signal.toLowerCase()}`)
  const receiver = await startWebhookReceiver(SECRET)
  const started: Array<{ stop: () => Promise<number | null> }> = []
  try {
    receiver.answer = 503
    const first = await alertingGateway(database.url, receiver.url, started)

    const pending = await waitFor("a failed first attempt", async () => {
      const [alert] = await alertsOf(first.origin)
      return alert !== undefined && alert.delivery.attempts >= 1 ? alert : undefined
    })
    expect(pending.delivery).toMatchObject({ status: "pending", last_error: "receiver answered 503" })

    first.process.child.kill(signal)
    const code = await first.process.exited
    expect(code).toBe(signal === "SIGTERM" ? 0 : null)

    receiver.answer = 200
    const second = await startGateway(database.url, receiver.url)
    started.push(second.process)
    const delivered = await waitFor("delivery by the new process", async () => {
      const [alert] = await alertsOf(second.origin)
      return alert?.delivery.status === "delivered" ? alert : undefined
    }, REDELIVERY_DEADLINE_MS)
    // Two more looks of the worker: nothing delivered again.
    await new Promise((r) => setTimeout(r, 2_500))

    expect(delivered.id).toBe(pending.id)
    expect(await alertsOf(second.origin)).toHaveLength(1)
    expect(receiver.accepted()).toEqual(new Map([[pending.id, 1]]))
    const refused = receiver.deliveries.filter((d) => d.status === 503)
    expect(refused.length).toBeGreaterThanOrEqual(1)
    expect(receiver.deliveries.every((d) => d.verified && d.alert.id === pending.id)).toBe(true)
    expect(delivered.delivery.attempts).toBe(refused.length + 1)
    expect((await alertsOf(second.origin))[0]!.delivery.status).toBe("delivered")
  } finally {
    for (const p of started) await p.stop()
    await receiver.close()
    await database.close()
  }
}

/**
 * SIGTERM while the receiver is still working on an attempt (it answers 200 after 3 s): the
 * stopping process waits for that answer and records the alert delivered, so the next process,
 * watched past the end of the attempt's lease (25 s), never sends it again.
 */
const inFlightCase = async () => {
  const database = await openEmptyDatabase("alerts_inflight")
  const receiver = await startWebhookReceiver(SECRET)
  const started: Array<{ stop: () => Promise<number | null> }> = []
  try {
    receiver.delayMs = 3_000
    const first = await alertingGateway(database.url, receiver.url, started)
    await waitFor("the attempt under way", async () => (receiver.deliveries.length > 0 ? true : undefined))

    first.process.child.kill("SIGTERM")
    expect(await first.process.exited).toBe(0)
    const second = await startGateway(database.url, receiver.url)
    started.push(second.process)
    const [alert] = await alertsOf(second.origin)
    expect(alert!.delivery).toMatchObject({ status: "delivered", attempts: 1 })
    // Past the lease the interrupted attempt would have held: nothing is sent again.
    await new Promise((r) => setTimeout(r, 27_000))
    expect(receiver.accepted()).toEqual(new Map([[alert!.id, 1]]))
    expect(receiver.deliveries).toHaveLength(1)
  } finally {
    for (const p of started) await p.stop()
    await receiver.close()
    await database.close()
  }
}

describe("an alert pending when its gateway process stops is delivered once by the next process", () => {
  it.concurrent("SIGTERM during an attempt: the attempt is finished and recorded before the process exits", inFlightCase, 150_000)
  it.concurrent("after SIGTERM", restartCase("SIGTERM"), 150_000)
  it.concurrent("after SIGKILL", restartCase("SIGKILL"), 150_000)
})
