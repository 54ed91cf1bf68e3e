import { Buffer } from "node:buffer"
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http"
import type { AddressInfo, Socket } from "node:net"
import { gzipSync } from "node:zlib"
import { afterAll, afterEach, assert, beforeAll, describe, it } from "vitest"
import { freePort } from "../../src/adapters/net/FreePort.ts"
import { interruptOption, makeNodeHttpFetch } from "../../src/adapters/providers/NodeHttpFetch.ts"

interface Seen {
  readonly method: string
  readonly url: string
  readonly headers: IncomingMessage["headers"]
  readonly body: Buffer
}

/** A loopback server whose answer each test sets; it records every request and connection. */
let server: Server
let origin: string
const seen: Array<Seen> = []
const sockets = new Set<Socket>()
let connections = 0
let closedConnections = 0
let answer: (req: IncomingMessage, res: ServerResponse, body: Buffer) => void = (_req, res) => res.end()

beforeAll(async () => {
  server = createServer((req, res) => {
    const chunks: Array<Buffer> = []
    req.on("data", (c: Buffer) => chunks.push(c))
    req.on("end", () => {
      const body = Buffer.concat(chunks)
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body })
      answer(req, res, body)
    })
  })
  server.on("connection", (socket: Socket) => {
    connections += 1
    sockets.add(socket)
    socket.on("close", () => {
      closedConnections += 1
      sockets.delete(socket)
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
})
afterAll(() => {
  for (const socket of sockets) socket.destroy()
  server.close()
})
afterEach(() => {
  seen.length = 0
  answer = (_req, res) => res.end()
})

const json = (res: ServerResponse, status: number, value: unknown, headers: Record<string, string> = {}) => {
  const body = JSON.stringify(value)
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(body), ...headers })
  res.end(body)
}

const waitFor = async (what: string, ok: () => boolean, ms = 2_000) => {
  const until = Date.now() + ms
  while (!ok()) {
    if (Date.now() > until) throw new Error(`timed out waiting: ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** The error a rejected promise rejected with. */
const rejection = async (promise: Promise<unknown>): Promise<Error & { cause?: { code?: string } }> => {
  try {
    await promise
  } catch (error) {
    return error as Error & { cause?: { code?: string } }
  }
  throw new Error("expected the call to fail, it succeeded")
}

describe("NodeHttpFetch", () => {
  const { fetch, close } = makeNodeHttpFetch({ maxResponseBytes: 64 * 1024 })
  afterAll(close)

  it("sends method, path, headers and a string body, and answers status, headers, body and url", async () => {
    answer = (_req, res, body) => json(res, 201, { echoed: JSON.parse(body.toString("utf8")) }, { "x-request-id": "req_1" })
    const headers = new Headers({ authorization: "Bearer sk-test", "content-type": "application/json" })
    headers.append("x-multi", "a")
    headers.append("x-multi", "b")
    const response = await fetch(`${origin}/v1/images/generations?x=1`, { method: "post", headers, body: JSON.stringify({ prompt: "p" }) })

    assert.strictEqual(response.status, 201)
    assert.isTrue(response.ok)
    assert.strictEqual(response.headers.get("x-request-id"), "req_1")
    assert.strictEqual(response.url, `${origin}/v1/images/generations?x=1`)
    assert.deepStrictEqual(await response.json(), { echoed: { prompt: "p" } })
    const [request] = seen
    assert.strictEqual(request!.method, "POST")
    assert.strictEqual(request!.url, "/v1/images/generations?x=1")
    assert.strictEqual(request!.headers.authorization, "Bearer sk-test")
    assert.strictEqual(request!.headers["x-multi"], "a, b")
    assert.strictEqual(request!.headers["content-length"], String(Buffer.byteLength(JSON.stringify({ prompt: "p" }))))
  })

  it("sends bytes and URLSearchParams bodies (the latter as a form)", async () => {
    answer = (_req, res) => json(res, 200, {})
    await fetch(`${origin}/bytes`, { method: "PUT", body: new Uint8Array([1, 2, 3]) })
    await fetch(`${origin}/form`, { method: "POST", body: new URLSearchParams({ a: "1", b: "two words" }) })
    assert.deepStrictEqual([...seen[0]!.body], [1, 2, 3])
    assert.strictEqual(seen[1]!.body.toString(), "a=1&b=two+words")
    assert.match(seen[1]!.headers["content-type"] ?? "", /^application\/x-www-form-urlencoded/)
  })

  it("keeps the connection alive between calls", async () => {
    answer = (_req, res) => json(res, 200, { ok: true })
    await fetch(`${origin}/warm`)
    const before = connections
    for (let i = 0; i < 5; i++) await (await fetch(`${origin}/again`, { method: "POST", body: "{}" })).json()
    assert.strictEqual(connections, before, "no new connection for sequential calls")
  })

  it("answers a 204 with no body", async () => {
    answer = (_req, res) => {
      res.writeHead(204)
      res.end()
    }
    const response = await fetch(`${origin}/empty`, { method: "DELETE" })
    assert.strictEqual(response.status, 204)
    assert.isNull(response.body)
    assert.strictEqual(await response.text(), "")
  })

  it("decodes a gzip answer", async () => {
    answer = (_req, res) => {
      const body = gzipSync(JSON.stringify({ data: "x".repeat(1000) }))
      res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip", "content-length": body.length })
      res.end(body)
    }
    assert.deepStrictEqual(await (await fetch(`${origin}/gz`)).json(), { data: "x".repeat(1000) })
  })

  it("fails an answer over the size limit instead of buffering it, compressed or not", async () => {
    answer = (_req, res) => json(res, 200, { data: "x".repeat(70 * 1024) })
    const plain = await rejection(fetch(`${origin}/big`))
    assert.instanceOf(plain, TypeError)
    assert.strictEqual(plain.cause?.code, "RESPONSE_TOO_LARGE")

    answer = (_req, res) => {
      const body = gzipSync(Buffer.alloc(10 * 1024 * 1024))
      res.writeHead(200, { "content-encoding": "gzip", "content-length": body.length })
      res.end(body)
    }
    const bomb = await rejection(fetch(`${origin}/bomb`))
    assert.strictEqual(bomb.cause?.code, "RESPONSE_TOO_LARGE")
  })

  it("rejects a refused connection as fetch does: TypeError with the socket's code as cause", async () => {
    const port = await freePort()
    const error = await rejection(fetch(`http://127.0.0.1:${port}/v1/models`))
    assert.instanceOf(error, TypeError)
    assert.strictEqual(error.message, "fetch failed")
    assert.strictEqual(error.cause?.code, "ECONNREFUSED")
  })

  it("rejects an answer cut off mid-body with ECONNRESET", async () => {
    answer = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json", "content-length": 1000 })
      res.write("{\"data\":")
      setTimeout(() => res.socket?.destroy(), 20)
    }
    const error = await rejection(fetch(`${origin}/cut`, { method: "POST", body: "{}" }))
    assert.instanceOf(error, TypeError)
    assert.strictEqual(error.cause?.code, "ECONNRESET")
  })

  for (const via of ["signal", "INTERRUPT"] as const) {
    it(`aborting (${via}) rejects with the abort reason and closes the connection`, async () => {
      answer = () => undefined // never answers
      const controller = new AbortController()
      const init: RequestInit = via === "signal"
        ? { method: "POST", body: "{}", signal: controller.signal }
        : { method: "POST", body: "{}", ...interruptOption(controller.signal) }
      const closedBefore = closedConnections
      const pending = fetch(`${origin}/hang`, init)
      await waitFor("the request arrived", () => seen.length === 1)
      controller.abort()
      const error = await rejection(pending)
      assert.strictEqual(error.name, "AbortError")
      await waitFor("the server saw the connection close", () => closedConnections > closedBefore)
    })
  }

  it("an already aborted signal sends nothing", async () => {
    const controller = new AbortController()
    controller.abort()
    const error = await rejection(fetch(`${origin}/never`, { method: "POST", body: "{}", signal: controller.signal }))
    assert.strictEqual(error.name, "AbortError")
    await new Promise((resolve) => setTimeout(resolve, 50))
    assert.strictEqual(seen.length, 0)
  })

  it("does not follow a redirect: the 3xx comes back as it is, and nothing is sent to its location", async () => {
    answer = (req, res) => {
      if (req.url === "/moved") {
        res.writeHead(302, { location: `${origin}/elsewhere` })
        res.end()
      } else json(res, 200, {})
    }
    const response = await fetch(`${origin}/moved`, { method: "POST", headers: { authorization: "Bearer sk-secret" }, body: "{}" })
    assert.strictEqual(response.status, 302)
    assert.strictEqual(response.headers.get("location"), `${origin}/elsewhere`)
    assert.deepStrictEqual(seen.map((s) => s.url), ["/moved"])
  })

  it("hands a body node:http cannot send as it is (FormData) to the global fetch", async () => {
    answer = (_req, res) => json(res, 200, { ok: true })
    const form = new FormData()
    form.append("prompt", "a fox")
    const response = await fetch(`${origin}/v1/images/edits`, { method: "POST", body: form })
    assert.strictEqual(response.status, 200)
    assert.match(seen[0]!.headers["content-type"] ?? "", /^multipart\/form-data; boundary=/)
    assert.include(seen[0]!.body.toString(), "a fox")
  })

  it("closes a connection with no traffic for idleTimeoutMs", async () => {
    const idle = makeNodeHttpFetch({ idleTimeoutMs: 150 })
    answer = () => undefined
    const started = Date.now()
    const error = await rejection(idle.fetch(`${origin}/silent`))
    idle.close()
    assert.strictEqual(error.cause?.code, "ETIMEDOUT")
    assert.isBelow(Date.now() - started, 2_000)
  })
})
