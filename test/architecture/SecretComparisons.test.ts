import { readdirSync, readFileSync } from "node:fs"
import { join, relative } from "node:path"
import { describe, expect, it } from "vitest"

/**
 * How secrets are compared, as the source shows it (docs/security.md, "Constant time"):
 *
 * - API keys, admin keys and session tokens are never compared: they are hashed (SHA-256) and
 *   looked up by the hash, so the lookup's timing says nothing about the secret;
 * - a secret held in the configuration and sent back by a caller (METRICS_TOKEN, the dashboard's
 *   CSRF token) is compared with `crypto.timingSafeEqual`;
 * - a service JWT's signature is checked by jose (WebCrypto's HMAC verify).
 *
 * Every secret the gateway holds is `Redacted`; `Redacted.value` is the one way to its text. So a
 * plain comparison of a secret shows as `Redacted.value(…)` next to `===`, `!==`, `==` or `!=`.
 * (A secret first copied into a variable and compared through it escapes this check: the
 * review covers that.)
 */

const SRC = new URL("../../src/", import.meta.url).pathname

const filesUnder = (dir: string): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) =>
    entry.isDirectory() ? filesUnder(join(dir, entry.name)) : entry.name.endsWith(".ts") ? [join(dir, entry.name)] : []
  )

/** `Redacted.value(<balanced argument>)`, then an optional property access that is not `.length`. */
const REVEALED = String.raw`Redacted\.value\((?:[^()]|\([^()]*\))*\)(?!\.length)`
const EQUALITY = String.raw`\s*[!=]==?\s*`

/** Lines of `source` that compare a revealed secret with `==`/`===`/`!=`/`!==`. */
export const plainSecretComparisons = (source: string): Array<string> =>
  source.split("\n").filter((text) => {
    // Whether a secret is set at all (compared with the empty string) says nothing about it.
    const line = text.replace(/\s*[!=]==?\s*(""|'')/g, "").replace(/(""|'')\s*[!=]==?\s*/g, "")
    return new RegExp(REVEALED + EQUALITY).test(line) || new RegExp(String.raw`[!=]==?\s*` + REVEALED).test(line)
  }).map((line) => line.trim())

describe("secrets are compared in constant time, or not at all", () => {
  it("the rule sees a plain comparison, and lets a length check or a timingSafeEqual through", () => {
    expect(plainSecretComparisons("if (Redacted.value(token) === sent) ok()")).toHaveLength(1)
    expect(plainSecretComparisons("return sent !== Redacted.value(config.metricsToken)")).toHaveLength(1)
    expect(plainSecretComparisons("a == Redacted.value(f(x))")).toHaveLength(1)
    expect(plainSecretComparisons("if (Redacted.value(secret).length < 32) fail()")).toEqual([])
    expect(plainSecretComparisons("Option.filter((u) => Redacted.value(u) !== \"\")")).toEqual([])
    expect(plainSecretComparisons("Redacted.value(u) === \"hunter2\"")).toHaveLength(1)
    expect(plainSecretComparisons("timingSafeEqual(digestOf(sent), digestOf(Redacted.value(token)))")).toEqual([])
  })

  it("no source file compares a secret's value with an equality operator", () => {
    const found = filesUnder(SRC).flatMap((file) =>
      plainSecretComparisons(readFileSync(file, "utf8")).map((line) => `${relative(SRC, file)}: ${line}`)
    )
    expect(found).toEqual([])
  })

  it("the secrets a caller sends back are checked with timingSafeEqual", () => {
    const source = (path: string) => readFileSync(join(SRC, path), "utf8")
    // METRICS_TOKEN: the bearer token against the configured one, as SHA-256 digests (equal lengths).
    expect(source("adapters/http/Server.ts")).toMatch(/timingSafeEqual\(digestOf\(sent\.success\), digestOf\(Redacted\.value\(token\)\)\)/)
    // The dashboard's CSRF token against the one derived from the session.
    expect(source("adapters/dashboard/DashboardSessions.ts")).toMatch(/timingSafeEqual\(given, expected\)/)
  })

  it("keys and sessions are looked up by the hash of the secret, never by the secret", () => {
    const resolver = readFileSync(join(SRC, "application/PrincipalResolver.ts"), "utf8")
    expect(resolver).toMatch(/Effect\.flatMap\(hash\(token\), keys\.findByHash\)/)
    expect(resolver).toMatch(/sessions\.find\(yield\* hash\(token\)\)/)
    // The only key look-up the port offers is by hash.
    const keyStore = readFileSync(join(SRC, "application/ports/KeyStore.ts"), "utf8")
    expect(keyStore).toMatch(/findByHash/)
    expect(keyStore).not.toMatch(/findBySecret|findByKey\b/)
  })
})
