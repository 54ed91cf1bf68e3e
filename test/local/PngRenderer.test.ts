import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { crc32, inflateSync } from "node:zlib"
import { pngDimensions, renderPng } from "../../src/adapters/local/PngRenderer.ts"

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]

const u32 = (b: Uint8Array, at: number): number => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(at)

interface Chunk {
  readonly type: string
  readonly data: Uint8Array
}

/** Splits a PNG into chunks, asserting the signature and every chunk's CRC. */
const chunksOf = (png: Uint8Array): Chunk[] => {
  expect([...png.subarray(0, 8)]).toEqual(SIGNATURE)
  const chunks: Chunk[] = []
  let at = 8
  while (at < png.length) {
    const length = u32(png, at)
    const typeAndData = png.subarray(at + 4, at + 8 + length)
    expect(crc32(typeAndData)).toBe(u32(png, at + 8 + length))
    chunks.push({ type: String.fromCharCode(...typeAndData.subarray(0, 4)), data: typeAndData.subarray(4) })
    at += 12 + length
  }
  expect(at).toBe(png.length)
  return chunks
}

interface Decoded {
  readonly width: number
  readonly height: number
  readonly palette: Uint8Array
  readonly rows: Uint8Array // palette indices, filter bytes stripped
}

/** Fully decodes the renderer's output (8-bit indexed, unfiltered), asserting its structure. */
const decode = (png: Uint8Array): Decoded => {
  const chunks = chunksOf(png)
  expect(chunks.map((c) => c.type)).toEqual(["IHDR", "PLTE", "IDAT", "IEND"])
  const [ihdr, plte] = chunks
  if (ihdr === undefined || plte === undefined) throw new Error("missing chunks")
  expect(ihdr.data.length).toBe(13)
  const width = u32(ihdr.data, 0)
  const height = u32(ihdr.data, 4)
  expect([...ihdr.data.subarray(8)]).toEqual([8, 3, 0, 0, 0]) // depth 8, indexed, no interlace
  expect(plte.data.length % 3).toBe(0)
  const paletteSize = plte.data.length / 3
  expect(paletteSize).toBeGreaterThan(0)
  expect(paletteSize).toBeLessThanOrEqual(256)

  const idat = Buffer.concat(chunks.filter((c) => c.type === "IDAT").map((c) => c.data))
  const raw = inflateSync(idat)
  expect(raw.length).toBe(height * (width + 1))
  const rows = new Uint8Array(width * height)
  let badFilters = 0
  let maxIndex = 0
  for (let y = 0; y < height; y++) {
    const start = y * (width + 1)
    if (raw[start] !== 0) badFilters++
    const row = raw.subarray(start + 1, start + 1 + width)
    for (const index of row) if (index > maxIndex) maxIndex = index
    rows.set(row, y * width)
  }
  expect(badFilters).toBe(0)
  expect(maxIndex).toBeLessThan(paletteSize)
  return { width, height, palette: plte.data, rows }
}

/** The image as RGB triples, so comparisons ignore how the palette happens to be laid out. */
const toRgb = ({ palette, rows }: Decoded): Uint8Array => {
  const rgb = new Uint8Array(rows.length * 3)
  rows.forEach((index, i) => rgb.set(palette.subarray(3 * index, 3 * index + 3), 3 * i))
  return rgb
}

const prompt = fc.oneof(fc.string({ maxLength: 80 }), fc.string({ unit: "binary", maxLength: 80 }))
const seed = fc.integer()

describe("renderPng", () => {
  it.each([
    [256, 256],
    [512, 512],
    [1024, 1024],
    [1792, 1024],
    [1024, 1792],
    [1536, 1024]
  ])("renders a PNG of exactly the requested size (%ix%i)", (width, height) => {
    const png = renderPng({ prompt: "a lighthouse at dusk, oil painting", width, height, seed: 42 })
    expect(pngDimensions(png)).toEqual({ width, height })
    const decoded = decode(png)
    expect(decoded.width).toBe(width)
    expect(decoded.height).toBe(height)
  })

  it("renders the smallest and largest allowed sizes", () => {
    expect(decode(renderPng({ prompt: "", width: 1, height: 1, seed: 0 }))).toMatchObject({ width: 1, height: 1 })
    expect(decode(renderPng({ prompt: "tall", width: 1, height: 4096, seed: 1 }))).toMatchObject({ width: 1, height: 4096 })
    expect(decode(renderPng({ prompt: "wide", width: 4096, height: 1, seed: 2 }))).toMatchObject({ width: 4096, height: 1 })
  })

  it("draws a picture rather than noise: few colours, long runs, small file", () => {
    const png = renderPng({ prompt: "a red fox in the snow", width: 1024, height: 1024, seed: 7 })
    const { rows, width } = decode(png)
    expect(new Set(rows).size).toBeGreaterThan(10) // a gradient plus shapes, not a flat fill
    let changes = 0
    for (let i = 1; i < rows.length; i++) if (i % width !== 0 && rows[i] !== rows[i - 1]) changes++
    expect(changes / rows.length).toBeLessThan(0.5) // noise would change at nearly every pixel
    expect(png.length).toBeLessThan(200_000)
  })

  it("is deterministic in prompt, size and seed", () => {
    fc.assert(
      fc.property(prompt, fc.integer({ min: 1, max: 64 }), fc.integer({ min: 1, max: 64 }), seed, (p, width, height, s) => {
        const a = renderPng({ prompt: p, width, height, seed: s })
        const b = renderPng({ prompt: p, width, height, seed: s })
        expect(b).toEqual(a)
        expect(pngDimensions(a)).toEqual({ width, height })
        decode(a)
      }),
      { numRuns: 50 }
    )
  })

  it("different prompts or seeds give different images", () => {
    fc.assert(
      fc.property(
        prompt,
        seed,
        prompt,
        seed,
        fc.integer({ min: 8, max: 64 }),
        fc.integer({ min: 8, max: 64 }),
        (p1, s1, p2, s2, width, height) => {
          fc.pre(p1 !== p2 || s1 !== s2)
          const a = renderPng({ prompt: p1, width, height, seed: s1 })
          const b = renderPng({ prompt: p2, width, height, seed: s2 })
          expect(b).not.toEqual(a)
          expect(toRgb(decode(b))).not.toEqual(toRgb(decode(a)))
        }
      ),
      { numRuns: 50 }
    )
  })

  it("changes the image when only the seed changes", () => {
    const a = renderPng({ prompt: "same prompt", width: 64, height: 64, seed: 1 })
    const b = renderPng({ prompt: "same prompt", width: 64, height: 64, seed: 2 })
    expect(toRgb(decode(b))).not.toEqual(toRgb(decode(a)))
  })

  it("rejects sizes out of range with RangeError", () => {
    for (const bad of [0, -1, 4097, 1.5, Number.NaN, Number.POSITIVE_INFINITY]) {
      expect(() => renderPng({ prompt: "x", width: bad, height: 64, seed: 0 })).toThrow(RangeError)
      expect(() => renderPng({ prompt: "x", width: 64, height: bad, seed: 0 })).toThrow(RangeError)
    }
  })
})

describe("pngDimensions", () => {
  it("throws on input that is not a PNG", () => {
    const png = renderPng({ prompt: "x", width: 32, height: 16, seed: 3 })
    expect(() => pngDimensions(new Uint8Array(0))).toThrow()
    expect(() => pngDimensions(new TextEncoder().encode("GIF89a, definitely not a PNG file at all"))).toThrow()
    expect(() => pngDimensions(png.subarray(0, 20))).toThrow()
    const corrupted = png.slice()
    corrupted[17] = (corrupted[17] ?? 0) ^ 0xff // width byte changed, CRC now wrong
    expect(() => pngDimensions(corrupted)).toThrow()
  })
})
