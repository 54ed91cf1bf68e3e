import { createServer, type IncomingHttpHeaders } from "node:http"
import type { AddressInfo } from "node:net"

/** One POST the receiver took. */
export interface Received {
  readonly path: string
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
}

/** A span of an OTLP/HTTP JSON export, with its attributes as plain values and its resource's. */
export interface ReceivedSpan {
  readonly name: string
  readonly traceId: string
  readonly spanId: string
  readonly parentSpanId: string | undefined
  readonly attributes: Record<string, unknown>
  readonly resource: Record<string, unknown>
  readonly status: { readonly code?: number } | undefined
}

const valueOf = (value: Record<string, unknown>): unknown =>
  "stringValue" in value ? value.stringValue
  : "intValue" in value ? Number(value.intValue)
  : "boolValue" in value ? value.boolValue
  : "doubleValue" in value ? value.doubleValue
  : value

const attributesOf = (list: ReadonlyArray<{ key: string; value: Record<string, unknown> }> | undefined) =>
  Object.fromEntries((list ?? []).map((a) => [a.key, valueOf(a.value)]))

/**
 * A local OTLP/HTTP receiver on 127.0.0.1: it answers every POST 200 (or never, when `hang`)
 * and keeps what it was sent.
 */
export const startReceiver = async (options: { readonly hang?: boolean } = {}) => {
  const received: Array<Received> = []
  const server = createServer((request, response) => {
    const chunks: Array<Buffer> = []
    request.on("data", (chunk: Buffer) => chunks.push(chunk))
    request.on("end", () => {
      received.push({ path: request.url ?? "", headers: request.headers, body: Buffer.concat(chunks) })
      if (options.hang === true) return
      response.writeHead(200, { "content-type": "application/json" })
      response.end("{}")
    })
  })
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
  const { port } = server.address() as AddressInfo

  /** Every span received as JSON. */
  const spans = (): Array<ReceivedSpan> =>
    received.filter((r) => String(r.headers["content-type"]).startsWith("application/json")).flatMap((r) => {
      const data = JSON.parse(r.body.toString("utf8"))
      return data.resourceSpans.flatMap((rs: any) => {
        const resource = attributesOf(rs.resource?.attributes)
        return rs.scopeSpans.flatMap((ss: any) =>
          ss.spans.map((s: any): ReceivedSpan => ({
            name: s.name,
            traceId: s.traceId,
            spanId: s.spanId,
            parentSpanId: s.parentSpanId || undefined,
            attributes: attributesOf(s.attributes),
            resource,
            status: s.status
          }))
        )
      })
    })

  /** Waits until `accept` holds of what was received, for at most `deadlineMs`. */
  const until = async (accept: () => boolean, deadlineMs = 10_000): Promise<boolean> => {
    const end = Date.now() + deadlineMs
    while (!accept()) {
      if (Date.now() > end) return false
      await new Promise((resolve) => setTimeout(resolve, 50))
    }
    return true
  }

  return {
    endpoint: `http://127.0.0.1:${port}`,
    received,
    spans,
    until,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections()
        server.close(() => resolve())
      })
  }
}
