import { Effect } from "effect"
import * as fc from "fast-check"
import { describe, expect, it } from "vitest"
import { ImageEncoding } from "../../src/application/ImageEncoding.ts"
import { NodeImageEncoding } from "../../src/Layers.ts"

const encoderOf = (layer: typeof ImageEncoding.portable) => Effect.runSync(Effect.provide(ImageEncoding.use(Effect.succeed), layer))

describe("ImageEncoding", () => {
  const portable = encoderOf(ImageEncoding.portable)
  const node = encoderOf(NodeImageEncoding)

  it("the portable encoder is standard padded Base64", () => {
    expect(portable.base64(new TextEncoder().encode("Man"))).toBe("TWFu")
    expect(portable.base64(new TextEncoder().encode("Ma"))).toBe("TWE=")
    expect(portable.base64(new TextEncoder().encode("M"))).toBe("TQ==")
    expect(portable.base64(new Uint8Array([0xfb, 0xff]))).toBe("+/8=")
  })

  it("Node's encoder gives the portable encoder's output, for any bytes and any view into a larger buffer", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 4096 }), fc.nat(64), fc.nat(64), (bytes, head, tail) => {
        // A view that does not start at offset 0 of its buffer, as a provider's slice may be.
        const backing = new Uint8Array(head + bytes.length + tail).fill(0xaa)
        backing.set(bytes, head)
        const view = backing.subarray(head, head + bytes.length)
        expect(node.base64(view)).toBe(portable.base64(bytes))
      }),
      { numRuns: 1_000 }
    )
  })
})
