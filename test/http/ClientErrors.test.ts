/**
 * What Node answers before a request reaches the gateway's handlers (a client too slow to send
 * its request, headers too large, bytes that are not HTTP) comes in OpenAI's error shape too, and
 * the connection closes. Raw sockets play the misbehaving clients.
 */
import { connect } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { WORLD } from "../../specs/support/Harness.ts"
import { balances, startGateway, type TestGateway } from "./support/HttpHarness.ts"

interface RawAnswer {
  readonly status: number
  readonly head: string
  readonly body: any
  /** Milliseconds from the first byte sent to the connection's end. */
  readonly closedAfterMs: number
}

/** Writes `chunks` (one per entry, as given) to a raw connection and reads until the server closes it. */
const raw = (origin: string, chunks: ReadonlyArray<string>) =>
  new Promise<RawAnswer>((resolve, reject) => {
    const { hostname, port } = new URL(origin)
    const started = Date.now()
    const socket = connect(Number(port), hostname, () => {
      for (const chunk of chunks) socket.write(chunk)
    })
    let received = ""
    socket.on("data", (data) => {
      received += data.toString("latin1")
    })
    socket.on("error", reject)
    socket.on("close", () => {
      const [head = "", body = ""] = received.split("\r\n\r\n", 2)
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1]),
        head,
        body: body === "" ? undefined : JSON.parse(body),
        closedAfterMs: Date.now() - started
      })
    })
    // A server that never closes fails the test rather than hanging it.
    socket.setTimeout(5_000, () => socket.destroy(new Error("the server kept the connection open")))
  })

const expectOpenAIError = (answer: RawAnswer, status: number, code: string) => {
  expect(answer.status).toBe(status)
  expect(answer.head).toMatch(/\r\ncontent-type: application\/json\r\n/i)
  expect(answer.head).toMatch(/\r\nx-request-id: req_[0-9a-f]{32}\r\n/i)
  expect(answer.head).toMatch(/\r\nconnection: close/i)
  expect(answer.body.error).toMatchObject({ code, type: "invalid_request_error" })
  expect(answer.body.error.message.length).toBeGreaterThan(20)
}

describe("client errors", () => {
  let gateway: TestGateway
  beforeAll(async () => {
    gateway = await startGateway({ headersTimeoutMs: 300, requestTimeoutMs: 600 })
  })
  afterAll(() => gateway.close())

  it("answers 408 to a client that stalls in its headers, and closes the connection", async () => {
    const answer = await raw(gateway.origin, ["POST /v1/images/generations HTTP/1.1\r\nHost: gateway\r\nContent-Type: app"])
    expectOpenAIError(answer, 408, "request_timeout")
    expect(answer.body.error.message).toContain("0.3 s")
    expect(answer.closedAfterMs).toBeGreaterThanOrEqual(250)
    expect(answer.closedAfterMs).toBeLessThan(2_000)
  })

  it("answers 408 to a client that stalls in its body, and charges nothing", async () => {
    const before = await gateway.run(balances)
    const answer = await raw(gateway.origin, [
      "POST /v1/images/generations HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\n" +
      `Authorization: Bearer ${WORLD.presentonKey}\r\nContent-Length: 100\r\n\r\n{"prompt":`
    ])
    expectOpenAIError(answer, 408, "request_timeout")
    expect(answer.closedAfterMs).toBeGreaterThanOrEqual(550)
    expect(answer.closedAfterMs).toBeLessThan(2_500)
    expect(await gateway.run(balances)).toEqual(before)
  })

  it("answers 431 to headers larger than 16 KiB", async () => {
    const answer = await raw(gateway.origin, [`GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Padding: ${"a".repeat(20_000)}\r\n\r\n`])
    expectOpenAIError(answer, 431, "request_header_fields_too_large")
    expect(answer.head).toMatch(/\r\nx-should-retry: false\r\n/)
  })

  it("answers 400 to bytes that are not HTTP", async () => {
    const answer = await raw(gateway.origin, ["HELLO THERE\r\n\r\n"])
    expectOpenAIError(answer, 400, "malformed_request")
  })

  it("still serves a well-formed request on a new connection afterwards", async () => {
    const answer = await raw(gateway.origin, ["GET /healthz HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n"])
    expect(answer.status).toBe(200)
    expect(answer.body).toEqual({ status: "ok" })
  })
})
