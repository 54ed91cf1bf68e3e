/**
 * The two servers `npm run bench:cluster` runs beside the gateways, each in a process of its
 * own so that neither shares an event loop with the load generator. BENCH_PEER picks it:
 * - `upstream`: an OpenAI-compatible Images API (`POST /v1/images/generations`) that the
 *   gateways' `OPENAI_BASE_URL` points at. It answers at once with a small PNG, except for
 *   prompts that ask it to fail: `[fail]` → 500 with `x-should-retry: false` (the gateway
 *   answers 503 at once, nothing charged), `[flaky:<id>]` → 503 the first time an id is seen
 *   and an image on the retry (the gateway's own provider retry). `GET /stats` counts the calls.
 * - `bare`: node:http answering every POST with a JSON body of exactly BENCH_BODY_BYTES bytes
 *   and the headers a generation answers with: the floor the gateway's latency is read against.
 * It prints `READY <origin>` once it listens.
 */
import { createServer, type IncomingMessage, type ServerResponse } from "node:http"
import type { AddressInfo } from "node:net"
import { renderPng } from "../src/adapters/local/PngRenderer.ts"

const readBody = (req: IncomingMessage) =>
  new Promise<string>((resolve) => {
    const chunks: Array<Buffer> = []
    req.on("data", (chunk: Buffer) => chunks.push(chunk))
    req.on("end", () => resolve(Buffer.concat(chunks).toString("utf8")))
  })

const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
  const text = JSON.stringify(body)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text), ...headers })
  res.end(text)
}

const upstream = () => {
  const b64 = Buffer.from(renderPng({ prompt: "bench upstream", width: 8, height: 8, seed: 0 })).toString("base64")
  const platformKey = process.env["BENCH_PLATFORM_KEY"] ?? ""
  const stats = { calls: 0, platform: 0, own: 0, images: 0, ownImages: 0, failed: 0, flakyFailed: 0 }
  const flakySeen = new Set<string>()
  return createServer(async (req, res) => {
    if (req.method === "GET" && req.url === "/stats") return json(res, 200, stats)
    if (req.method !== "POST" || req.url !== "/v1/images/generations") return json(res, 404, { error: { message: "not found" } })
    const body = JSON.parse(await readBody(req)) as { prompt: string; n?: number }
    stats.calls += 1
    const own = req.headers.authorization !== `Bearer ${platformKey}`
    if (own) stats.own += 1
    else stats.platform += 1
    if (body.prompt.includes("[fail]")) {
      stats.failed += 1
      return json(res, 500, { error: { message: "The server had an error", type: "server_error", code: null } }, { "x-should-retry": "false" })
    }
    const flaky = /\[flaky:([^\]]+)\]/.exec(body.prompt)?.[1]
    if (flaky !== undefined && !flakySeen.has(flaky)) {
      flakySeen.add(flaky)
      stats.flakyFailed += 1
      return json(res, 503, { error: { message: "overloaded", type: "server_error", code: null } }, { "retry-after-ms": "10" })
    }
    const n = body.n ?? 1
    stats.images += n
    if (own) stats.ownImages += n
    return json(res, 200, { created: Math.floor(Date.now() / 1000), data: Array.from({ length: n }, () => ({ b64_json: b64 })) })
  })
}

const bare = () => {
  const bytes = Number(process.env["BENCH_BODY_BYTES"] ?? 4096)
  let n = 0
  return createServer(async (req, res) => {
    const request = await readBody(req)
    n += 1
    // The same work a trivial handler does: parse the request, build and serialize an answer.
    const parsed = request === "" ? {} : JSON.parse(request)
    const head = JSON.stringify({ created: Math.floor(Date.now() / 1000), model: parsed.model ?? null, data: [{ b64_json: "" }] })
    const body = JSON.stringify({
      created: Math.floor(Date.now() / 1000),
      model: parsed.model ?? null,
      data: [{ b64_json: "A".repeat(Math.max(0, bytes - head.length)) }]
    })
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
      "x-request-id": `req_${n}`,
      "x-credits-charged": "1.2",
      "x-credits-remaining": "9998.8"
    })
    res.end(body)
  })
}

const peer = process.env["BENCH_PEER"]
if (peer !== "upstream" && peer !== "bare") throw new Error(`BENCH_PEER must be upstream or bare, got ${peer}`)
const server = peer === "upstream" ? upstream() : bare()
server.listen(0, "127.0.0.1", () => console.log(`READY http://127.0.0.1:${(server.address() as AddressInfo).port}`))
