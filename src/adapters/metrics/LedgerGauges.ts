import { Context, Effect, Layer, Metric } from "effect"
import { LedgerStore } from "../../application/ports/LedgerStore.ts"

/**
 * Gauges read from the stores when `GET /metrics` is scraped, not kept by this process: on
 * PostgreSQL, holds made by every instance count, and a hold another instance made and then lost
 * (a crash before settling) shows until the sweeper expires it.
 */
const pendingHolds = Metric.gauge("image_gateway_ledger_pending_holds", {
  description: "Credit holds pending on every account (generations being charged, and expired holds not yet swept), read from the ledger at scrape time."
})
const pendingHoldMillicredits = Metric.gauge("image_gateway_ledger_pending_hold_millicredits", {
  description: "Millicredits those pending holds keep from their payers' available balances."
})

/** A store read that takes longer than this is abandoned: the gauges keep their last values. */
export const SCRAPE_READ_DEADLINE = "2 seconds"

/**
 * What `GET /metrics` runs before formatting the registry: refreshes the gauges read from the
 * stores (none unless the gateway provides it). It never fails and is bounded by its deadline.
 */
export const ScrapeRefresh = Context.Reference<Effect.Effect<void>>("image-gateway/metrics/ScrapeRefresh", {
  defaultValue: () => Effect.void
})

/** Refreshes the pending-hold gauges from the ledger store at every scrape. */
export const LedgerGauges = Layer.effect(
  ScrapeRefresh,
  Effect.gen(function*() {
    const store = yield* LedgerStore
    return store.pendingHolds.pipe(
      Effect.flatMap(({ count, amount }) =>
        Effect.andThen(Metric.update(pendingHolds, count), Metric.update(pendingHoldMillicredits, amount))
      ),
      Effect.timeoutOption(SCRAPE_READ_DEADLINE),
      // A store that is down shows on /readyz; the scrape still answers.
      Effect.exit,
      Effect.asVoid
    )
  })
)
