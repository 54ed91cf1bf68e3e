import { Context } from "effect"
import type { IncomingMessage } from "node:http"
import type { Socket } from "node:net"

/** How much of a refused body the gateway reads and discards, and for how long, before it closes. */
export interface LingerLimits {
  readonly maxBytes: number
  readonly maxMs: number
}

/** 32 MiB or 3 s, whichever comes first (a body of a few MB on any usable link is done well within). */
export const LINGER_DEFAULTS: LingerLimits = { maxBytes: 32 * 1024 * 1024, maxMs: 3_000 }

export const LingerLimits = Context.Reference<LingerLimits>("image-gateway/http/LingerLimits", {
  defaultValue: () => LINGER_DEFAULTS
})

/** Sockets whose close is already deferred (a second refusal on the same request changes nothing). */
const lingering = new WeakSet<Socket>()

/**
 * A "lingering close" (as nginx does) for a request answered before its body was read: a 413
 * (too large) or a 415 (not JSON), whose answer says `Connection: close`.
 *
 * Without it the connection is closed while the client is still sending: Node destroys the socket
 * as soon as a `Connection: close` answer is flushed (`destroySoon`), and the platform's router
 * destroys it 500 ms after the answer without reading the body. A socket closed with body bytes
 * unread, or still arriving, makes the kernel send a TCP reset; the client's next write then fails
 * (EPIPE / ECONNRESET), and a client that handles that failure before it has parsed the answer
 * already in its buffer (undici's `fetch`, so the `openai` SDK: "Connection error.") never
 * sees the 413.
 *
 * So from here on the rest of the body is read and thrown away, and a destroy asked without an
 * error (Node's after the answer, or the platform's grace timer) waits until the first of: the
 * body has been read to its end, the client has closed its side, `maxBytes` more body bytes,
 * or `maxMs`. In the first two cases the connection then closes cleanly (nothing unread, so no
 * reset); at a bound it is destroyed at once, whatever the client is still sending. The answer
 * itself goes out as usual, followed by a FIN (Node and the platform end the socket first), so
 * the client reads it while the discard goes on. Nothing here waits unbounded, and the body
 * never reaches anyone.
 */
export const lingerThenClose = (request: IncomingMessage, limits: LingerLimits): void => {
  const current = request.socket as Socket | null
  // A complete body is in Node's hands already (it discards what nobody read): nothing to wait for.
  if (current === null || request.complete || current.destroyed || lingering.has(current)) return
  const socket: Socket = current
  lingering.add(socket)

  const ownDestroy = Object.hasOwn(socket, "destroy") ? socket.destroy : undefined
  const destroy = socket.destroy
  let active = true
  let deferred = false
  let discarded = 0
  const timer = setTimeout(cutOff, limits.maxMs)
  timer.unref()

  const restore = () => {
    if (!active) return
    active = false
    lingering.delete(socket)
    clearTimeout(timer)
    request.off("data", onData)
    request.off("end", onFinished)
    socket.off("end", onFinished)
    socket.off("close", restore)
    if (ownDestroy === undefined) delete (socket as { destroy?: unknown }).destroy
    else socket.destroy = ownDestroy
  }
  /** The body was read to its end, or the client closed its side: close as asked, nothing unread. */
  function onFinished() {
    restore()
    if (deferred) socket.destroy()
  }
  /** A bound was reached: close now. */
  function cutOff() {
    restore()
    socket.destroy()
  }
  function onData(chunk: Buffer) {
    discarded += chunk.length
    if (discarded > limits.maxBytes) cutOff()
  }

  socket.destroy = function(this: Socket, error?: Error) {
    // A failure (a reset from the client, a write error) ends the connection at once; so does
    // a call that comes after the discard (Node keeps this function as a `finish` listener).
    if (error !== undefined || !active) {
      restore()
      return destroy.call(this, error)
    }
    deferred = true
    return this
  }
  request.on("data", onData)
  request.once("end", onFinished)
  socket.once("end", onFinished)
  socket.once("close", restore)
  request.resume()
}
