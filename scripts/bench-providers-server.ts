/**
 * One server of `npm run bench:providers`, in its own process so that it does not share an event
 * loop with the load generator or the other servers. BENCH_TARGET picks it:
 * - `upstream`: a fake OpenAI Images API answering `POST /v1/images/generations` at once with
 *   `{"created", "data":[{"b64_json"}]}` of one small PNG;
 * - `bare`: node:http answering the bytes of BENCH_BODY_FILE (a captured gateway response) as JSON;
 * - `keepalive`: a proxy forwarding each request to BENCH_UPSTREAM with http.request over an
 *   `http.Agent({ keepAlive: true })`, answering the upstream's body;
 * - `fetch`: the same proxy with the global `fetch()`.
 * It prints `READY <origin>` once it listens.
 */
import { readFileSync } from "node:fs"
import { Agent, createServer, type IncomingMessage, request, type ServerResponse } from "node:http"
import { renderPng } from "../src/adapters/local/PngRenderer.ts"

const readBody = (req: IncomingMessage) =>
  new Promise<Buffer>((resolve, reject) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => resolve(Buffer.concat(chunks)))
    req.on("error", reject)
  })

const send = (res: ServerResponse, status: number, body: Buffer | string) => {
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) })
  res.end(body)
}

const target = process.env["BENCH_TARGET"]
const upstream = process.env["BENCH_UPSTREAM"] ?? ""
let handler: (req: IncomingMessage, res: ServerResponse) => void

if (target === "upstream") {
  const b64 = Buffer.from(renderPng({ prompt: "bench", width: 8, height: 8, seed: 0 })).toString("base64")
  handler = (req, res) => {
    void readBody(req).then(() => {
      if (req.method === "POST" && req.url === "/v1/images/generations") {
        send(res, 200, JSON.stringify({ created: Math.floor(Date.now() / 1000), data: [{ b64_json: b64 }] }))
      } else {
        send(res, 404, JSON.stringify({ error: { message: "not found", type: "invalid_request_error", param: null, code: null } }))
      }
    })
  }
} else if (target === "bare") {
  const body = readFileSync(process.env["BENCH_BODY_FILE"]!)
  handler = (req, res) => void readBody(req).then(() => send(res, 200, body))
} else if (target === "keepalive") {
  const agent = new Agent({ keepAlive: true })
  const url = new URL("/v1/images/generations", upstream)
  handler = (req, res) => {
    void readBody(req).then((body) => {
      const out = request(url, {
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": body.length }
      }, (up) => {
        void readBody(up).then((answer) => send(res, up.statusCode ?? 502, answer))
      })
      out.on("error", () => send(res, 502, "{}"))
      out.end(body)
    })
  }
} else if (target === "fetch") {
  const url = new URL("/v1/images/generations", upstream)
  handler = (req, res) => {
    void readBody(req).then(async (body) => {
      try {
        const up = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body: body.toString("utf8") })
        send(res, up.status, Buffer.from(await up.arrayBuffer()))
      } catch {
        send(res, 502, "{}")
      }
    })
  }
} else {
  throw new Error(`BENCH_TARGET must be upstream, bare, keepalive or fetch, not ${target}`)
}

const server = createServer(handler)
server.keepAliveTimeout = 60_000
server.listen(0, "127.0.0.1", () => {
  const address = server.address() as { port: number }
  console.log(`READY http://127.0.0.1:${address.port}`)
})
process.once("SIGTERM", () => process.exit(0))
