import { Schema } from "effect"
import type { AlertThresholdView, Page } from "../../application/Administration.ts"
import type { AlertRecord } from "../../application/ports/AlertStore.ts"
import { credits, seconds } from "./AdminJson.ts"

/** The admin API's answers about alerts (GET /alerts, PUT /accounts/{id}/alert-threshold). */

const NullableSeconds = (what: string) => Schema.NullOr(Schema.Int).annotate({ description: `${what}, unix seconds; null for none.` })

export const AlertJson = Schema.Struct({
  id: Schema.String.annotate({ description: "The alert's id, as delivered (receivers dedupe on it)." }),
  object: Schema.Literal("alert"),
  type: Schema.String.annotate({
    description: "balance.low: an account's available balance went below its threshold; auth_failures.rate_exceeded: a service's authentication failures in the last hour went above ALERT_SERVICE_AUTH_FAILURES_PER_HOUR; generation_401.rate_exceeded: 401s on the image-generation route in the last hour went above ALERT_GENERATION_401_PER_HOUR; report.weekly: last week's usage report."
  }),
  created_at: Schema.Int.annotate({ description: "When it fired, unix seconds." }),
  data: Schema.Record(Schema.String, Schema.Unknown).annotate({ description: "The payload, as delivered." }),
  delivery: Schema.Struct({
    status: Schema.Literals(["pending", "delivered", "failed"]),
    attempts: Schema.Int,
    last_error: Schema.NullOr(Schema.String).annotate({ description: "Why the last attempt failed: a status or a network error." }),
    next_attempt_at: NullableSeconds("When a pending alert is tried next"),
    delivered_at: NullableSeconds("When it was delivered")
  })
}).annotate({ identifier: "AdminAlert" })

export const AlertListJson = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(AlertJson),
  next_cursor: Schema.NullOr(Schema.Int).annotate({ description: "Pass as 'before' for the next page; null on the last." })
}).annotate({ identifier: "AdminAlertList" })

export const AlertThresholdJson = Schema.Struct({
  account: Schema.String,
  object: Schema.Literal("alert_threshold"),
  credits: Schema.Number.annotate({ description: "Alerted when the available balance goes below this, in credits." }),
  millicredits: Schema.Int,
  default: Schema.Boolean.annotate({ description: "Whether this is the gateway's default (ALERT_LOW_BALANCE_CREDITS)." })
}).annotate({ identifier: "AdminAlertThreshold" })

export const alert = (a: AlertRecord): typeof AlertJson.Type => ({
  id: a.id,
  object: "alert",
  type: a.type,
  created_at: seconds(a.createdAt),
  data: a.data,
  delivery: {
    status: a.status,
    attempts: a.attempts,
    last_error: a.lastError ?? null,
    next_attempt_at: a.nextAttemptAt === undefined ? null : seconds(a.nextAttemptAt),
    delivered_at: a.deliveredAt === undefined ? null : seconds(a.deliveredAt)
  }
})

export const alerts = (page: Page<AlertRecord>): typeof AlertListJson.Type => ({
  object: "list",
  data: page.data.map(alert),
  next_cursor: page.nextCursor ?? null
})

export const threshold = (t: AlertThresholdView): typeof AlertThresholdJson.Type => ({
  account: t.account,
  object: "alert_threshold",
  credits: credits(t.threshold),
  millicredits: t.threshold,
  default: t.isDefault
})
