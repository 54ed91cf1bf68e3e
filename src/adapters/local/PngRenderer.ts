import { crc32, deflateSync } from "node:zlib"

/**
 * Deterministic stand-in images for the "local" provider, used when no upstream provider key is
 * configured: a pure function of (prompt, width, height, seed) with no network and no randomness,
 * so tests and offline demos get stable, real-looking PNGs (a gradient plus a few shapes).
 * Output is an indexed-colour PNG (one byte per pixel) built row by row with span fills.
 */

export interface RenderInput {
  readonly prompt: string
  readonly width: number
  readonly height: number
  readonly seed: number
}

export const MAX_DIMENSION = 4096

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a)
const GRADIENT_LEVELS = 240
const MAX_SHAPES = 7

type Rgb = readonly [number, number, number]

interface Shape {
  readonly kind: "circle" | "rect"
  readonly cx: number
  readonly cy: number
  readonly rx: number // radius, or half-width for a rectangle
  readonly ry: number // half-height for a rectangle
  readonly colour: number // palette index
}

const checkDimension = (name: string, n: number): void => {
  if (!Number.isInteger(n) || n < 1 || n > MAX_DIMENSION) {
    throw new RangeError(`${name} must be an integer in 1..${MAX_DIMENSION}, got ${n}`)
  }
}

/** 32-bit FNV-1a over the prompt's UTF-8 bytes followed by the seed's float64 bytes. */
const hashInput = (prompt: string, seed: number): number => {
  let h = 0x811c9dc5
  for (const b of new TextEncoder().encode(prompt)) h = Math.imul(h ^ b, 0x01000193)
  const seedBytes = new Uint8Array(new Float64Array([Number.isNaN(seed) ? NaN : seed + 0]).buffer)
  for (const b of seedBytes) h = Math.imul(h ^ b, 0x01000193)
  return h >>> 0
}

const mulberry32 = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), a | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const hsl = (hue: number, sat: number, light: number): Rgb => {
  const h = ((hue % 360) + 360) % 360
  const c = (1 - Math.abs(2 * light - 1)) * sat
  const x = c * (1 - Math.abs(((h / 60) % 2) - 1))
  const m = light - c / 2
  const [r, g, b] =
    h < 60 ? [c, x, 0] : h < 120 ? [x, c, 0] : h < 180 ? [0, c, x] : h < 240 ? [0, x, c] : h < 300 ? [x, 0, c] : [c, 0, x]
  const to8 = (v: number): number => Math.round((v + m) * 255)
  return [to8(r), to8(g), to8(b)]
}

const writeU32 = (out: Uint8Array, at: number, v: number): void => {
  out[at] = v >>> 24
  out[at + 1] = (v >>> 16) & 0xff
  out[at + 2] = (v >>> 8) & 0xff
  out[at + 3] = v & 0xff
}

const readU32 = (buf: Uint8Array, at: number): number =>
  (((buf[at] ?? 0) << 24) | ((buf[at + 1] ?? 0) << 16) | ((buf[at + 2] ?? 0) << 8) | (buf[at + 3] ?? 0)) >>> 0

const ascii = (s: string): Uint8Array => Uint8Array.from(s, (ch) => ch.charCodeAt(0))

/** Writes one chunk (length, type, data, CRC over type+data) at `at`; returns the next offset. */
const writeChunk = (out: Uint8Array, at: number, type: string, data: Uint8Array): number => {
  const typeBytes = ascii(type)
  writeU32(out, at, data.length)
  out.set(typeBytes, at + 4)
  out.set(data, at + 8)
  writeU32(out, at + 8 + data.length, crc32(data, crc32(typeBytes)))
  return at + 12 + data.length
}

export const renderPng = (input: RenderInput): Uint8Array => {
  const { prompt, width, height, seed } = input
  checkDimension("width", width)
  checkDimension("height", height)
  const rand = mulberry32(hashInput(prompt, seed))

  // Palette: a two-colour gradient (indices 0..GRADIENT_LEVELS-1), then one colour per shape.
  const hue = rand() * 360
  const from = hsl(hue, 0.45 + rand() * 0.4, 0.15 + rand() * 0.2)
  const to = hsl(hue + 30 + rand() * 90, 0.4 + rand() * 0.5, 0.6 + rand() * 0.25)
  const shapeCount = 3 + Math.floor(rand() * (MAX_SHAPES - 2))
  const plte = new Uint8Array(3 * (GRADIENT_LEVELS + shapeCount))
  for (let i = 0; i < GRADIENT_LEVELS; i++) {
    const t = i / (GRADIENT_LEVELS - 1)
    plte[3 * i] = Math.round(from[0] + (to[0] - from[0]) * t)
    plte[3 * i + 1] = Math.round(from[1] + (to[1] - from[1]) * t)
    plte[3 * i + 2] = Math.round(from[2] + (to[2] - from[2]) * t)
  }

  const unit = Math.min(width, height)
  const shapes: Shape[] = []
  for (let s = 0; s < shapeCount; s++) {
    const [r, g, b] = hsl(hue + 150 + rand() * 120, 0.5 + rand() * 0.45, 0.35 + rand() * 0.45)
    const colour = GRADIENT_LEVELS + s
    plte[3 * colour] = r
    plte[3 * colour + 1] = g
    plte[3 * colour + 2] = b
    const kind = rand() < 0.55 ? "circle" : "rect"
    const cx = rand() * width
    const cy = rand() * height
    const rx = unit * (0.05 + rand() * 0.25)
    const ry = kind === "circle" ? rx : unit * (0.05 + rand() * 0.25)
    shapes.push({ kind, cx, cy, rx, ry, colour })
  }

  // Gradient along direction (dx, dy) ∈ {0,1}²∖{(0,0)}: level depends on x*dx + y*dy only,
  // so every row is a slice of (or a fill from) one precomputed ramp.
  const dir = Math.floor(rand() * 3)
  const dx = dir === 1 ? 0 : 1
  const dy = dir === 0 ? 0 : 1
  const span = Math.max(1, (width - 1) * dx + (height - 1) * dy)
  const ramp = new Uint8Array((width - 1) * dx + (height - 1) * dy + 1)
  const flip = rand() < 0.5
  for (let i = 0; i < ramp.length; i++) {
    const level = Math.min(GRADIENT_LEVELS - 1, Math.floor((i / span) * GRADIENT_LEVELS))
    ramp[i] = flip ? GRADIENT_LEVELS - 1 - level : level
  }

  const stride = width + 1
  const raw = new Uint8Array(stride * height) // filter byte 0 (None) leads each row
  for (let y = 0; y < height; y++) {
    const rowStart = y * stride + 1
    if (dx === 1) raw.set(ramp.subarray(y * dy, y * dy + width), rowStart)
    else raw.fill(ramp[y] ?? 0, rowStart, rowStart + width)
    const py = y + 0.5
    for (const shape of shapes) {
      let half: number
      if (shape.kind === "circle") {
        const d = py - shape.cy
        if (d <= -shape.rx || d >= shape.rx) continue
        half = Math.sqrt(shape.rx * shape.rx - d * d)
      } else {
        if (py < shape.cy - shape.ry || py >= shape.cy + shape.ry) continue
        half = shape.rx
      }
      // Pixel x is covered when its centre x+0.5 lies in [cx-half, cx+half).
      const x0 = Math.max(0, Math.ceil(shape.cx - half - 0.5))
      const x1 = Math.min(width, Math.ceil(shape.cx + half - 0.5))
      if (x1 > x0) raw.fill(shape.colour, rowStart + x0, rowStart + x1)
    }
  }

  const ihdr = new Uint8Array(13)
  writeU32(ihdr, 0, width)
  writeU32(ihdr, 4, height)
  ihdr[8] = 8 // bit depth
  ihdr[9] = 3 // colour type: indexed
  // compression, filter and interlace methods all 0
  const idat = deflateSync(raw, { level: 6 })

  const out = new Uint8Array(SIGNATURE.length + 4 * 12 + ihdr.length + plte.length + idat.length)
  out.set(SIGNATURE, 0)
  let at = SIGNATURE.length
  at = writeChunk(out, at, "IHDR", ihdr)
  at = writeChunk(out, at, "PLTE", plte)
  at = writeChunk(out, at, "IDAT", idat)
  writeChunk(out, at, "IEND", new Uint8Array(0))
  return out
}

export const pngDimensions = (png: Uint8Array): { readonly width: number; readonly height: number } => {
  const isPng =
    png.length >= SIGNATURE.length + 25 &&
    SIGNATURE.every((b, i) => png[i] === b) &&
    readU32(png, 8) === 13 &&
    String.fromCharCode(...png.subarray(12, 16)) === "IHDR"
  if (!isPng) throw new Error("not a PNG: missing signature or IHDR chunk")
  if (crc32(png.subarray(12, 29)) !== readU32(png, 29)) throw new Error("not a PNG: bad IHDR CRC")
  const width = readU32(png, 16)
  const height = readU32(png, 20)
  if (width === 0 || height === 0) throw new Error("not a PNG: zero dimension")
  return { width, height }
}
