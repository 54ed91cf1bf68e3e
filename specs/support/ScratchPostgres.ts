import { spawn } from "node:child_process"
import { chmod, mkdtemp, readdir, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "../../src/adapters/net/FreePort.ts"
import {
  binaries,
  canReach,
  initCluster,
  isAlive,
  newPassword,
  runningPostmaster,
  serverUser,
  type ServerUser,
  startServer,
  stopPostmaster
} from "../../src/adapters/postgres/PostgresServer.ts"

export interface ScratchPostgres {
  readonly url: string
  readonly port: number
  /** The temporary directory holding the cluster (removed by `stop`). */
  readonly dir: string
  /** Stops the server (fast shutdown), keeping its cluster, to be started again by `up`. */
  readonly down: () => Promise<void>
  /** Starts the stopped server again on the same port and cluster. */
  readonly up: () => Promise<void>
  readonly stop: () => Promise<void>
}

/** Every scratch directory is named `<prefix><owner pid>-<random>`. */
const SCRATCH = /^image-gateway-(?:pg|bench)-(\d+)-/

/**
 * Removes what earlier runs left when they were interrupted before they could clean up: scratch
 * directories whose owning process is gone, after stopping the server still running in them.
 */
export const sweepScratch = async (): Promise<void> => {
  const bases = [...new Set([tmpdir(), "/tmp"])]
  const found = await Promise.all(bases.map(async (base) =>
    (await readdir(base).catch(() => [] as Array<string>)).map((name) => ({ base, name }))
  ))
  await Promise.all(found.flat().map(async ({ base, name }) => {
    const owner = SCRATCH.exec(name)?.[1]
    if (owner === undefined || isAlive(Number(owner))) return
    const dir = join(base, name)
    const left = await runningPostmaster(join(dir, "data")).catch(() => undefined)
    if (left !== undefined) await stopPostmaster(left.pid).catch(() => undefined)
    await rm(dir, { recursive: true, force: true }).catch(() => undefined)
  }))
}

/**
 * Where scratch clusters go: the temporary directory, or /tmp when the server runs as the
 * `postgres` user and cannot enter the temporary directory (a TMPDIR private to root).
 */
const scratchBase = async (user: ServerUser | undefined) =>
  user === undefined || await canReach(user, tmpdir()) ? tmpdir() : "/tmp"

/**
 * If this process ends without calling `stop` (a test run interrupted, a worker killed with a
 * signal it handles), a detached shell stops the server and removes its directory after it.
 */
const cleanUpAtExit = (pid: () => number | undefined, dir: string) => {
  const onExit = () => {
    const server = pid()
    const script = server === undefined
      ? `rm -rf "$1"`
      : `kill -INT "$2" 2>/dev/null; i=0; while kill -0 "$2" 2>/dev/null && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done; kill -QUIT "$2" 2>/dev/null; rm -rf "$1"`
    spawn("sh", ["-c", script, "sh", dir, String(server ?? "")], { detached: true, stdio: "ignore" }).unref()
  }
  process.once("exit", onExit)
  return () => void process.off("exit", onExit)
}

/**
 * A throwaway PostgreSQL for tests and benchmarks: a fresh cluster in a temporary directory, on
 * 127.0.0.1 and a free port, with `settings` (`name=value`) on top, removed again by `stop` (or
 * when the process exits; a later run removes what an interrupted one left). A failed start
 * says why at once, in one line.
 */
export const startScratchPostgres = async (options: {
  /** The temporary directory's name prefix: `image-gateway-pg-` or `image-gateway-bench-`. */
  readonly prefix: "image-gateway-pg-" | "image-gateway-bench-"
  readonly settings: ReadonlyArray<string>
}): Promise<ScratchPostgres> => {
  await sweepScratch()
  const user = await serverUser()
  const base = await scratchBase(user)
  const dir = await mkdtemp(join(base, `${options.prefix}${process.pid}-`))
  let serverPid: number | undefined
  const forget = cleanUpAtExit(() => serverPid, dir)
  try {
    // The server's user must be able to enter its directory.
    if (user !== undefined) await chmod(dir, 0o755)
    const bins = await binaries(user)
    const password = newPassword()
    const cluster = join(dir, "data")
    await initCluster({ cluster, password, user, binaries: bins })
    const port = await freePort()
    const start = () => startServer({ cluster, password, user, binaries: bins, port, settings: options.settings })
    let server = await start()
    serverPid = server.pid
    return {
      url: `postgres://postgres:${password}@127.0.0.1:${port}/postgres`,
      port,
      dir,
      down: async () => {
        await server.stop()
        serverPid = undefined
      },
      up: async () => {
        server = await start()
        serverPid = server.pid
      },
      stop: async () => {
        await server.stop()
        await rm(dir, { recursive: true, force: true })
        forget()
      }
    }
  } catch (error) {
    await rm(dir, { recursive: true, force: true })
    forget()
    throw new Error(`embedded PostgreSQL did not start: ${(error as Error).message}`)
  }
}
