/**
 * Starts a scratch PostgreSQL (ScratchCleanup.test.ts), prints one JSON line with its directory
 * and server pid, then ends as MODE says: `stop` calls stop and exits, `exit` exits without
 * stopping, `wait` waits to be killed.
 */
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { startScratchPostgres } from "../../specs/support/ScratchPostgres.ts"

const server = await startScratchPostgres({ prefix: "image-gateway-pg-", settings: ["fsync=off"] })
const pid = Number(readFileSync(join(server.dir, "data", "postmaster.pid"), "utf8").split("\n")[0])
console.log(JSON.stringify({ dir: server.dir, pid }))
const mode = process.env["MODE"]
if (mode === "stop") {
  await server.stop()
  process.exit(0)
} else if (mode === "exit") {
  process.exit(0)
} else {
  setInterval(() => undefined, 60_000)
}
