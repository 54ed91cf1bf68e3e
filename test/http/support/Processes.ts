import { type ChildProcess, execFile, spawn } from "node:child_process"
import { readFile } from "node:fs/promises"
import { join } from "node:path"
import { promisify } from "node:util"
import { freePort } from "../../../src/adapters/net/FreePort.ts"
export { freePort }

export const ROOT = new URL("../../../", import.meta.url).pathname
export const exec = promisify(execFile)


export interface Started {
  readonly child: ChildProcess
  readonly output: () => string
  readonly exited: Promise<number | null>
  readonly stop: () => Promise<number | null>
}

/** `npm start`'s command (`node src/main.ts`) with the given environment, until it announces itself. */
export const startGatewayProcess = (env: Record<string, string>): Promise<Started> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ["src/main.ts"], { cwd: ROOT, env: { ...process.env, ...env }, stdio: "pipe" })
    let out = ""
    const exited = new Promise<number | null>((done) => child.once("exit", (code) => done(code)))
    const timer = setTimeout(() => reject(new Error(`no start-up within 30 s:\n${out}`)), 30_000)
    const stop = async () => {
      if (child.exitCode === null) child.kill("SIGTERM")
      return exited
    }
    child.stdout.on("data", (chunk: Buffer) => {
      out += chunk.toString()
      if (out.includes("Image Gateway listening on") && /\n\s*\n|Try it|provider /.test(out)) {
        clearTimeout(timer)
        resolve({ child, output: () => out, exited, stop })
      }
    })
    child.stderr.on("data", (chunk: Buffer) => void (out += chunk.toString()))
    void exited.then((code) => {
      clearTimeout(timer)
      reject(new Error(`exited with ${code} before start-up:\n${out}`))
    })
  })

/** The incident report's three commands, exactly as SPEC §11 prints them. */
/**
 * A gateway process with the demo data on the PostgreSQL database at `url` (migrated by whichever
 * process comes first), drawing images with the local provider, on a free port: its origin.
 */
export const startDemoOnDatabase = async (url: string, started: Array<Started>): Promise<string> => {
  const port = await freePort()
  started.push(await startGatewayProcess({
    DATABASE_URL: url,
    MIGRATE: "1",
    DEMO: "1",
    // Generations are drawn by the local provider (no provider keys in tests).
    LOCAL_PROVIDER: "1",
    BYOK_ENCRYPTION_KEY: "8drrwUU75yHwbeWePqUX9Lh0tTtENQw1RF3a8qQkbfo=",
    PORT: String(port),
    HOST: "127.0.0.1"
  }))
  return `http://127.0.0.1:${port}`
}

export const incidentCommands = async (): Promise<ReadonlyArray<string>> => {
  const spec = await readFile(join(ROOT, "../shared/SPEC.md"), "utf8")
  const block = /## 11\.[\s\S]*?```bash\n([\s\S]*?)```/.exec(spec)![1]!
  return block.split(/\n(?=curl )/).map((command) => command.replace(/\n# .*$/s, "").trim())
}

/** Runs one of those commands with real curl against `origin` (only the host and port changed). */
export const curl = async (command: string, origin: string) => {
  const local = command.replaceAll("http://127.0.0.1:8080", origin)
  const { stdout } = await exec("bash", ["-c", `${local} -s -w '\\n%{http_code}'`])
  const lines = stdout.trimEnd().split("\n")
  return { status: Number(lines.at(-1)), body: JSON.parse(lines.slice(0, -1).join("\n")) }
}

export const creditsOf = async (origin: string, token: string) =>
  (await (await fetch(`${origin}/api/v1/llm/credits`, { headers: { authorization: `Bearer ${token}` } })).json()) as {
    user_id: string
    credits_remaining: number
  }
