import type { Layer } from "effect"

/**
 * One adapter of a port, for that port's spec suite: `fresh()` gives an empty store for one
 * test. An `AdapterSet` is one (its layer provides every port); so is a single adapter such
 * as the disk image store.
 */
export interface PortAdapter<P> {
  readonly name: string
  readonly fresh: () => Layer.Layer<P>
}
