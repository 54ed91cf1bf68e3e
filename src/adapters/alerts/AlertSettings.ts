import { Config, Layer, Option, type Redacted, Schema } from "effect"
import { FetchHttpClient } from "effect/http"
import { AlertDelivery, DEFAULT_DELIVERY_POLICY, type DeliveryPolicy } from "../../application/AlertsDelivery.ts"
import { BalanceAlerts, LowBalanceThreshold, WatchedLedgerStore } from "../../application/AlertsBalance.ts"
import { RateAlerts } from "../../application/AlertsRate.ts"
import { WeeklyReport } from "../../application/AlertsWeekly.ts"
import type { AlertStore } from "../../application/ports/AlertStore.ts"
import type { AuthFailureLog } from "../../application/ports/AuthFailureLog.ts"
import type { LedgerStore } from "../../application/ports/LedgerStore.ts"
import type { UsageLog } from "../../application/ports/UsageLog.ts"
import { MILLI_PER_CREDIT } from "../../domain/Money.ts"
import { observeAlertDelivery } from "../metrics/Metrics.ts"
import { LogAlertNotifier } from "./LogAlertNotifier.ts"
import { WebhookAlertNotifier } from "./WebhookAlertNotifier.ts"

const MIN_SECRET = 32

/** A count per hour: 0 alerts on the first refusal. */
const perHour = (name: string, fallback: number) =>
  Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000_000 })), name).pipe(Config.withDefault(fallback))

/** ALERT_WEBHOOK_URL, ALERT_WEBHOOK_SECRET, ALERT_LOW_BALANCE_CREDITS, the rate thresholds and the weekly report (docs/alerts.md). */
export const AlertConfig = Config.all({
  webhookUrl: Config.URL("ALERT_WEBHOOK_URL").pipe(Config.option),
  webhookSecret: Config.schema(
    Schema.RedactedFromValue(Schema.String.check(Schema.isMinLength(MIN_SECRET, {
      message: `a webhook secret has at least ${MIN_SECRET} characters (e.g. $(openssl rand -hex 32))`
    }))),
    "ALERT_WEBHOOK_SECRET"
  ).pipe(Config.option),
  // The low-balance threshold of accounts with none of their own, in whole credits.
  lowBalanceCredits: Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 1_000_000_000 })), "ALERT_LOW_BALANCE_CREDITS")
    .pipe(Config.withDefault(1_000)),
  // Rate alerts over the trailing hour, checked every ALERT_RATE_CHECK_SECONDS.
  serviceAuthFailuresPerHour: perHour("ALERT_SERVICE_AUTH_FAILURES_PER_HOUR", 10),
  generation401PerHour: perHour("ALERT_GENERATION_401_PER_HOUR", 5),
  rateCheckSeconds: Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 3_600 })), "ALERT_RATE_CHECK_SECONDS")
    .pipe(Config.withDefault(60)),
  // The weekly consumption report, at Monday 00:00 UTC; 0 turns it off.
  weeklyReport: Config.Boolean("ALERT_WEEKLY_REPORT").pipe(Config.withDefault(true))
})
export type AlertConfig = Config.Success<typeof AlertConfig>

/** What stops start-up in the alert settings, in one line naming the variable; never the secret. */
export const alertConfigProblem = (config: AlertConfig): string | undefined =>
  Option.isSome(config.webhookUrl) && Option.isNone(config.webhookSecret)
    ? `ALERT_WEBHOOK_SECRET must be set with ALERT_WEBHOOK_URL: it signs every alert (at least ${MIN_SECRET} characters).`
    : Option.isNone(config.webhookUrl) && Option.isSome(config.webhookSecret)
    ? "ALERT_WEBHOOK_URL: not set, but ALERT_WEBHOOK_SECRET is: set both to deliver alerts to a webhook, or neither to log them."
    : undefined

/** Where alerts go, as the banner says it (the webhook's origin only: its path may hold a token). */
export const alertTarget = (config: AlertConfig): string =>
  Option.match(config.webhookUrl, { onNone: () => "log (stderr)", onSome: (url) => `webhook ${url.origin}` })

/** The configured default threshold (ALERT_LOW_BALANCE_CREDITS), for the balance checks and for what admin answers report. */
export const lowBalanceThreshold = (config: AlertConfig) =>
  Layer.succeed(LowBalanceThreshold, config.lowBalanceCredits * MILLI_PER_CREDIT)

const notifier = (config: AlertConfig) =>
  Option.isSome(config.webhookUrl) && Option.isSome(config.webhookSecret)
    ? WebhookAlertNotifier({ url: config.webhookUrl.value, secret: config.webhookSecret.value as Redacted.Redacted<string> })
      .pipe(Layer.provide(FetchHttpClient.layer))
    : LogAlertNotifier

/**
 * `ports` with alerts: their LedgerStore watched for low balances (`WatchedLedgerStore`), and
 * the outbox drained to the configured notifier in the background (`AlertDelivery`), the rate
 * alerts checked and the weekly report raised in the background too. Merge it
 * after the ports so that the watched LedgerStore replaces theirs; `ports` must be one layer
 * value (built once).
 */
export const withAlerts = <A, E, R>(
  ports: Layer.Layer<A | LedgerStore | AlertStore | AuthFailureLog | UsageLog, E, R>,
  config: AlertConfig,
  policy: DeliveryPolicy = DEFAULT_DELIVERY_POLICY
) => {
  const threshold = lowBalanceThreshold(config)
  const alerts = BalanceAlerts.layer().pipe(Layer.provide(Layer.merge(ports, threshold)))
  const watched = WatchedLedgerStore.pipe(Layer.provide(Layer.merge(alerts, ports)))
  const delivery = AlertDelivery.layer(policy, observeAlertDelivery).pipe(Layer.provide(Layer.merge(notifier(config), ports)))
  const rates = RateAlerts.layer({
    thresholds: { serviceAuthFailures: config.serviceAuthFailuresPerHour, generation401: config.generation401PerHour },
    intervalMs: config.rateCheckSeconds * 1000
  }).pipe(Layer.provide(ports))
  const weekly = config.weeklyReport ? Layer.provide(Layer.effectDiscard(WeeklyReport.make), ports) : Layer.empty
  return Layer.mergeAll(ports, watched, delivery, alerts, threshold, rates, weekly)
}
