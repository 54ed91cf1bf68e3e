import { createHmac } from "node:crypto"
import type { Alert } from "../../application/ports/AlertStore.ts"

/** An alert as receivers get it: `{id, type, created_at, data}`, times in unix seconds. */
export const alertBody = (alert: Alert): string =>
  JSON.stringify({ id: alert.id, type: alert.type, created_at: Math.floor(alert.createdAt / 1000), data: alert.data })

/**
 * `X-Gateway-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">`. The time is
 * signed with the body so that a receiver can refuse old replays (docs/alerts.md shows the check).
 */
export const signature = (secret: string, body: string, unixSeconds: number): string =>
  `t=${unixSeconds},v1=${createHmac("sha256", secret).update(`${unixSeconds}.${body}`).digest("hex")}`
