import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { renderPng } from "../../src/adapters/local/PngRenderer.ts"

/**
 * A fake OpenAI API on 127.0.0.1 that speaks the Images API wire format (`POST /images/generations`,
 * `GET /models`, errors as `{"error":{"message","type","param","code"}}`). Each image request takes
 * the next scripted answer (a base64 answer with `n` images once the script runs out), and every
 * request's Authorization header and body are recorded.
 */
export type FakeAnswer =
  | { readonly kind: "b64" }
  | { readonly kind: "url"; readonly serve?: "png" | "html" | "missing" | "oversized" | "hang" }
  | { readonly kind: "content_policy" }
  | { readonly kind: "invalid" }
  | { readonly kind: "unauthorized" }
  | { readonly kind: "rate_limited"; readonly retryAfter?: string; readonly retryAfterMs?: string }
  | { readonly kind: "server_error" }
  | { readonly kind: "hang" }
  | { readonly kind: "malformed" }
  | { readonly kind: "empty" }
  | { readonly kind: "reset" }

export interface RecordedRequest {
  readonly method: string
  readonly path: string
  readonly authorization: string | undefined
  readonly body: unknown
}

export interface FakeOpenAI {
  /** The base URL to give the SDK (`…/v1`). */
  readonly baseUrl: string
  readonly requests: Array<RecordedRequest>
  /** Requests to `/images/generations` only. */
  readonly imageRequests: () => ReadonlyArray<RecordedRequest>
  /** Requests for served image files. */
  readonly fileRequests: () => ReadonlyArray<RecordedRequest>
  readonly script: (...answers: ReadonlyArray<FakeAnswer>) => void
  /** Keys `GET /models` accepts (others get 401). */
  readonly acceptKeys: Set<string>
  /** Requests left unanswered on purpose whose connection the client has since closed (aborted). */
  readonly abandoned: () => number
  readonly close: () => Promise<void>
}

/** The PNG every successful answer carries. */
export const FAKE_PNG = renderPng({ prompt: "fake openai", width: 16, height: 16, seed: 7 })

const maskKey = (key: string) => key.length > 12 ? `${key.slice(0, 8)}${"*".repeat(key.length - 12)}${key.slice(-4)}` : key

const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers })
  res.end(text)
}

const error = (message: string, type: string, code: string | null, param: string | null = null) => ({
  error: { message, type, param, code }
})

export const startFakeOpenAI = async (): Promise<FakeOpenAI> => {
  const requests: Array<RecordedRequest> = []
  const queue: Array<FakeAnswer> = []
  const acceptKeys = new Set<string>()
  const sockets = new Set<Socket>()
  const files = new Map<string, NonNullable<Extract<FakeAnswer, { kind: "url" }>["serve"]>>()
  let nextFile = 0
  let abandoned = 0
  const hold = (req: IncomingMessage) => req.socket.on("close", () => abandoned++)
  let origin = ""

  const bearer = (req: IncomingMessage) => req.headers.authorization?.replace(/^Bearer\s+/i, "") ?? ""

  const answerImages = (req: IncomingMessage, res: ServerResponse, body: unknown) => {
    const answer = queue.shift() ?? { kind: "b64" }
    const b64 = Buffer.from(FAKE_PNG).toString("base64")
    switch (answer.kind) {
      case "b64": {
        const n = typeof (body as { n?: unknown } | undefined)?.n === "number" ? (body as { n: number }).n : 1
        const data = Array.from({ length: n }, () => ({ b64_json: b64, revised_prompt: "a revised prompt" }))
        return sendJson(res, 200, { created: 1_700_000_000, data })
      }
      case "url": {
        const id = `img-${nextFile++}`
        files.set(id, answer.serve ?? "png")
        return sendJson(res, 200, {
          created: 1_700_000_000,
          data: [{ url: `${origin}/files/${id}.png?sig=secret-signature` }]
        })
      }
      case "content_policy":
        return sendJson(
          res,
          400,
          error(
            "Your request was rejected as a result of our safety system.",
            "invalid_request_error",
            "content_policy_violation"
          )
        )
      case "invalid":
        return sendJson(res, 400, error("Invalid size '3x3'.", "invalid_request_error", "invalid_value", "size"))
      case "unauthorized":
        return sendJson(
          res,
          401,
          error(
            `Incorrect API key provided: ${maskKey(bearer(req))}. You can find your API key at https://platform.example/account/api-keys.`,
            "invalid_request_error",
            "invalid_api_key"
          )
        )
      case "rate_limited":
        return sendJson(res, 429, error("Rate limit reached for images per minute.", "requests", "rate_limit_exceeded"), {
          ...(answer.retryAfter !== undefined ? { "retry-after": answer.retryAfter } : {}),
          ...(answer.retryAfterMs !== undefined ? { "retry-after-ms": answer.retryAfterMs } : {})
        })
      case "server_error":
        return sendJson(res, 500, error("The server had an error while processing your request.", "server_error", null))
      case "hang":
        return hold(req) // never answers
      case "malformed":
        res.writeHead(200, { "content-type": "application/json" })
        return res.end(`{"created": 1700000000, "data": [{"b64_json": "iVBOR`)
      case "empty":
        return sendJson(res, 200, { created: 1_700_000_000, data: [] })
      case "reset":
        return req.socket.destroy()
    }
  }

  const serveFile = (path: string, req: IncomingMessage, res: ServerResponse) => {
    const id = path.replace(/^\/files\//, "").replace(/\.png$/, "")
    const serve = files.get(id) ?? "missing"
    switch (serve) {
      case "png":
        res.writeHead(200, { "content-type": "image/png", "content-length": FAKE_PNG.length })
        return res.end(FAKE_PNG)
      case "html":
        res.writeHead(200, { "content-type": "text/html" })
        return res.end("<html>signed URL expired</html>")
      case "hang":
        return hold(req)
      case "missing":
        res.writeHead(404, { "content-type": "text/plain" })
        return res.end("not found")
      case "oversized": {
        // No content-length: the reader has to stop by itself at its cap.
        res.writeHead(200, { "content-type": "image/png" })
        const chunk = Buffer.alloc(1024 * 1024, 0x41)
        for (let i = 0; i < 21; i++) res.write(chunk)
        return res.end()
      }
    }
  }

  const server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://fake")
      const text = Buffer.concat(chunks).toString("utf8")
      let body: unknown = text
      try {
        body = text === "" ? undefined : JSON.parse(text)
      } catch {
        // recorded as text
      }
      requests.push({ method: req.method ?? "", path: url.pathname, authorization: req.headers.authorization, body })
      if (req.method === "POST" && url.pathname === "/v1/images/generations") return answerImages(req, res, body)
      if (req.method === "GET" && url.pathname === "/v1/models") {
        return acceptKeys.has(bearer(req))
          ? sendJson(res, 200, { object: "list", data: [{ id: "gpt-image-1", object: "model", created: 0, owned_by: "system" }] })
          : sendJson(res, 401, error(`Incorrect API key provided: ${maskKey(bearer(req))}.`, "invalid_request_error", "invalid_api_key"))
      }
      if (req.method === "GET" && url.pathname.startsWith("/files/")) return serveFile(url.pathname, req, res)
      sendJson(res, 404, error("Unknown path", "invalid_request_error", "unknown_url"))
    })
  })
  server.on("connection", (socket: Socket) => {
    sockets.add(socket)
    socket.on("close", () => sockets.delete(socket))
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`

  return {
    baseUrl: `${origin}/v1`,
    requests,
    imageRequests: () => requests.filter((r) => r.path === "/v1/images/generations"),
    fileRequests: () => requests.filter((r) => r.path.startsWith("/files/")),
    script: (...answers) => {
      queue.length = 0
      queue.push(...answers)
    },
    acceptKeys,
    abandoned: () => abandoned,
    close: () =>
      new Promise<void>((resolve) => {
        for (const socket of sockets) socket.destroy()
        server.close(() => resolve())
      })
  }
}
