import { Clock, Effect, Layer, Result } from "effect"
import { HttpServerRequest } from "effect/http"
import { AuthFailures } from "../../application/AuthFailures.ts"
import { PrincipalResolver } from "../../application/PrincipalResolver.ts"
import type { Scope } from "../../domain/Entities.ts"
import { Authenticated, CurrentPrincipal } from "./Api.ts"
import { credentialFrom, onBehalfOfFrom } from "./Credentials.ts"
import { errorResponse, fromDomainError } from "./ErrorMapping.ts"

/** The scope each group of account endpoints needs. */
const SCOPES: Record<string, Scope> = {
  credits: "credits:read",
  byok: "byok:manage"
}

/**
 * `Authenticated`: the caller of an account endpoint, resolved from the request's own headers —
 * the decoded bearer credential is not enough, since a session cookie may stand in for it and a
 * malformed `Authorization` header is refused rather than skipped — for the scope of the
 * endpoint's group. A refusal is answered here, in OpenAI's error shape; the handler never runs.
 */
export const AuthenticatedLayer = Layer.effect(
  Authenticated,
  Effect.gen(function*() {
    const resolver = yield* PrincipalResolver
    const failures = yield* AuthFailures
    return Authenticated.of({
      bearer: (handler, { group }) =>
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          const scope = SCOPES[group.identifier]
          if (scope === undefined) return yield* Effect.die(new Error(`no scope for the group '${group.identifier}'`))
          // The resolver records the credentials it refuses; an unreadable header never reaches it.
          const credential = Effect.tapError(credentialFrom(request.headers), (e) => failures.unauthenticated(e, undefined, "other"))
          const principal = yield* Effect.result(Effect.flatMap(credential, (credential) =>
            resolver.resolve(credential, onBehalfOfFrom(request.headers), scope)))
          if (Result.isFailure(principal)) {
            return errorResponse(fromDomainError(principal.failure, yield* Clock.currentTimeMillis))
          }
          return yield* Effect.provideService(handler, CurrentPrincipal, principal.success)
        })
    })
  })
)
