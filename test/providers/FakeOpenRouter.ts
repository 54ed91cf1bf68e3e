import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { Socket } from "node:net"

/**
 * A fake OpenRouter on 127.0.0.1 that speaks its wire format: `POST /chat/completions` answers
 * like a chat completion with `message.images[]` as data URLs (or URLs it serves itself under
 * `/files/`), `GET /key` like the "current API key" endpoint, errors as
 * `{"error":{"code","message","metadata"?}}` with the same HTTP status. Each request takes the
 * next scripted reply for its route; with none scripted it succeeds.
 */

/** A 1×1 PNG. */
export const PNG_BASE64 =
  "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
export const PNG_BYTES = Uint8Array.from(Buffer.from(PNG_BASE64, "base64"))
export const pngDataUrl = `data:image/png;base64,${PNG_BASE64}`

export type Reply =
  /** 200 with one choice whose message carries these image URLs (default: one PNG data URL). */
  | {
    readonly kind: "images"
    readonly urls?: ReadonlyArray<string>
    readonly cost?: number
    readonly text?: string
  }
  /** Any status with an OpenRouter error body. */
  | {
    readonly kind: "error"
    readonly status: number
    readonly code?: number
    readonly message: string
    readonly metadata?: Record<string, unknown>
    readonly headers?: Record<string, string>
  }
  /** Any status and JSON body as given (a 2xx without images, no choices, …). */
  | { readonly kind: "json"; readonly status: number; readonly body: unknown }
  /** Any status and a body that is not JSON. */
  | { readonly kind: "raw"; readonly status: number; readonly text: string }
  /** Headers and a partial body, then the connection is cut. */
  | { readonly kind: "cutBody" }
  /** Never answers (until the server closes). */
  | { readonly kind: "hang" }
  /** Resets the connection before any response. */
  | { readonly kind: "reset" }

export type Route = "chat" | "key"

export interface RecordedRequest {
  readonly route: Route | "file" | "other"
  readonly method: string
  readonly path: string
  readonly authorization: string | undefined
  /** The parsed JSON body, or undefined when there was none. */
  readonly body: unknown
}

export interface FakeOpenRouter {
  /** `http://127.0.0.1:<port>/api/v1` */
  readonly baseUrl: string
  /** URL of a PNG the server serves itself (a provider's plain image URL). */
  readonly fileUrl: (name: string) => string
  /** Queues replies for a route, taken one per request in order. */
  readonly script: (route: Route, ...replies: ReadonlyArray<Reply>) => void
  readonly requests: Array<RecordedRequest>
  readonly requestsTo: (route: Route) => ReadonlyArray<RecordedRequest>
  /** Forgets scripts and recorded requests. */
  readonly reset: () => void
  readonly close: () => Promise<void>
}

const readBody = (req: IncomingMessage): Promise<string> =>
  new Promise((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
    req.on("error", reject)
  })

const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers })
  res.end(text)
}

const completion = (model: unknown, reply: Extract<Reply, { kind: "images" }>) => ({
  id: `gen-${Math.random().toString(36).slice(2)}`,
  object: "chat.completion",
  created: Math.floor(Date.now() / 1000),
  model,
  choices: [{
    index: 0,
    finish_reason: "stop",
    message: {
      role: "assistant",
      content: reply.text ?? "Here is your image.",
      images: (reply.urls ?? [pngDataUrl]).map((url) => ({ type: "image_url", image_url: { url } }))
    }
  }],
  usage: {
    prompt_tokens: 10,
    completion_tokens: 1290,
    total_tokens: 1300,
    ...(reply.cost === undefined ? {} : { cost: reply.cost })
  }
})

const keyInfo = {
  data: { label: "sk-or-v1-abc...xyz", limit: null, usage: 0, is_free_tier: false, limit_remaining: null }
}

export const startFakeOpenRouter = async (): Promise<FakeOpenRouter> => {
  const queues: Record<Route, Array<Reply>> = { chat: [], key: [] }
  const requests: Array<RecordedRequest> = []
  const sockets = new Set<Socket>()

  const answer = (route: Route, req: IncomingMessage, res: ServerResponse, body: unknown, reply: Reply) => {
    switch (reply.kind) {
      case "images":
        return route === "key"
          ? sendJson(res, 200, keyInfo)
          : sendJson(res, 200, completion((body as { model?: unknown } | undefined)?.model, reply))
      case "error":
        return sendJson(
          res,
          reply.status,
          {
            error: {
              code: reply.code ?? reply.status,
              message: reply.message,
              ...(reply.metadata === undefined ? {} : { metadata: reply.metadata })
            }
          },
          reply.headers
        )
      case "json":
        return sendJson(res, reply.status, reply.body)
      case "raw":
        res.writeHead(reply.status, { "content-type": "application/json" })
        return res.end(reply.text)
      case "cutBody":
        res.writeHead(200, { "content-type": "application/json", "content-length": "100000" })
        res.write(`{"id":"gen-1","choices":[{"message":{"images":[{"image_url":{"url":"data:image/png;base64,`)
        return setTimeout(() => req.socket.destroy(), 20)
      case "hang":
        return
      case "reset":
        return req.socket.resetAndDestroy()
    }
  }

  const server = createServer((req, res) => {
    void readBody(req).then((text) => {
      const url = new URL(req.url ?? "/", "http://127.0.0.1")
      const path = url.pathname
      const route: RecordedRequest["route"] = req.method === "POST" && path === "/api/v1/chat/completions"
        ? "chat"
        : req.method === "GET" && path === "/api/v1/key"
        ? "key"
        : req.method === "GET" && path.startsWith("/files/")
        ? "file"
        : "other"
      let body: unknown = undefined
      if (text.length > 0) {
        try {
          body = JSON.parse(text)
        } catch {
          body = text
        }
      }
      requests.push({ route, method: req.method ?? "", path, authorization: req.headers.authorization, body })
      if (route === "file") {
        res.writeHead(200, { "content-type": "image/png", "content-length": PNG_BYTES.length })
        return res.end(PNG_BYTES)
      }
      if (route === "other") {
        return sendJson(res, 404, { error: { code: 404, message: "Not Found" } })
      }
      answer(route, req, res, body, queues[route].shift() ?? { kind: "images" })
    }, () => req.socket.destroy())
  })
  server.on("connection", (socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject)
    server.listen(0, "127.0.0.1", () => resolve())
  })
  const address = server.address()
  if (address === null || typeof address === "string") throw new Error("fake OpenRouter has no TCP address")
  const origin = `http://127.0.0.1:${address.port}`

  return {
    baseUrl: `${origin}/api/v1`,
    fileUrl: (name) => `${origin}/files/${name}`,
    script: (route, ...replies) => void queues[route].push(...replies),
    requests,
    requestsTo: (route) => requests.filter((r) => r.route === route),
    reset: () => {
      queues.chat.length = 0
      queues.key.length = 0
      requests.length = 0
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}
