import { createHmac, timingSafeEqual } from "node:crypto"
import { createServer } from "node:http"
import type { AddressInfo } from "node:net"

/** One POST the receiver got: the alert as sent, and whether its signature checked out. */
export interface Delivery {
  readonly alert: { readonly id: string; readonly type: string; readonly created_at: number; readonly data: Record<string, unknown> }
  readonly verified: boolean
  /** The status the receiver answered. */
  readonly status: number
}

export interface WebhookReceiver {
  readonly url: string
  /** Every POST received, in order, answered or not with a 2xx. */
  readonly deliveries: ReadonlyArray<Delivery>
  /** The status to answer from now on (200 at first). */
  answer: number
  /** How long to take before answering (0 at first): a receiver still at work on an alert. */
  delayMs: number
  /** Deliveries answered with a 2xx, per alert id: how many times each alert was taken. */
  readonly accepted: () => Map<string, number>
  readonly close: () => Promise<void>
}

/**
 * A webhook receiver on 127.0.0.1 written as docs/alerts.md tells one to write it: it checks
 * `X-Gateway-Signature` (`t=<unix s>,v1=<hex HMAC-SHA256 of "<t>.<body>">`) with the shared
 * secret, in constant time. It dedupes nothing: tests count what arrived per alert id.
 */
export const startWebhookReceiver = (secret: string): Promise<WebhookReceiver> =>
  new Promise((resolve, reject) => {
    const deliveries: Array<Delivery> = []
    const server = createServer((req, res) => {
      let raw = ""
      req.setEncoding("utf8")
      req.on("data", (chunk: string) => (raw += chunk))
      req.on("end", () => {
        const header = String(req.headers["x-gateway-signature"] ?? "")
        const t = /(?:^|,)t=(\d+)/.exec(header)?.[1] ?? ""
        const v1 = /(?:^|,)v1=([0-9a-f]+)/.exec(header)?.[1] ?? ""
        const expected = createHmac("sha256", secret).update(`${t}.${raw}`).digest("hex")
        const verified = v1.length === expected.length && timingSafeEqual(Buffer.from(v1), Buffer.from(expected))
        // Taken on arrival: a receiver acts on an alert whether or not the sender waits for the answer.
        const status = receiver.answer
        deliveries.push({ alert: JSON.parse(raw), verified, status })
        setTimeout(() => {
          res.statusCode = status
          res.end()
        }, receiver.delayMs)
      })
    })
    const receiver: WebhookReceiver = {
      url: "",
      deliveries,
      answer: 200,
      delayMs: 0,
      accepted: () => {
        const counts = new Map<string, number>()
        for (const d of deliveries) {
          if (d.status >= 200 && d.status < 300) counts.set(d.alert.id, (counts.get(d.alert.id) ?? 0) + 1)
        }
        return counts
      },
      close: () => new Promise((done) => server.close(() => done()))
    }
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as AddressInfo
      ;(receiver as { url: string }).url = `http://127.0.0.1:${port}/hooks/alerts`
      resolve(receiver)
    })
  })

/** Calls `probe` every 100 ms until it holds; a failure naming `what` at the deadline. */
export const waitFor = async <A>(what: string, probe: () => Promise<A | undefined>, deadlineMs = 15_000): Promise<A> => {
  const until = Date.now() + deadlineMs
  for (;;) {
    const found = await probe()
    if (found !== undefined) return found
    if (Date.now() > until) throw new Error(`${what}: not within ${deadlineMs} ms`)
    await new Promise((r) => setTimeout(r, 100))
  }
}
