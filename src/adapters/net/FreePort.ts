import { createServer } from "node:net"

/** A TCP port on 127.0.0.1 that is free right now (the system picks it). */
export const freePort = () =>
  new Promise<number>((resolvePort, reject) => {
    const probe = createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      probe.close(() => (typeof address === "object" && address !== null ? resolvePort(address.port) : reject(address)))
    })
  })
