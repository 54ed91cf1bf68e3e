import { spawn } from "node:child_process"
import { request } from "node:http"
import { chmod, mkdir, mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll, describe, expect, it } from "vitest"
import { isAlive, runningPostmaster } from "../../src/adapters/postgres/PostgresServer.ts"
import { creditsOf, freePort, ROOT, startGatewayProcess } from "./support/Processes.ts"

interface Attempt {
  readonly status: number | "refused" | "hung" | "error"
  readonly code?: string | undefined
  readonly retryAfter?: string | undefined
}

/** One request with a deadline: what came back, a refused connection, or nothing within `deadlineMs`. */
const attempt = (port: number, method: string, path: string, body?: string, deadlineMs = 3_000) =>
  new Promise<Attempt>((done) => {
    const req = request({
      host: "127.0.0.1",
      port,
      method,
      path,
      agent: false,
      headers: body === undefined
        ? {}
        : { "content-type": "application/json", authorization: "Bearer sk-presenton-service-key-2025" }
    }, (res) => {
      let text = ""
      res.on("data", (chunk: Buffer) => void (text += chunk.toString()))
      res.on("end", () => {
        clearTimeout(timer)
        let code: string | undefined
        try {
          code = JSON.parse(text)?.error?.code
        } catch {
          code = undefined
        }
        done({ status: res.statusCode!, code, retryAfter: res.headers["retry-after"] as string | undefined })
      })
    })
    const timer = setTimeout(() => {
      req.destroy()
      done({ status: "hung" })
    }, deadlineMs)
    req.on("error", (error: NodeJS.ErrnoException) => {
      clearTimeout(timer)
      done({ status: error.code === "ECONNREFUSED" ? "refused" : "error", code: error.code ?? error.message })
    })
    req.end(body)
  })

const sleep = (ms: number) => new Promise((wake) => setTimeout(wake, ms))

const GENERATE = JSON.stringify({ prompt: "a lighthouse", model: "dall-e-3", size: "1024x1024", quality: "standard" })

/** A gateway spawned as `npm start` runs it, without waiting for it to announce itself. */
const spawnGateway = (env: Record<string, string>) => {
  const child = spawn(process.execPath, ["src/main.ts"], { cwd: ROOT, env: { ...process.env, ...env }, stdio: "pipe" })
  let out = ""
  child.stdout.on("data", (chunk: Buffer) => void (out += chunk.toString()))
  child.stderr.on("data", (chunk: Buffer) => void (out += chunk.toString()))
  const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
  return { child, output: () => out, exited }
}

describe("first run: start-up, crashes and directories", () => {
  const dirs: Array<string> = []
  const children: Array<{ kill: (signal: NodeJS.Signals) => boolean }> = []
  afterAll(async () => {
    for (const child of children) child.kill("SIGKILL")
    await sleep(200)
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })
  const dataDir = async () => {
    const dir = await mkdtemp(join(tmpdir(), "gateway-first-run-"))
    dirs.push(dir)
    return dir
  }
  const embedded = (dir: string, port: number) => ({
    DATA_DIR: dir,
    PORT: String(port),
    HOST: "127.0.0.1",
    STORAGE: "",
    DATABASE_URL: ""
  })

  it("answers every request made from the moment it is spawned: a prompt 503 `starting` until ready, nothing charged, never silence", async () => {
    const dir = await dataDir()
    const port = await freePort()
    const gateway = spawnGateway(embedded(dir, port))
    children.push(gateway.child)
    const attempts: Array<Promise<Attempt>> = []
    let ready = false
    const deadline = Date.now() + 30_000
    // A connection every 20 ms from launch (a GET and a paid POST in turn) until one gets a 200.
    for (let i = 0; !ready && Date.now() < deadline; i++) {
      const next = i % 2 === 0 ? attempt(port, "GET", "/v1/models") : attempt(port, "POST", "/v1/images/generations", GENERATE)
      attempts.push(next)
      void next.then((a) => void (a.status === 200 && (ready = true)))
      await sleep(20)
    }
    const results = await Promise.all(attempts)
    expect(ready).toBe(true)
    expect(results.filter((a) => a.status === "hung" || a.status === "error")).toEqual([])
    const early = results.filter((a) => a.status === 503)
    // The port opens before the database is ready: requests in that window were answered.
    expect(early.length).toBeGreaterThan(0)
    for (const a of early) expect(a).toMatchObject({ code: "starting", retryAfter: "1" })
    const paid = results.filter((a, i) => i % 2 === 1 && a.status === 200).length
    // Only the generations answered 200 were charged: 48 credits each from the organization's 10,000.
    expect(await creditsOf(`http://127.0.0.1:${port}`, "sk-presenton-service-key-2025")).toMatchObject({
      credits_remaining: 10_000 - 48 * paid
    })
    gateway.child.kill("SIGTERM")
    expect(await gateway.exited).toBe(0)
  })

  it("starts again after being killed with SIGKILL: the PostgreSQL server it left is recognised, stopped and replaced, and no data is lost", async () => {
    const dir = await dataDir()
    const port = await freePort()
    const origin = `http://127.0.0.1:${port}`
    const first = await startGatewayProcess(embedded(dir, port))
    children.push(first.child)
    expect(await attempt(port, "POST", "/v1/images/generations", GENERATE)).toMatchObject({ status: 200 })
    first.child.kill("SIGKILL")
    await first.exited
    const left = await runningPostmaster(join(dir, "postgres"))
    expect(left).toBeDefined()

    const second = await startGatewayProcess(embedded(dir, port))
    children.push(second.child)
    expect(second.output()).toContain(`Stopped the embedded PostgreSQL (pid ${left!.pid}) that a previous gateway on this DATA_DIR left running.`)
    expect(isAlive(left!.pid)).toBe(false)
    expect(await creditsOf(origin, "sk-presenton-service-key-2025")).toMatchObject({ credits_remaining: 10_000 - 48 })
    expect(await second.stop()).toBe(0)
    // A clean stop leaves no server and no lock behind.
    expect(await runningPostmaster(join(dir, "postgres"))).toBeUndefined()
    await expect(readFile(join(dir, "gateway.lock"))).rejects.toThrow()
  })

  it("never touches the server of a live gateway: a second gateway on the same DATA_DIR stops at once with one line", async () => {
    const dir = await dataDir()
    const port = await freePort()
    const first = await startGatewayProcess(embedded(dir, port))
    children.push(first.child)
    const second = spawnGateway(embedded(dir, await freePort()))
    children.push(second.child)
    expect(await Promise.race([second.exited, sleep(15_000).then(() => "still running")])).toBe(78)
    expect(second.output().trim().split("\n")).toEqual([
      `DATA_DIR (${dir}): another gateway (pid ${first.child.pid}) is running on this DATA_DIR; stop it or choose another DATA_DIR`
    ])
    expect(await attempt(port, "POST", "/v1/images/generations", GENERATE)).toMatchObject({ status: 200 })
    expect(await first.stop()).toBe(0)
  })

  it.skipIf(process.getuid?.() !== 0)(
    "as root, runs with DATA_DIR inside a directory only root can enter (the cluster goes where the postgres user can reach it)",
    async () => {
      const parent = await dataDir()
      await chmod(parent, 0o700)
      const dir = join(parent, "private", "data")
      await mkdir(dir, { recursive: true })
      const port = await freePort()
      const gateway = await startGatewayProcess(embedded(dir, port))
      children.push(gateway.child)
      const location = (await readFile(join(dir, "postgres-location"), "utf8")).split("\n")[0]!
      expect(location.startsWith("/var/lib/image-gateway/data-")).toBe(true)
      expect(gateway.output()).toContain(`its cluster in ${location} (the postgres user cannot enter DATA_DIR)`)
      expect(await attempt(port, "POST", "/v1/images/generations", GENERATE)).toMatchObject({ status: 200 })
      expect(await gateway.stop()).toBe(0)
      dirs.push(join(location, ".."))

      // DATA_DIR removed (its secrets with it) and the gateway started again at the same path:
      // the cluster kept for that path cannot be opened any more; it is set aside, not reused.
      await rm(dir, { recursive: true, force: true })
      await mkdir(dir, { recursive: true })
      const again = await startGatewayProcess(embedded(dir, port))
      children.push(again.child)
      expect(again.output()).toMatch(/that cluster was moved to \/var\/lib\/image-gateway\/data-[0-9a-f]+\/postgres\.set-aside-/)
      expect(await attempt(port, "POST", "/v1/images/generations", GENERATE)).toMatchObject({ status: 200 })
      expect(await again.stop()).toBe(0)
    }
  )
})
