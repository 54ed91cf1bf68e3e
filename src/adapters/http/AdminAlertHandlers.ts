import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { Administration } from "../../application/Administration.ts"
import * as AlertJson from "../admin/AlertJson.ts"
import { AlertThreshold } from "./AdminPayloads.ts"
import { adminCall, answer, creditsOf, decodeBody, DEFAULT_PAGE, handled, intQuery, MAX_PAGE } from "./AdminRequests.ts"
import { Api } from "./Api.ts"

/** The admin API's alerts: the outbox with each alert's delivery, and per-account thresholds. */

const readThreshold = decodeBody(AlertThreshold, {
  credits: "Credits with at most 3 decimals (e.g. 500 or \"250.5\"), or null for the default."
})

export const AdminAlertsHandlers = HttpApiBuilder.group(
  Api,
  "adminAlerts",
  Effect.fn(function*(handlers) {
    const admin = yield* Administration

    return handlers
      .handle("list", ({ query }) =>
        handled(Effect.gen(function*() {
          const limit = yield* intQuery(query.limit, "limit", 1, MAX_PAGE, DEFAULT_PAGE)
          const before = query.before === undefined ? undefined : yield* intQuery(query.before, "before", 1, Number.MAX_SAFE_INTEGER, 0)
          return answer(AlertJson.alerts(yield* admin.alerts({ limit, beforeSeq: before })))
        })))
      .handleRaw("threshold", ({ params, request }) =>
        handled(Effect.gen(function*() {
          const call = yield* adminCall()
          const body = yield* readThreshold(request)
          const millicredits = body.credits === null ? null : yield* creditsOf(body.credits, "credits", { allowZero: true })
          return answer(AlertJson.threshold(yield* admin.setAlertThreshold(call, params.account_id, millicredits)))
        })))
  })
)
