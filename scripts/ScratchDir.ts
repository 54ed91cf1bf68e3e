import { chmodSync, mkdtempSync, rmSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

/**
 * A temporary directory for a benchmark's data, removed when the process ends however it ends:
 * normally, on an error, or on SIGINT / SIGTERM (Ctrl-C). It is made enterable by the
 * `postgres` user, which the embedded PostgreSQL runs as under root.
 */
export const scratchDir = (prefix: string): string => {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  chmodSync(dir, 0o755)
  const remove = () => rmSync(dir, { recursive: true, force: true })
  process.once("exit", remove)
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.once(signal, () => process.exit(130))
  }
  return dir
}
