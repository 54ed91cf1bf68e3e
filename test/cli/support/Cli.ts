import { spawn } from "node:child_process"
import { readFileSync } from "node:fs"
import { join } from "node:path"
import { npmStart } from "../../../scripts/NpmStart.ts"
import { ROOT } from "../../http/support/Processes.ts"

/** `npm run admin`'s command as package.json spells it: its environment and node's arguments. */
const adminScript = npmStart(
  ROOT,
  (JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as { scripts: { admin: string } }).scripts.admin
)

export interface CliRun {
  readonly code: number | null
  readonly stdout: string
  readonly stderr: string
}

/**
 * `npm run admin -- <args>`, run as package.json spells the script (on this very node) to its
 * end, with `env` added to this process's environment and `input` on stdin; killed and failed
 * after `timeoutMs`.
 */
export const runCli = (
  args: ReadonlyArray<string>,
  options: { readonly env: Record<string, string>; readonly input?: string; readonly timeoutMs?: number }
): Promise<CliRun> =>
  new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...adminScript.args, ...args], {
      cwd: ROOT,
      env: { ...process.env, ...adminScript.env, ...options.env },
      stdio: "pipe"
    })
    let stdout = ""
    let stderr = ""
    child.stdout.on("data", (chunk: Buffer) => void (stdout += chunk.toString()))
    child.stderr.on("data", (chunk: Buffer) => void (stderr += chunk.toString()))
    const timeoutMs = options.timeoutMs ?? 30_000
    const timer = setTimeout(() => {
      child.kill("SIGKILL")
      reject(new Error(`admin ${args.join(" ")}: no exit within ${timeoutMs / 1000} s\nstdout: ${stdout}\nstderr: ${stderr}`))
    }, timeoutMs)
    child.once("error", (error) => {
      clearTimeout(timer)
      reject(error)
    })
    child.once("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
    child.stdin.end(options.input ?? "")
  })

/** The run's stdout as JSON (`--json`), failing with what it printed when it is not. */
export const jsonOf = (run: CliRun): any => {
  try {
    return JSON.parse(run.stdout)
  } catch {
    throw new Error(`not JSON (exit ${run.code}):\nstdout: ${run.stdout}\nstderr: ${run.stderr}`)
  }
}
