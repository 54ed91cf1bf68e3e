import { Effect, Layer } from "effect"
import { HttpRouter, HttpServerResponse } from "effect/http"
import { errorResponse, resourceNotFound } from "./ErrorMapping.ts"

/** Where a deprecated key's `Link` header points (`deprecationHeaders`, Responses.ts). */
export const JWT_MIGRATION_PATH = "/docs/jwt-migration"

/** The README's "## JWT migration" section: from its heading to the next second-level heading. */
export const jwtMigrationSection = (readme: string): string | undefined => {
  const start = readme.search(/^## JWT migration[ \t]*$/m)
  if (start < 0) return undefined
  const rest = readme.slice(start)
  const next = rest.slice(1).search(/^## /m)
  return `${(next < 0 ? rest : rest.slice(0, next + 1)).trimEnd()}\n`
}

const README = new URL("../../../README.md", import.meta.url)

const guideMissing = errorResponse(resourceNotFound(
  "guide_not_found",
  "The JWT migration guide is not installed with this gateway; it is the README's section 'JWT migration'."
))

/**
 * `GET /docs/jwt-migration`: the README's JWT migration guide as Markdown, the target of the
 * `Link` a deprecated key's responses carry. Read on the first request and kept; a gateway
 * installed without its README answers 404.
 */
export const JwtMigrationRoute = Layer.effectDiscard(Effect.gen(function*() {
  const router = yield* HttpRouter.HttpRouter
  const guide = yield* Effect.cached(
    Effect.promise(() => process.getBuiltinModule("node:fs/promises").readFile(README, "utf8").catch(() => "")).pipe(
      Effect.map(jwtMigrationSection)
    )
  )
  yield* router.add(
    "GET",
    JWT_MIGRATION_PATH,
    Effect.map(guide, (text) =>
      text === undefined
        ? guideMissing
        : HttpServerResponse.text(text, {
          contentType: "text/markdown; charset=utf-8",
          headers: { "cache-control": "public, max-age=3600" }
        }))
  )
}))
