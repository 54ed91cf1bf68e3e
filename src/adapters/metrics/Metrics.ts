import { type Context, Effect, Layer, Metric } from "effect"
import { LedgerStore } from "../../application/ports/LedgerStore.ts"
import { UsageLog, type UsageEvent } from "../../application/ports/UsageLog.ts"
import { LedgerGauges } from "./LedgerGauges.ts"

/**
 * The gateway's Prometheus metrics, served at `GET /metrics` (effect's PrometheusMetrics).
 * Generation metrics come from the usage events the core records for every generation that
 * got past authentication; HTTP metrics from every answer, whichever path served it.
 */
const generations = Metric.counter("image_gateway_generations_total", {
  description: "Generations that got past authentication, by billing mode and outcome (success, or the error's tag).",
  incremental: true
})
const images = Metric.counter("image_gateway_images_generated_total", {
  description: "Images returned to callers, by model and provider.",
  incremental: true
})
const charged = Metric.counter("image_gateway_charged_millicredits_total", {
  description: "Millicredits settled from payers' accounts for generations (1,000 millicredits = 1 credit).",
  incremental: true
})
const consumed = Metric.counter("image_gateway_service_consumed_millicredits_total", {
  description: "Millicredits settled for generations, by the service whose credential made the request (service=\"none\" for user keys and sessions).",
  incremental: true
})
const duration = Metric.histogram("image_gateway_generation_duration_seconds", {
  description: "Time from the request reaching the core to its usage record, by provider.",
  boundaries: Metric.boundariesFromIterable([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120])
})
const responses = Metric.counter("image_gateway_http_responses_total", {
  description: "HTTP answers, by status code.",
  incremental: true
})

/**
 * One metric per combination of label values, made once: the request path joins the values
 * into a key and looks the metric up, without building an attribute object.
 */
const series = <I, S>(metric: Metric.Metric<I, S>, ...labels: ReadonlyArray<string>) => {
  const made = new Map<string, Metric.Metric<I, S>>()
  return (...values: ReadonlyArray<string>): Metric.Metric<I, S> => {
    const key = values.length === 1 ? values[0]! : values.join("\u0000")
    let found = made.get(key)
    if (found === undefined) {
      found = Metric.withAttributes(metric, Object.fromEntries(labels.map((label, i) => [label, values[i]!])))
      made.set(key, found)
    }
    return found
  }
}
const circuitState = Metric.gauge("image_gateway_provider_circuit_state", {
  description: "Each provider's circuit breaker: 0 closed, 1 half-open (the next call probes), 2 open (calls fail fast)."
})
const providerCalls = Metric.counter("image_gateway_provider_calls_total", {
  description: "Calls to real providers, by provider and outcome (success, the error's tag, or circuit_open for a call refused without reaching the provider).",
  incremental: true
})

const generationsBy = series(generations, "mode", "outcome")
const imagesBy = series(images, "model", "provider")
const durationBy = series(duration, "provider")
const consumedBy = series(consumed, "service")
const responsesBy = series(responses, "status")
const circuitStateBy = series(circuitState, "provider")
const providerCallsBy = series(providerCalls, "provider", "outcome")

/** The gauge's values for a circuit's states. */
export const CIRCUIT_STATE = { closed: 0, halfOpen: 1, open: 2 } as const

/** Sets a provider's circuit state gauge. */
export const observeCircuitState = (provider: string, state: number): Effect.Effect<void> =>
  Metric.update(circuitStateBy(provider), state)

/** A provider's circuit state gauge as it reads now. */
export const circuitStateOf = (provider: string): Effect.Effect<number> =>
  Effect.map(Metric.value(circuitStateBy(provider)), (state) => Number(state.value))

/** Counts one call to a real provider (or one refused by its open circuit). */
export const observeProviderCall = (provider: string, outcome: string): Effect.Effect<void> =>
  Metric.update(providerCallsBy(provider, outcome), 1)

const alertDeliveries = Metric.counter("image_gateway_alert_deliveries_total", {
  description: "Alert delivery attempts, by outcome: delivered, retry (tried again later), failed (given up).",
  incremental: true
})
const alertDeliveriesBy = series(alertDeliveries, "outcome")

/** Counts one alert delivery attempt. */
export const observeAlertDelivery = (outcome: string): Effect.Effect<void> => Metric.update(alertDeliveriesBy(outcome), 1)

/** Updates the generation metrics for one usage event, in the registry of `context`. */
export const observeGeneration = (event: UsageEvent, context: Context.Context<never>): void => {
  generationsBy(event.mode, event.outcome).updateUnsafe(1, context)
  const provider = event.provider ?? "none"
  if (event.images > 0) imagesBy(event.model, provider).updateUnsafe(event.images, context)
  if (event.costMillicredits > 0) {
    charged.updateUnsafe(event.costMillicredits, context)
    consumedBy(event.service ?? "none").updateUnsafe(event.costMillicredits, context)
  }
  durationBy(provider).updateUnsafe(event.latencyMs / 1000, context)
}

/** Counts one HTTP answer, in the registry of `context`. */
export const observeResponse = (status: number, context: Context.Context<never>): void =>
  responsesBy(String(status)).updateUnsafe(1, context)

/**
 * The usage log of `ports`, metered: each recorded event also updates the generation metrics.
 * Provide it over the ports (`Layer.provide(ports)`) and merge it after them, so that it
 * replaces their UsageLog.
 */
export const MeteredUsageLog: Layer.Layer<UsageLog, never, UsageLog> = Layer.effect(
  UsageLog,
  Effect.gen(function*() {
    const inner = yield* UsageLog
    return UsageLog.of({
      list: inner.list,
      report: inner.report,
      record: (event) =>
        Effect.withFiber((fiber) => {
          observeGeneration(event, fiber.context)
          return inner.record(event)
        })
    })
  })
)

/**
 * The ledger store of `ports`, metered: a billed generation's usage event is written by its
 * settlement (`LedgerStore.settle` with `usage`), not through the usage log, so the settlement
 * updates the generation metrics once it has succeeded.
 */
export const MeteredLedgerStore: Layer.Layer<LedgerStore, never, LedgerStore> = Layer.effect(
  LedgerStore,
  Effect.gen(function*() {
    const inner = yield* LedgerStore
    return LedgerStore.of({
      ...inner,
      settle: (input) =>
        input.usage === undefined ? inner.settle(input) : Effect.withFiber((fiber) =>
          Effect.tap(inner.settle(input), () => Effect.sync(() => observeGeneration(input.usage!, fiber.context))))
    })
  })
)

/**
 * `ports` with their usage log and ledger metered, and the ledger's pending holds read at every
 * scrape. `ports` is referenced more than once: pass a layer that is shared within one build
 * (not `Layer.fresh`; make the result fresh instead), so that all of them are one set of stores.
 */
export const withMetrics = <A, E, R>(
  ports: Layer.Layer<A | UsageLog | LedgerStore, E, R>
): Layer.Layer<A | UsageLog | LedgerStore, E, R> =>
  LedgerGauges.pipe(Layer.provideMerge(Layer.mergeAll(
    ports,
    MeteredUsageLog.pipe(Layer.provide(ports)),
    MeteredLedgerStore.pipe(Layer.provide(ports))
  )))
