import { Cause, Context, Duration, Effect, Exit, Fiber, Layer, Option, type Redacted, References, Stream } from "effect"
import { CircuitBreaker } from "effect/persistence"
import { ImageProvider, type ProviderCall, type ProviderResult } from "../../application/ports/ImageProvider.ts"
import { PricingCatalog } from "../../application/PricingCatalog.ts"
import { ProviderKeyCheck } from "../../application/ports/ProviderKeyCheck.ts"
import { type ProviderError, ProviderNotConfigured, ProviderTimeout, ProviderUnavailable } from "../../domain/Errors.ts"
import type { ProviderName } from "../../domain/Models.ts"
import { generateLocally } from "../local/LocalImageProvider.ts"
import { CIRCUIT_STATE, observeCircuitState, observeProviderCall } from "../metrics/Metrics.ts"
import type { ProviderBackend } from "./ProviderBackend.ts"

export interface CircuitOptions {
  /** Consecutive provider-down failures that open a provider's circuit. */
  readonly failures: number
  /** How long an open circuit fails fast before it lets one probe through. */
  readonly openDuration: Duration.Input
}

export const DEFAULT_CIRCUIT: CircuitOptions = { failures: 5, openDuration: "30 seconds" }

export interface ProviderRouterOptions {
  readonly backends: ReadonlyArray<ProviderBackend>
  /** The local provider answers for a provider that has no platform key (the embedded default, STORAGE=memory). */
  readonly localStandsIn: boolean
  /** Overrides of the catalogue: the provider that serves a model (by the model name the provider is asked for). */
  readonly routes?: Readonly<Record<string, ProviderName>> | undefined
  /**
   * Overrides read at every call, winning over `routes` (the admin pricing data's routes); none
   * when absent.
   */
  readonly currentRoutes?: Effect.Effect<Readonly<Record<string, ProviderName>>> | undefined
  readonly circuit?: CircuitOptions | undefined
}

/** Who answers one call: the local renderer, a real backend, or nobody (not configured). */
export type Route =
  | { readonly _tag: "Local" }
  | { readonly _tag: "Backend"; readonly backend: ProviderBackend; readonly provider: ProviderName }
  | { readonly _tag: "NotConfigured"; readonly provider: ProviderName }

/**
 * Picks who answers `call`. A BYOK call goes to the provider its key was made for (the catalogue's),
 * never to an override: the payer's key is not sent to another provider.
 */
export const routeOf = (
  options: ProviderRouterOptions,
  call: Pick<ProviderCall, "provider" | "model" | "apiKey">,
  current: Readonly<Record<string, ProviderName>> = {}
): Route => {
  const provider = Option.isSome(call.apiKey)
    ? call.provider
    : (current[call.model] ?? options.routes?.[call.model] ?? call.provider)
  if (provider === "local") return { _tag: "Local" }
  const backend = options.backends.find((b) => b.name === provider)
  const hasPlatformKey = backend !== undefined && Option.isSome(backend.platformKey)
  if (!hasPlatformKey && options.localStandsIn) return { _tag: "Local" }
  if (backend !== undefined && (hasPlatformKey || Option.isSome(call.apiKey))) {
    return { _tag: "Backend", backend, provider }
  }
  return { _tag: "NotConfigured", provider }
}

/**
 * How a call's outcome counts on its provider's circuit: only failures that say the provider is
 * down count against it. A refusal of the request or of a key is an answer from a working
 * provider; a rejected credential or a missing key says nothing about its health.
 */
export const classifyOutcome = (exit: Exit.Exit<ProviderResult, ProviderError>): CircuitBreaker.Outcome => {
  if (Exit.isSuccess(exit)) return CircuitBreaker.success
  const error = Cause.findErrorOption(exit.cause)
  if (Option.isNone(error)) return CircuitBreaker.failure()
  switch (error.value._tag) {
    case "ProviderUnavailable":
    case "ProviderTimeout":
    case "ProviderMalformed":
      return CircuitBreaker.failure()
    case "ProviderRateLimited":
      return CircuitBreaker.failure(
        error.value.retryAfterSeconds === undefined ? undefined : { retryAfter: Duration.seconds(error.value.retryAfterSeconds) }
      )
    case "ProviderRejected":
      return error.value.reason === "credential" ? CircuitBreaker.ignored : CircuitBreaker.success
    case "ProviderNotConfigured":
      return CircuitBreaker.ignored
  }
}

/**
 * The router answers a little before the core's own deadline, so that a provider that does not
 * answer in time counts on its circuit (a call the core interrupts counts for nothing).
 */
const routerDeadlineMs = (timeoutMs: number) => Math.max(1, timeoutMs - Math.min(100, Math.floor(timeoutMs / 10)))

/** How long a key check may take (the BYOK endpoint bounds it too). */
const KEY_CHECK_TIMEOUT_MS = 15_000

const circuitKey = (provider: ProviderName) => `provider:${provider}`

/**
 * The `ImageProvider` over real backends: routes each call to the provider that serves its model,
 * guards every backend with its own circuit breaker (effect's `CircuitBreaker`, state in memory
 * per process) and lets the local renderer stand in where configuration says so.
 */
export const makeProviderRouter = Effect.fnUntraced(function*(options: ProviderRouterOptions) {
  const circuit = options.circuit ?? DEFAULT_CIRCUIT
  const breaker = yield* CircuitBreaker.make({
    tripPolicy: CircuitBreaker.consecutive(circuit.failures),
    openDuration: circuit.openDuration,
    // A provider's retry-after longer than the open duration keeps it open that long, within reason.
    maxOpenDuration: Duration.max(Duration.fromInputUnsafe(circuit.openDuration), Duration.minutes(5))
  })

  // The gauge follows the breaker's transitions. The store turns Open into HalfOpen only when the
  // next call arrives; the gauge says half-open as soon as the open time is over (a probe may pass).
  yield* Effect.forEach(options.backends, (b) => observeCircuitState(b.name, CIRCUIT_STATE.closed), { discard: true })
  const pending = new Map<string, Fiber.Fiber<void>>()
  yield* breaker.transitions.pipe(
    Stream.runForEach((t) =>
      Effect.gen(function*() {
        const provider = t.key.replace(/^provider:/, "")
        const previous = pending.get(provider)
        if (previous !== undefined) {
          pending.delete(provider)
          yield* Fiber.interrupt(previous)
        }
        if (t.to === "Open") {
          yield* observeCircuitState(provider, CIRCUIT_STATE.open)
          const waitMs = Math.max(Duration.toMillis(t.retryAfter), 0)
          const halfOpen = yield* Effect.forkDetach(
            Effect.sleep(Duration.millis(waitMs)).pipe(
              Effect.andThen(Effect.suspend(() => {
                pending.delete(provider)
                return observeCircuitState(provider, CIRCUIT_STATE.halfOpen)
              }))
            )
          )
          pending.set(provider, halfOpen)
        } else {
          yield* observeCircuitState(provider, t.to === "HalfOpen" ? CIRCUIT_STATE.halfOpen : CIRCUIT_STATE.closed)
        }
      })
    ),
    Effect.forkScoped({ startImmediately: true })
  )
  yield* Effect.addFinalizer(() => Effect.forEach([...pending.values()], Fiber.interrupt, { discard: true }))

  const guarded = (backend: ProviderBackend, provider: ProviderName, call: ProviderCall) => {
    const routed: ProviderCall = { ...call, provider }
    const deadline = routerDeadlineMs(call.timeoutMs)
    return backend.generate(routed).pipe(
      Effect.timeoutOrElse({
        duration: Duration.millis(deadline),
        orElse: () => Effect.fail(new ProviderTimeout({ provider, timeoutMs: call.timeoutMs }))
      }),
      Effect.onExit((exit) =>
        observeProviderCall(provider, Exit.isSuccess(exit) ? "success" : Option.match(Cause.findErrorOption(exit.cause), {
          onNone: () => "interrupted",
          onSome: (e) => e._tag
        }))
      ),
      breaker.execute({ key: circuitKey(provider), classify: classifyOutcome }),
      // An open circuit (or a half-open one whose probe is running) refuses the call without
      // reaching the provider. A failing store lets calls through unrecorded (the breaker's default).
      Effect.catchTag("CircuitBreakerError", () =>
        Effect.andThen(observeProviderCall(provider, "circuit_open"), Effect.fail(new ProviderUnavailable({ provider }))))
    )
  }

  const noRoutes = Effect.succeed<Readonly<Record<string, ProviderName>>>({})
  const currentRoutes = options.currentRoutes ?? noRoutes

  const routed = (call: ProviderCall, route: Route): Effect.Effect<ProviderResult, ProviderError> => {
    switch (route._tag) {
      case "Local":
        return generateLocally(call)
      case "NotConfigured":
        return Effect.fail(new ProviderNotConfigured({ provider: route.provider }))
      case "Backend":
        return guarded(route.backend, route.provider, call)
    }
  }

  // With a tracer on, each call gets a span naming who answered it (the backend's own span is its
  // child); decided once, so that off nothing is added to any call.
  const traced = yield* References.TracerEnabled
  const generate = (call: ProviderCall): Effect.Effect<ProviderResult, ProviderError> =>
    Effect.flatMap(currentRoutes, (current) => {
      const route = routeOf(options, call, current)
      return traced
        ? Effect.withSpan(routed(call, route), "ImageProvider.generate", {
          captureStackTrace: false,
          attributes: {
            "provider.name": route._tag === "Local" ? "local" : route.provider,
            "provider.model": call.model,
            "provider.n": call.n,
            "provider.byok": Option.isSome(call.apiKey),
            "provider.timeout_ms": call.timeoutMs
          }
        })
        : routed(call, route)
    })

  /**
   * A BYOK key is checked where a call with it would go: by its provider's backend, or not at all
   * where the local provider would answer it (the stand-in draws without any key).
   */
  const check = (provider: ProviderName, apiKey: Redacted.Redacted<string>): Effect.Effect<void, ProviderError> => {
    const route = routeOf(options, { provider, model: "", apiKey: Option.some(apiKey) })
    switch (route._tag) {
      case "Local":
        return Effect.void
      case "NotConfigured":
        return Effect.fail(new ProviderNotConfigured({ provider: route.provider }))
      case "Backend":
        return route.backend.check(apiKey, KEY_CHECK_TIMEOUT_MS)
    }
  }

  return {
    service: ImageProvider.of({ generate }),
    keyCheck: ProviderKeyCheck.of({ check }),
    /** A provider's circuit as the breaker's store holds it. */
    circuitState: (provider: ProviderName) =>
      breaker.state(circuitKey(provider)).pipe(Effect.orElseSucceed(() => ({ _tag: "Closed" as const, key: circuitKey(provider) })))
  }
})

/**
 * The router as the gateway's `ImageProvider` and `ProviderKeyCheck`, its circuits in this
 * process's memory. Each call reads the routes of the pricing catalog's current data, so a route
 * an admin sets applies from the next call.
 */
export const ProviderRouter = (
  options: ProviderRouterOptions
): Layer.Layer<ImageProvider | ProviderKeyCheck, never, PricingCatalog> =>
  Layer.effectContext(Effect.gen(function*() {
    const catalog = yield* PricingCatalog
    const router = yield* makeProviderRouter({
      ...options,
      currentRoutes: Effect.map(catalog.current, (pricing) => pricing.data.routes ?? {})
    })
    return Context.make(ImageProvider, router.service).pipe(Context.add(ProviderKeyCheck, router.keyCheck))
  })).pipe(Layer.provide(CircuitBreaker.layerStoreMemory()))
