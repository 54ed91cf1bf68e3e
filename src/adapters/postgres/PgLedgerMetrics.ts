/** The counters of the ledger's group commit (PgLedgerBatch.ts), exported by `GET /metrics`. */
import { Metric } from "effect"

/** The group commit's statements and what they carried, per process. */
export const batchStatements = Metric.counter("image_gateway_ledger_batch_statements_total", {
  description: "batch statements sent for reserves and settlements, retries included",
  incremental: true
})
export const contendedStatements = Metric.counter("image_gateway_ledger_batch_statements_contended_total", {
  description: "of those, statements of one contended payer's own lane",
  incremental: true
})
export const batchedReserves = Metric.counter("image_gateway_ledger_batched_reserves_total", {
  description: "reserves carried by batch statements",
  incremental: true
})
export const batchedSettles = Metric.counter("image_gateway_ledger_batched_settles_total", {
  description: "settlements carried by batch statements",
  incremental: true
})
