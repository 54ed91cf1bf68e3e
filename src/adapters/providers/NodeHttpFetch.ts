import { Buffer } from "node:buffer"
import * as http from "node:http"
import * as https from "node:https"
import * as zlib from "node:zlib"

/**
 * A `fetch` for the provider SDKs on node:http with keep-alive agents.
 *
 * Node's global `fetch` (undici) spends several hundred microseconds of CPU per call on WHATWG
 * streams, header lists and request objects; an API call to a provider is a small JSON request
 * and a JSON answer, which node:http sends and reads for a fraction of that. The official SDK
 * takes a `fetch` option for exactly this, so the gateway keeps the SDK and changes only its
 * transport. What it does:
 * - bodies of a string, bytes or `URLSearchParams` go over a pooled keep-alive connection;
 *   any other body (a stream, `FormData`, a `Blob`) and a `Request` input go to the global
 *   `fetch`, so every call the SDK can make still works;
 * - the whole answer is read (up to `maxResponseBytes`, gzip / deflate / br decoded) before the
 *   `Response` resolves, so the caller's timeout covers the body as well as the headers;
 * - redirects are not followed (`redirect: "manual"` behaviour): a provider's API does not
 *   redirect, and following one would send the provider's key to wherever it pointed. The 3xx
 *   is returned as it is and the SDK reports it as a failed call;
 * - failures reject as the global `fetch` does: the signal's reason when aborted, otherwise a
 *   `TypeError("fetch failed")` whose `cause` is the socket's error (with its `code`, e.g.
 *   `ECONNREFUSED`, `ECONNRESET`), so the backends classify both transports alike;
 * - a connection silent for `idleTimeoutMs` is closed (the caller's deadline is usually shorter);
 * - besides `init.signal`, a second signal under the `INTERRUPT` key of `init` aborts the call.
 *   The SDK passes its `fetchOptions` through to `fetch` as they are, so a backend hands it the
 *   interruption of its call that way: given as `signal`, the SDK would compose it with its own
 *   timeout signal (`AbortSignal.any`) on every call, at more CPU than the rest of the request.
 */
export interface NodeHttpFetchOptions {
  /** An answer larger than this (decoded) fails the call instead of being buffered. Default 64 MiB. */
  readonly maxResponseBytes?: number | undefined
  /** A socket with no traffic for this long fails the call. Default 300 s (undici's own). */
  readonly idleTimeoutMs?: number | undefined
  /** Connections per origin. Default 256. */
  readonly maxSockets?: number | undefined
}

export interface NodeHttpFetch {
  readonly fetch: typeof globalThis.fetch
  /** Closes the idle pooled connections (the agents keep working afterwards). */
  readonly close: () => void
}

export const DEFAULT_MAX_RESPONSE_BYTES = 64 * 1024 * 1024

/** The key of a second `AbortSignal` in a `RequestInit` (see above). */
export const INTERRUPT: unique symbol = Symbol.for("image-gateway/NodeHttpFetch/interrupt")

/** Fetch options that carry `interrupt` as the second signal. */
export const interruptOption = (interrupt: AbortSignal): { readonly [INTERRUPT]: AbortSignal } => ({ [INTERRUPT]: interrupt })

/** Statuses whose answers have no body (a `Response` refuses one). */
const NULL_BODY_STATUS = new Set([101, 103, 204, 205, 304])

type PlainBody = string | Uint8Array

/** The body as bytes or text when node:http can send it as it is; `undefined` when it cannot. */
const plainBody = (body: unknown): { readonly body: PlainBody | null; readonly type?: string } | undefined => {
  if (body === undefined || body === null) return { body: null }
  if (typeof body === "string") return { body }
  if (body instanceof Uint8Array) return { body }
  if (body instanceof ArrayBuffer) return { body: new Uint8Array(body) }
  if (ArrayBuffer.isView(body)) return { body: new Uint8Array(body.buffer, body.byteOffset, body.byteLength) }
  if (body instanceof URLSearchParams) return { body: body.toString(), type: "application/x-www-form-urlencoded;charset=UTF-8" }
  return undefined
}

/** Request headers as node:http takes them: lower-case names, repeated values joined. */
const plainHeaders = (init: HeadersInit | undefined): Record<string, string> => {
  const out: Record<string, string> = {}
  const add = (name: string, value: string) => {
    const key = name.toLowerCase()
    out[key] = out[key] === undefined ? value : `${out[key]}, ${value}`
  }
  if (init === undefined) return out
  if (init instanceof Headers) {
    init.forEach((value, name) => add(name, value))
  } else if (Array.isArray(init)) {
    for (const [name, value] of init) add(String(name), String(value))
  } else {
    for (const [name, value] of Object.entries(init)) if (value !== undefined) add(name, String(value))
  }
  return out
}

const abortReason = (signal: AbortSignal): unknown =>
  signal.reason ?? new DOMException("This operation was aborted", "AbortError")

const fetchFailed = (cause: unknown) => new TypeError("fetch failed", { cause })

class ResponseTooLarge extends Error {
  readonly code = "RESPONSE_TOO_LARGE"
  constructor(limit: number) {
    super(`the answer is larger than ${limit} bytes`)
  }
}

const decoders: Record<string, (input: Buffer, options: zlib.ZlibOptions, done: (error: Error | null, out: Buffer) => void) => void> = {
  gzip: zlib.gunzip,
  "x-gzip": zlib.gunzip,
  deflate: zlib.inflate,
  br: zlib.brotliDecompress
}

/** Decodes a `content-encoding` the answer was sent with; `identity` (and none) as it is. */
const decode = (encoding: string | undefined, body: Buffer, limit: number): Promise<Buffer> => {
  const codings = (encoding ?? "").split(",").map((c) => c.trim().toLowerCase()).filter((c) => c !== "" && c !== "identity")
  return codings.reduceRight<Promise<Buffer>>((previous, coding) =>
    previous.then((input) =>
      new Promise((resolve, reject) => {
        const decoder = decoders[coding]
        if (decoder === undefined) return reject(new Error(`unsupported content-encoding ${coding}`))
        decoder(input, { maxOutputLength: limit }, (error, out) =>
          error === null
            ? resolve(out)
            : reject((error as { code?: unknown }).code === "ERR_BUFFER_TOO_LARGE" ? new ResponseTooLarge(limit) : error))
      })
    ), Promise.resolve(body))
}

export const makeNodeHttpFetch = (options: NodeHttpFetchOptions = {}): NodeHttpFetch => {
  const limit = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES
  const idleTimeoutMs = options.idleTimeoutMs ?? 300_000
  const agentOptions = { keepAlive: true, maxSockets: options.maxSockets ?? 256, maxFreeSockets: 64, scheduling: "lifo" as const }
  const httpAgent = new http.Agent(agentOptions)
  const httpsAgent = new https.Agent(agentOptions)

  const viaNodeHttp = (url: URL, init: RequestInit, body: PlainBody | null, bodyType: string | undefined) =>
    new Promise<Response>((resolve, reject) => {
      const signal = init.signal ?? undefined
      const interrupt = (init as { readonly [INTERRUPT]?: AbortSignal })[INTERRUPT]
      if (signal?.aborted) return reject(abortReason(signal))
      if (interrupt?.aborted) return reject(abortReason(interrupt))
      const method = (init.method ?? "GET").toUpperCase()
      const headers = plainHeaders(init.headers)
      if (bodyType !== undefined && headers["content-type"] === undefined) headers["content-type"] = bodyType
      if (body !== null) headers["content-length"] = String(typeof body === "string" ? Buffer.byteLength(body) : body.byteLength)
      else if (method === "POST" || method === "PUT" || method === "PATCH") headers["content-length"] = "0"

      let settled = false
      const finish = (outcome: () => void) => {
        if (settled) return
        settled = true
        signal?.removeEventListener("abort", onAbort)
        interrupt?.removeEventListener("abort", onAbort)
        outcome()
      }
      const onAbort = () => {
        finish(() => reject(abortReason(signal?.aborted ? signal : interrupt!)))
        request.destroy()
      }
      const isHttps = url.protocol === "https:"
      const request = (isHttps ? https : http).request(url, {
        method,
        headers,
        agent: isHttps ? httpsAgent : httpAgent,
        timeout: idleTimeoutMs
      }, (response) => {
        const status = response.statusCode ?? 0
        const chunks: Array<Buffer> = []
        let total = 0
        response.on("data", (chunk: Buffer) => {
          total += chunk.length
          if (total > limit) {
            finish(() => reject(fetchFailed(new ResponseTooLarge(limit))))
            response.destroy()
            return
          }
          chunks.push(chunk)
        })
        response.on("error", (error) => finish(() => reject(fetchFailed(error))))
        response.on("aborted", () => finish(() => reject(fetchFailed(Object.assign(new Error("the connection closed before the answer ended"), { code: "ECONNRESET" })))))
        response.on("end", () => {
          if (settled) return
          const responseHeaders = new Headers()
          const raw = response.rawHeaders
          for (let i = 0; i + 1 < raw.length; i += 2) responseHeaders.append(raw[i]!, raw[i + 1]!)
          const bytes = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, total)
          decode(response.headers["content-encoding"], bytes, limit).then(
            (decoded) =>
              finish(() => {
                const hasBody = !NULL_BODY_STATUS.has(status) && method !== "HEAD"
                const answer = new Response(hasBody ? (decoded as Uint8Array<ArrayBuffer>) : null, {
                  status,
                  statusText: response.statusMessage ?? "",
                  headers: responseHeaders
                })
                Object.defineProperty(answer, "url", { value: url.href })
                resolve(answer)
              }),
            (error: unknown) => finish(() => reject(fetchFailed(error)))
          )
        })
      })
      request.on("timeout", () => request.destroy(Object.assign(new Error(`no traffic for ${idleTimeoutMs} ms`), { code: "ETIMEDOUT" })))
      request.on("error", (error) => finish(() => reject(fetchFailed(error))))
      signal?.addEventListener("abort", onAbort, { once: true })
      interrupt?.addEventListener("abort", onAbort, { once: true })
      request.end(body ?? undefined)
    })

  const fetch = ((input: string | URL | Request, init: RequestInit = {}): Promise<Response> => {
    if (typeof input !== "string" && !(input instanceof URL)) return globalThis.fetch(input, init)
    let url: URL
    try {
      url = new URL(input)
    } catch (error) {
      return Promise.reject(new TypeError("Invalid URL", { cause: error }))
    }
    const plain = plainBody(init.body)
    if (plain === undefined || (url.protocol !== "http:" && url.protocol !== "https:")) return globalThis.fetch(input, init)
    return viaNodeHttp(url, init, plain.body, plain.type)
  }) as typeof globalThis.fetch

  return {
    fetch,
    close: () => {
      httpAgent.destroy()
      httpsAgent.destroy()
    }
  }
}

/** The process's provider transport: one pool of connections per origin, shared by every backend. */
export const providerFetch: typeof globalThis.fetch = makeNodeHttpFetch().fetch
