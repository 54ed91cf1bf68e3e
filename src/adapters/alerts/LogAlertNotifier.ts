import { Effect, Layer } from "effect"
import { AlertNotifier } from "../../application/ports/AlertNotifier.ts"

/**
 * Alerts as one JSON line each on stderr, when no webhook is configured: a log collector can
 * route them on `"event":"alert"`. Writing never fails, so every alert is delivered at once.
 */
export const LogAlertNotifier: Layer.Layer<AlertNotifier> = Layer.succeed(
  AlertNotifier,
  AlertNotifier.of({
    kind: "log",
    notify: (alert) =>
      Effect.sync(() => {
        process.stderr.write(
          `${JSON.stringify({ event: "alert", id: alert.id, type: alert.type, created_at: new Date(alert.createdAt).toISOString(), data: alert.data })}\n`
        )
      })
  })
)
