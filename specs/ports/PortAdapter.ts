import { it } from "@effect/vitest"
import { type Context, Effect, type Layer } from "effect"

/**
 * One adapter of a port, for that port's spec suite: `fresh()` gives an empty store for one
 * test. An `AdapterSet` is one (its layer provides every port); so is a single adapter such
 * as the disk image store.
 */
export interface PortAdapter<P> {
  readonly name: string
  readonly fresh: () => Layer.Layer<P>
}

/** A suite's `test(name, body)`: each test runs `body` on the port of a fresh adapter. */
export const portTest = <I, S>(port: Context.Key<I, S>, adapter: PortAdapter<I>) =>
<E>(name: string, body: (service: S) => Effect.Effect<void, E>) =>
  it.effect(name, () => Effect.provide(Effect.flatMap(Effect.service(port), body), adapter.fresh()))
