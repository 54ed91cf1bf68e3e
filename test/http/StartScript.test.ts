import { spawn } from "node:child_process"
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { pathToFileURL } from "node:url"
import { afterAll, describe, expect, it } from "vitest"
import { ROOT } from "./support/Processes.ts"

/**
 * package.json's "start" script as npm runs it (`sh -c`, node_modules/.bin first on PATH). A
 * probe (`--import`, through NODE_OPTIONS) reports at SIGTERM what the process loaded and ran
 * with: the script's own variables and flags must reach node.
 */
const runStartScript = async (dir: string) => {
  const script: string = JSON.parse(await readFile(join(ROOT, "package.json"), "utf8")).scripts.start
  const probe = join(dir, "probe.mjs")
  await writeFile(
    probe,
    `process.stderr.write("PROBE-PID " + process.pid + "\\n")
process.on("SIGTERM", () => process.stderr.write("PROBE " + JSON.stringify({
      amaro: process.moduleLoadList.some((m) => m.includes("amaro")),
      execArgv: process.execArgv,
      compileCache: process.env.NODE_COMPILE_CACHE
    }) + "\\n"))\n`
  )
  const child = spawn("sh", ["-c", script], {
    cwd: ROOT,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      PATH: `${join(ROOT, "node_modules/.bin")}:${process.env["PATH"]}`,
      NODE_OPTIONS: `--import=${pathToFileURL(probe).href}`,
      STORAGE: "memory",
      PORT: "0",
      HOST: "127.0.0.1",
      DATA_DIR: join(dir, "data")
    }
  })
  let out = ""
  child.stdout.on("data", (chunk: Buffer) => void (out += chunk.toString()))
  child.stderr.on("data", (chunk: Buffer) => void (out += chunk.toString()))
  // "close": after the process has exited and its output has been read to the end.
  const exited = new Promise<number | null>((done) => child.once("close", (code) => done(code)))
  for (let waited = 0; !out.includes("Image Gateway listening on"); waited += 50) {
    if (waited > 30_000 || child.exitCode !== null) throw new Error(`npm start's script did not start:\n${out}`)
    await new Promise((wake) => setTimeout(wake, 50))
  }
  // SIGTERM to node (as a supervisor or Ctrl-C would reach it); sh then exits with node's code.
  process.kill(Number(/PROBE-PID (\d+)/.exec(out)![1]), "SIGTERM")
  const code = await exited
  const probed = /PROBE (.*)/.exec(out)
  if (probed === null) throw new Error(`no probe report:\n${out}`)
  return { script, code, ...(JSON.parse(probed[1]!) as { amaro: boolean; execArgv: Array<string>; compileCache: string }) }
}

describe("npm start's script (package.json)", () => {
  const dirs: Array<string> = []
  afterAll(async () => {
    for (const dir of dirs) await rm(dir, { recursive: true, force: true })
  })

  it("starts the gateway with a small young generation and the compile cache on before src/main.ts is read: once the cache is warm, no TypeScript stripper is loaded", async () => {
    const dir = await mkdtemp(join(tmpdir(), "start-script-"))
    dirs.push(dir)
    // The first start fills the cache if it is cold (as after `npm ci`); it is written at exit.
    const first = await runStartScript(dir)
    expect(first.code).toBe(0)
    const second = await runStartScript(dir)
    expect(second.code).toBe(0)
    expect(second.execArgv).toContain("--max-semi-space-size=8")
    expect(second.compileCache).toBe("node_modules/.cache/image-gateway/compile")
    expect(second.amaro).toBe(false)
  })
})
