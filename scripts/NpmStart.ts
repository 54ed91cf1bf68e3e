import { readFileSync } from "node:fs"
import { join } from "node:path"

/**
 * `npm start` as package.json spells it — `[VAR=value …] node [flags …] src/main.ts` — as the
 * environment and arguments to spawn this very node with, so that a benchmark measures the
 * gateway exactly as a user launches it. `script` replaces package.json's (to compare another).
 */
export const npmStart = (root: string, script?: string) => {
  const start = script ?? (JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { scripts: { start: string } }).scripts.start
  const words = start.trim().split(/\s+/)
  const env: Record<string, string> = {}
  while (words.length > 0 && /^[A-Z_]+=/.test(words[0]!)) {
    const [name, ...value] = words.shift()!.split("=")
    env[name!] = value.join("=").replace(/^["']|["']$/g, "")
  }
  if (words.shift() !== "node") throw new Error(`the start script does not run node: ${start}`)
  return { script: start, env, args: words }
}
