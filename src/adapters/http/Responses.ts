import { Clock, Effect } from "effect"
import { HttpServerResponse } from "effect/http"
import type { DomainError } from "../../domain/Errors.ts"
import type { Principal } from "../../domain/Principal.ts"
import { errorResponse, fromDomainError } from "./ErrorMapping.ts"
import { JWT_MIGRATION_PATH } from "./JwtMigrationRoute.ts"
import type { HttpFailure } from "./Requests.ts"

/** A JSON response; the body is serialized once, with no schema work on the hot path. */
export const json = (
  body: unknown,
  options: { readonly status?: number; readonly headers?: Record<string, string> } = {}
): HttpServerResponse.HttpServerResponse =>
  HttpServerResponse.text(JSON.stringify(body), {
    status: options.status ?? 200,
    contentType: "application/json",
    headers: options.headers
  })

/**
 * `Deprecation` (RFC 9745, as of now) and `Sunset` (RFC 8594) when the credential used is
 * deprecated, and a `Link` (rel "deprecation") to the JWT migration guide the gateway serves.
 */
export const deprecationHeaders = (principal: Principal, now: number): Record<string, string> =>
  principal.deprecation === undefined
    ? {}
    : {
      deprecation: `@${Math.floor(now / 1000)}`,
      sunset: new Date(principal.deprecation.sunset).toUTCString(),
      link: `<${JWT_MIGRATION_PATH}>; rel="deprecation"`
    }

/** Any failure of a handler as OpenAI's error response. */
export const failureResponse = (e: HttpFailure | DomainError) =>
  e._tag === "HttpFailure"
    ? Effect.succeed(errorResponse(e.wire))
    : Effect.map(Clock.currentTimeMillis, (now) => errorResponse(fromDomainError(e, now)))
