import { Data, Effect, Option, Redacted, type Scope } from "effect"
import { createHash, randomBytes } from "node:crypto"
import { access, chmod, mkdir, readFile, realpath, rename, rm, stat, writeFile } from "node:fs/promises"
import { basename, dirname, join, resolve } from "node:path"
import { freePort } from "../net/FreePort.ts"
import {
  binaries,
  canReach,
  initCluster,
  isAlive,
  processStart,
  PostgresServerError,
  runningPostmaster,
  serverUser,
  startServer,
  stopPostmaster
} from "./PostgresServer.ts"

export class EmbeddedPostgresError extends Data.TaggedError("EmbeddedPostgresError")<{ readonly message: string }> {}

/** Secrets the embedded default makes once and keeps beside its data (mode 0600). */
interface LocalSecrets {
  readonly postgresPassword: string
  readonly byokKey: string
}

const loadOrCreateSecrets = async (root: string): Promise<LocalSecrets> => {
  const file = join(root, "secrets.json")
  try {
    const parsed = JSON.parse(await readFile(file, "utf8")) as Partial<LocalSecrets>
    if (typeof parsed.postgresPassword === "string" && typeof parsed.byokKey === "string") {
      return { postgresPassword: parsed.postgresPassword, byokKey: parsed.byokKey }
    }
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e
  }
  const secrets = {
    postgresPassword: randomBytes(24).toString("base64url"),
    byokKey: randomBytes(32).toString("base64url")
  }
  // `wx`: two first starts at once must not each write their own password.
  await writeFile(file, JSON.stringify(secrets, null, 2) + "\n", { mode: 0o600, flag: "wx" }).catch(async (e) => {
    if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e
  })
  return JSON.parse(await readFile(file, "utf8")) as LocalSecrets
}

const exists = (path: string) => access(path).then(() => true, () => false)

/** Where clusters go when the `postgres` user cannot enter DATA_DIR (the gateway runs as root). */
export const SHARED_CLUSTERS = "/var/lib/image-gateway"

/**
 * The directory holding the cluster: DATA_DIR itself, unless the server runs as the `postgres`
 * user and cannot enter DATA_DIR (say, a clone under /root): then a directory of its own under
 * /var/lib/image-gateway, named after DATA_DIR's real path, and recorded in DATA_DIR/postgres-location.
 */
const clusterHome = async (
  root: string,
  user: Awaited<ReturnType<typeof serverUser>>,
  setAside: Array<string>
): Promise<string> => {
  if (user === undefined) return root
  if (await canReach(user, dirname(root))) {
    // The server's user must be able to pass through DATA_DIR to its cluster (not to list it).
    const mode = (await stat(root)).mode & 0o7777
    if ((mode & 0o001) === 0) await chmod(root, mode | 0o001)
    if (await canReach(user, root)) return root
  }
  const real = await realpath(root)
  const home = join(SHARED_CLUSTERS, `${basename(real)}-${createHash("sha256").update(real).digest("hex").slice(0, 12)}`)
  await mkdir(home, { recursive: true, mode: 0o755 })
  await chmod(SHARED_CLUSTERS, 0o755)
  // A cluster there while DATA_DIR has no record of it was made for an earlier DATA_DIR at this
  // path, since removed with its secrets (its password is lost): it is set aside, never deleted,
  // and this DATA_DIR gets a cluster of its own.
  if (!(await exists(join(root, "postgres-location"))) && (await exists(join(home, "postgres")))) {
    const aside = join(home, `postgres.set-aside-${new Date().toISOString().replace(/[:.]/g, "-")}`)
    await rename(join(home, "postgres"), aside)
    setAside.push(aside)
  }
  await writeFile(
    join(root, "postgres-location"),
    `${join(home, "postgres")}\n# DATA_DIR's PostgreSQL cluster lives here: the 'postgres' user cannot enter DATA_DIR.\n`
  )
  return home
}

// --- one gateway per DATA_DIR -------------------------------------------------------------------

interface Owner {
  readonly pid: number
  readonly start?: string | undefined
  /** Who holds DATA_DIR: a gateway, or an admin CLI command that started the cluster for itself. */
  readonly role?: EmbeddedRole | undefined
}

export type EmbeddedRole = "gateway" | "admin command"

const ownerIsAlive = (owner: Owner) => {
  if (owner.pid === process.pid || !isAlive(owner.pid)) return false
  const started = processStart(owner.pid)
  return owner.start === undefined || started === undefined || started === owner.start
}

/**
 * Claims DATA_DIR for this process (`DATA_DIR/gateway.lock`: pid and process start time). A lock
 * whose process is gone, or whose pid now belongs to another process, is taken over; one held by
 * a live gateway is refused.
 */
const claim = async (root: string, role: EmbeddedRole): Promise<() => Promise<void>> => {
  const file = join(root, "gateway.lock")
  const me: Owner = { pid: process.pid, start: processStart(process.pid), role }
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      await writeFile(file, JSON.stringify(me) + "\n", { flag: "wx", mode: 0o644 })
      return () => rm(file, { force: true })
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error
    }
    const owner = await readFile(file, "utf8").then((text) => JSON.parse(text) as Owner, () => undefined)
    if (owner !== undefined && ownerIsAlive(owner)) {
      throw new PostgresServerError(
        owner.role === "admin command"
          ? `an admin command (npm run admin, pid ${owner.pid}) is using this DATA_DIR; start again once it has finished`
          : `another gateway (pid ${owner.pid}) is running on this DATA_DIR; stop it or choose another DATA_DIR`
      )
    }
    await rm(file, { force: true })
  }
  throw new PostgresServerError(`cannot claim ${file}: other gateways are starting on this DATA_DIR at the same time`)
}

/**
 * Starts the embedded default's PostgreSQL: its cluster lives in `DATA_DIR/postgres` (created on
 * the first start, kept across restarts), it listens on 127.0.0.1 only, on a free port, and it
 * stops when the scope closes. A server left running by a gateway that is gone (killed with
 * SIGKILL, a crashed container) is recognised by its lock files and stopped first; a live
 * gateway's is never touched. Postgres refuses to run as root, so as root it runs as the
 * `postgres` system user (created if missing).
 */
export const startEmbeddedPostgres = (dataDir: string, role: EmbeddedRole = "gateway"): Effect.Effect<
  {
    readonly url: Redacted.Redacted<string>
    readonly byokKey: Redacted.Redacted<string>
    /** Where the cluster is. */
    readonly cluster: string
    /** A server left behind by a gateway that is gone, stopped before this one started. */
    readonly recovered: number | undefined
    /** A cluster of an earlier, removed DATA_DIR at the same path, moved out of the way. */
    readonly setAside: string | undefined
  },
  EmbeddedPostgresError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const root = resolve(dataDir)
    const attempt = <A>(what: string, work: () => Promise<A>) =>
      Effect.tryPromise({
        try: work,
        catch: (cause) =>
          new EmbeddedPostgresError({
            message: cause instanceof PostgresServerError
              ? cause.message
              : `${what}: ${cause instanceof Error ? cause.message : String(cause)}`
          })
      })

    const secrets = yield* attempt(`cannot prepare ${root}`, async () => {
      await mkdir(root, { recursive: true })
      return loadOrCreateSecrets(root)
    })
    yield* Effect.acquireRelease(attempt(`cannot claim ${root}`, () => claim(root, role)), (release) => Effect.promise(release))
    const user = yield* attempt("cannot choose the PostgreSQL user", serverUser)
    const bins = yield* attempt("cannot find the PostgreSQL binaries", () => binaries(user))
    const setAside: Array<string> = []
    const home = yield* attempt(`cannot prepare a directory for the cluster of ${root}`, () => clusterHome(root, user, setAside))
    const cluster = join(home, "postgres")

    // This process holds DATA_DIR's lock, so a server still running on the cluster was left by a
    // gateway that is gone.
    const left = yield* attempt("cannot inspect the cluster", () => runningPostmaster(cluster))
    if (left !== undefined) {
      yield* attempt("cannot stop the PostgreSQL server left running by a previous gateway", () => stopPostmaster(left.pid))
    }
    if (!(yield* Effect.promise(() => exists(join(cluster, "PG_VERSION"))))) {
      yield* attempt(`cannot create a PostgreSQL cluster in ${cluster}`, () =>
        initCluster({ cluster, password: secrets.postgresPassword, user, binaries: bins }))
    }
    const port = yield* Effect.promise(freePort)
    yield* Effect.acquireRelease(
      attempt(`cannot start PostgreSQL on ${cluster}`, () =>
        startServer({ cluster, password: secrets.postgresPassword, user, binaries: bins, port, settings: [] })),
      (server) => Effect.promise(server.stop)
    )
    return {
      url: Redacted.make(`postgres://postgres:${encodeURIComponent(secrets.postgresPassword)}@127.0.0.1:${port}/postgres`),
      byokKey: Redacted.make(secrets.byokKey),
      cluster,
      recovered: left?.pid,
      setAside: setAside[0]
    }
  })

// --- another process on a running gateway's cluster ---------------------------------------------

const readSecrets = async (root: string): Promise<LocalSecrets> => {
  const parsed = JSON.parse(await readFile(join(root, "secrets.json"), "utf8")) as Partial<LocalSecrets>
  if (typeof parsed.postgresPassword !== "string" || typeof parsed.byokKey !== "string") {
    throw new PostgresServerError(`${join(root, "secrets.json")} does not hold the cluster's password`)
  }
  return { postgresPassword: parsed.postgresPassword, byokKey: parsed.byokKey }
}

/** Where `clusterHome` put DATA_DIR's cluster: DATA_DIR/postgres, or the place DATA_DIR/postgres-location names. */
const clusterOf = async (root: string): Promise<string> => {
  const recorded = await readFile(join(root, "postgres-location"), "utf8").then((text) => text.split("\n")[0]!.trim(), () => "")
  return recorded === "" ? join(root, "postgres") : recorded
}

/** The status line of a cluster's `postmaster.pid` (`starting`, `ready`, `stopping`), if it has one. */
const postmasterStatus = (cluster: string) =>
  readFile(join(cluster, "postmaster.pid"), "utf8").then((text) => text.split("\n")[7]?.trim(), () => undefined)

/**
 * The embedded PostgreSQL of the gateway running on DATA_DIR, for another process (the admin CLI)
 * to connect to without claiming DATA_DIR: none when no live gateway holds `DATA_DIR/gateway.lock`.
 * A gateway still starting is waited for (its server ready to accept connections) up to
 * `timeoutMs`; one that stops meanwhile counts as none.
 */
export const attachEmbeddedPostgres = (dataDir: string, options: { readonly timeoutMs?: number } = {}): Effect.Effect<
  Option.Option<{
    readonly url: Redacted.Redacted<string>
    readonly byokKey: Redacted.Redacted<string>
    readonly cluster: string
    /** The gateway's process. */
    readonly gateway: number
  }>,
  EmbeddedPostgresError
> =>
  Effect.tryPromise({
    try: async () => {
      const root = resolve(dataDir)
      const deadline = Date.now() + (options.timeoutMs ?? 30_000)
      const owner = () =>
        readFile(join(root, "gateway.lock"), "utf8").then(
          (text) => JSON.parse(text) as Owner,
          () => undefined
        // Only a gateway's server is shared; another admin command's stops when that command ends.
        ).then((o) => (o !== undefined && o.role !== "admin command" && ownerIsAlive(o) ? o : undefined))
      for (;;) {
        const gateway = await owner()
        if (gateway === undefined) return Option.none()
        const cluster = await clusterOf(root)
        const server = await runningPostmaster(cluster)
        if (server !== undefined && (await postmasterStatus(cluster)) === "ready") {
          const secrets = await readSecrets(root)
          return Option.some({
            url: Redacted.make(`postgres://postgres:${encodeURIComponent(secrets.postgresPassword)}@127.0.0.1:${server.port}/postgres`),
            byokKey: Redacted.make(secrets.byokKey),
            cluster,
            gateway: gateway.pid
          })
        }
        if (Date.now() > deadline) {
          throw new PostgresServerError(
            `the gateway (pid ${gateway.pid}) running on this DATA_DIR has no PostgreSQL ready on ${cluster} after ${(options.timeoutMs ?? 30_000) / 1000} s`
          )
        }
        await new Promise((wake) => setTimeout(wake, 50))
      }
    },
    catch: (cause) =>
      new EmbeddedPostgresError({
        message: cause instanceof PostgresServerError
          ? cause.message
          : `cannot reach the running gateway's PostgreSQL: ${cause instanceof Error ? cause.message : String(cause)}`
      })
  })
