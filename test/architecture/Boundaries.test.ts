import { readdirSync, readFileSync } from "node:fs"
import { dirname, join, relative, resolve } from "node:path"
import { describe, expect, it } from "vitest"

/**
 * The hexagon's rings, as the imports show them: `src/domain` imports only the domain and
 * `effect`; `src/application` only the domain, the application and `effect` (and `jose`, the JWT
 * library the resolver verifies service tokens with). Neither imports an adapter, `node:*`, a
 * driver, an SDK, or effect's HTTP and SQL modules: a queue consumer or a CLI can reuse the core
 * without any of them.
 */

const SRC = new URL("../../src/", import.meta.url).pathname

const filesUnder = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )

/** Every module specifier a file imports or re-exports, statically or dynamically (types included). */
export const importsOf = (source: string): Array<string> => {
  const found: Array<string> = []
  const patterns = [
    /^\s*(?:import|export)\s[^'"]*?\sfrom\s+["']([^"']+)["']/gm,
    /^\s*import\s+["']([^"']+)["']/gm,
    /\bimport\(\s*["']([^"']+)["']\s*\)/g
  ]
  for (const pattern of patterns) for (const match of source.matchAll(pattern)) found.push(match[1]!)
  return found
}

const ring = (file: string) => relative(SRC, file).split("/")[0]!

/** Why `specifier`, imported by `file`, crosses the boundary; undefined when it may. */
export const violation = (file: string, specifier: string): string | undefined => {
  const from = ring(file)
  if (specifier.startsWith(".")) {
    const target = resolve(dirname(file), specifier)
    if (!target.startsWith(SRC)) return "outside src/"
    const to = ring(target)
    const allowed = from === "domain" ? ["domain"] : ["domain", "application"]
    return allowed.includes(to) ? undefined : `the ${to} ring`
  }
  if (specifier.startsWith("node:")) return "a Node built-in"
  if (specifier === "effect" || specifier.startsWith("effect/")) {
    return /^effect\/(http|sql)/.test(specifier) ? "effect's HTTP or SQL modules" : undefined
  }
  if (from === "application" && specifier === "jose") return undefined
  return "a package outside the core's dependencies (driver, SDK, platform)"
}

describe("the core's imports point inwards", () => {
  for (const layer of ["domain", "application"]) {
    it(`src/${layer} imports nothing outside the core`, () => {
      const problems = filesUnder(join(SRC, layer)).flatMap((file) =>
        importsOf(readFileSync(file, "utf8")).flatMap((specifier) => {
          const why = violation(file, specifier)
          return why === undefined ? [] : [`${relative(SRC, file)} imports '${specifier}' (${why})`]
        })
      )
      expect(problems).toEqual([])
    })
  }

  it("the check itself refuses each kind of import it guards against", () => {
    const file = join(SRC, "application/Example.ts")
    expect(importsOf(`import { x } from "../adapters/http/Api.ts"\nimport type { Y } from "node:http"\nconst z = await import("pg")`))
      .toEqual(["../adapters/http/Api.ts", "node:http", "pg"])
    expect(violation(file, "../adapters/http/Api.ts")).toBe("the adapters ring")
    expect(violation(file, "node:crypto")).toBeDefined()
    expect(violation(file, "effect/http")).toBeDefined()
    expect(violation(file, "effect/sql/SqlClient")).toBeDefined()
    expect(violation(file, "@effect/sql-pg")).toBeDefined()
    expect(violation(file, "openai")).toBeDefined()
    expect(violation(file, "@effect/platform-node/NodeCrypto")).toBeDefined()
    expect(violation(join(SRC, "domain/Example.ts"), "../application/Core.ts")).toBe("the application ring")
    expect(violation(join(SRC, "domain/Example.ts"), "jose")).toBeDefined()
    expect(violation(file, "effect/crypto")).toBeUndefined()
    expect(violation(file, "../domain/Ids.ts")).toBeUndefined()
  })
})
