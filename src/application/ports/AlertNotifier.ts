import { Context, Data, type Effect } from "effect"
import type { Alert } from "./AlertStore.ts"

/**
 * An attempt that did not deliver: `permanent` when trying again cannot help (the receiver
 * refused the alert), otherwise it is tried again later. `message` never holds a secret.
 */
export class NotifyFailed extends Data.TaggedError("NotifyFailed")<{
  readonly message: string
  readonly permanent: boolean
}> {}

/** Where alerts go: a webhook (`ALERT_WEBHOOK_URL`), or a structured log line. */
export class AlertNotifier extends Context.Service<AlertNotifier, {
  /** `webhook` or `log`, for the start-up banner and the logs. */
  readonly kind: string
  readonly notify: (alert: Alert) => Effect.Effect<void, NotifyFailed>
}>()("image-gateway/AlertNotifier") {}
