import { Clock, Effect, Layer, Redacted } from "effect"
import { HttpClient, HttpClientRequest } from "effect/http"
import { AlertNotifier, NotifyFailed } from "../../application/ports/AlertNotifier.ts"
import { alertBody, signature } from "./AlertWire.ts"

/** Statuses that say "not now" rather than "never": tried again like a network failure. */
const RETRYABLE_4XX = new Set([408, 429])

/**
 * Alerts POSTed as JSON to `ALERT_WEBHOOK_URL`, signed with `ALERT_WEBHOOK_SECRET`. A 2xx is
 * delivered; a 4xx other than 408 and 429 is refused for good; anything else (5xx, 408, 429,
 * no answer) is tried again by the delivery worker. Failures name the status or the network
 * error, never the URL's credentials nor the secret.
 */
export const WebhookAlertNotifier = (options: {
  readonly url: URL
  readonly secret: Redacted.Redacted<string>
}): Layer.Layer<AlertNotifier, never, HttpClient.HttpClient> =>
  Layer.effect(
    AlertNotifier,
    Effect.gen(function*() {
      const client = yield* HttpClient.HttpClient
      const target = options.url.href
      return AlertNotifier.of({
        kind: "webhook",
        notify: (alert) =>
          Effect.gen(function*() {
            const body = alertBody(alert)
            const now = Math.floor((yield* Clock.currentTimeMillis) / 1000)
            const request = HttpClientRequest.post(target).pipe(
              HttpClientRequest.setHeaders({
                "x-gateway-signature": signature(Redacted.value(options.secret), body, now),
                "user-agent": "image-gateway-alerts"
              }),
              HttpClientRequest.bodyText(body, "application/json")
            )
            const response = yield* client.execute(request).pipe(
              Effect.mapError((e) => new NotifyFailed({ message: `request failed: ${e.reason._tag}`, permanent: false }))
            )
            const status = response.status
            if (status >= 200 && status < 300) return
            const permanent = status >= 400 && status < 500 && !RETRYABLE_4XX.has(status)
            return yield* new NotifyFailed({ message: `receiver answered ${status}`, permanent })
          })
      })
    })
  )
