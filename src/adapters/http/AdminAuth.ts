import { Clock, Effect, Layer, Result } from "effect"
import { HttpServerRequest } from "effect/http"
import { AuthFailures } from "../../application/AuthFailures.ts"
import { PrincipalResolver } from "../../application/PrincipalResolver.ts"
import { AdminAuthenticated, CurrentAdmin } from "./AdminApi.ts"
import { credentialFrom } from "./Credentials.ts"
import { errorResponse, fromDomainError } from "./ErrorMapping.ts"

/**
 * `AdminAuthenticated`: the operator behind the request's admin key, resolved from the request's
 * own headers (a malformed `Authorization` header is refused, not skipped) before the body is
 * read. Any other credential — a service key or JWT, a user key, a session — is refused
 * (`AdminRequired`, 403), an unknown key with 401; the refusal is answered here in OpenAI's error
 * shape and the handler never runs.
 */
export const AdminAuthenticatedLayer = Layer.effect(
  AdminAuthenticated,
  Effect.gen(function*() {
    const resolver = yield* PrincipalResolver
    const failures = yield* AuthFailures
    return AdminAuthenticated.of({
      adminKey: (handler) =>
        Effect.gen(function*() {
          const request = yield* HttpServerRequest.HttpServerRequest
          // The resolver records the credentials it refuses; an unreadable header never reaches it.
          const credential = Effect.tapError(credentialFrom(request.headers), (e) => failures.unauthenticated(e, undefined, "other"))
          const admin = yield* Effect.result(Effect.flatMap(credential, resolver.resolveAdmin))
          if (Result.isFailure(admin)) {
            const wire = fromDomainError(admin.failure, yield* Clock.currentTimeMillis)
            // The image endpoints' wording lists image credentials; here only an admin key works.
            return errorResponse(
              admin.failure._tag === "MissingCredentials"
                ? { ...wire, message: "No credentials were sent. Send 'Authorization: Bearer <admin key>' with an admin key (adm_…)." }
                : wire
            )
          }
          return yield* Effect.provideService(handler, CurrentAdmin, admin.success)
        })
    })
  })
)
