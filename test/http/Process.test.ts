import { type ChildProcess, execFile, spawn } from "node:child_process"
import { mkdtemp, readFile, rm } from "node:fs/promises"
import { createServer } from "node:net"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { DEMO } from "../../src/DemoData.ts"

const ROOT = new URL("../../", import.meta.url).pathname
const run = promisify(execFile)

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const probe = createServer()
    probe.once("error", reject)
    probe.listen(0, "127.0.0.1", () => {
      const address = probe.address()
      probe.close(() => (typeof address === "object" && address !== null ? resolve(address.port) : reject(address)))
    })
  })

interface Started {
  readonly child: ChildProcess
  readonly output: () => string
  readonly exited: Promise<number | null>
}

/** `npm start`'s command (`node src/main.ts`) with the given environment, until it announces itself. */
const start = (env: Record<string, string>): Promise<Started> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["src/main.ts"], { cwd: ROOT, env: { ...process.env, ...env }, stdio: "pipe" })
    let out = ""
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
    const timer = setTimeout(() => reject(new Error(`no start-up within 20 s:\n${out}`)), 20_000)
    const onData = (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes("Try it")) {
        clearTimeout(timer)
        resolve({ child, output: () => out, exited })
      }
    }
    child.stdout.on("data", onData)
    child.stderr.on("data", (chunk: Buffer) => void (out += chunk.toString()))
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`exited with ${code} before start-up:\n${out}`))
    })
  })

/** The incident report's three commands, exactly as SPEC §11 prints them. */
const incidentCommands = async (): Promise<ReadonlyArray<string>> => {
  const spec = await readFile(join(ROOT, "../shared/SPEC.md"), "utf8")
  const block = /## 11\.[\s\S]*?```bash\n([\s\S]*?)```/.exec(spec)![1]!
  return block.split(/\n(?=curl )/).map((command) => command.replace(/\n# .*$/s, "").trim())
}

describe("npm start (node src/main.ts) with STORAGE=memory", () => {
  let server: Started
  let origin: string
  let dataDir: string

  beforeAll(async () => {
    const port = await freePort()
    origin = `http://127.0.0.1:${port}`
    dataDir = await mkdtemp(join(tmpdir(), "gateway-data-"))
    server = await start({ STORAGE: "memory", PORT: String(port), HOST: "127.0.0.1", DATA_DIR: dataDir })
  })
  afterAll(async () => {
    if (server.child.exitCode === null) server.child.kill("SIGKILL")
    await rm(dataDir, { recursive: true, force: true })
  })

  const credits = async (headers: Record<string, string>) =>
    (await (await fetch(`${origin}/api/v1/llm/credits`, { headers })).json()) as { user_id: string; credits_remaining: number }

  it("prints the demo data, marked as such, and the incident report's commands", () => {
    const out = server.output()
    expect(out).toContain(`Image Gateway listening on ${origin}`)
    expect(out).toContain("DEMO DATA")
    expect(out).toContain("sk-presenton-service-key-2025")
    expect(out).toContain(DEMO.alice.id)
    expect(out).toContain(`${origin}/docs`)
  })

  it("runs the incident report's three curl commands verbatim: 48 credits from the org, 48 from Alice, nothing for BYOK", async () => {
    const commands = await incidentCommands()
    expect(commands).toHaveLength(3)
    const curl = async (command: string) => {
      const local = command.replaceAll("http://127.0.0.1:8080", origin)
      const { stdout } = await run("bash", ["-c", `${local} -s -w '\\n%{http_code}'`])
      const lines = stdout.trimEnd().split("\n")
      return { status: Number(lines.at(-1)), body: JSON.parse(lines.slice(0, -1).join("\n")) }
    }
    const org = { authorization: "Bearer sk-presenton-service-key-2025" }
    const alice = { authorization: `Bearer ${DEMO.alice.key}` }
    const bob = { authorization: `Bearer ${DEMO.bob.key}` }

    const first = await curl(commands[0]!)
    expect(first.status).toBe(200)
    expect(first.body._metadata).toMatchObject({ billed_to: "org_presenton_service", cost_incurred: 48, credits_remaining: 9952 })
    expect(first.body.data[0].url.startsWith(`${origin}/v1/images/files/`)).toBe(true)
    expect((await fetch(first.body.data[0].url)).headers.get("content-type")).toBe("image/png")
    expect(await credits(alice)).toMatchObject({ credits_remaining: 1000 })

    const second = await curl(commands[1]!)
    expect(second.status).toBe(200)
    expect(second.body._metadata).toMatchObject({ billed_to: DEMO.alice.id, cost_incurred: 48, credits_remaining: 952 })
    expect(await credits(org)).toMatchObject({ user_id: "org_presenton_service", credits_remaining: 9952 })

    const third = await curl(commands[2]!)
    expect(third.status).toBe(200)
    expect(third.body._metadata).toMatchObject({ using_byok: true, byok_provider: "openai", cost_incurred: 0, provider_used: "local" })
    expect(await credits(bob)).toMatchObject({ credits_remaining: 0 })
    expect(await credits(org)).toMatchObject({ credits_remaining: 9952 })
    expect(await credits(alice)).toMatchObject({ credits_remaining: 952 })
  })

  it("stops on SIGTERM", async () => {
    server.child.kill("SIGTERM")
    expect(await server.exited).toBe(0)
  })
})

describe("start-up configuration", () => {
  it.each([
    [{ PORT: "eighty" }, "PORT"],
    [{ PORT: "70000" }, "PORT"],
    [{ STORAGE: "mysql" }, "STORAGE"],
    [{ DEMO: "perhaps" }, "DEMO"],
    [{ PUBLIC_URL: "not a url" }, "PUBLIC_URL"]
  ])("stops with a message naming the variable for %o", async (env, variable) => {
    const failure = await run(process.execPath, ["src/main.ts"], { cwd: ROOT, env: { ...process.env, ...env } }).then(
      () => undefined,
      (e: { code: number; stderr: string }) => e
    )
    expect(failure?.code).toBe(78)
    expect(failure?.stderr).toMatch(new RegExp(`^Invalid configuration: ${variable}: `))
    expect(failure?.stderr).not.toContain("    at ")
  })
})
