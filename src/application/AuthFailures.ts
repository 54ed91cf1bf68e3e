import { Clock, Context, Effect, Layer, Option, Redacted } from "effect"
import { Digest } from "effect/crypto"
import { decodeJwt } from "jose"
import type { Credential } from "../domain/Credential.ts"
import type { AuthError } from "../domain/Errors.ts"
import { isServiceName } from "../domain/Ids.ts"
import { type BufferedWriterOptions, type BufferedWriterStats, makeBufferedWriter } from "./BufferedWriter.ts"
import { type AuthFailure, AuthFailureLog, type AuthFailureRoute } from "./ports/AuthFailureLog.ts"
import { KeyStore } from "./ports/KeyStore.ts"
import { ServiceRegistry } from "./ports/Repositories.ts"
import { hashWith } from "./Secrets.ts"

export const defaultAuthFailuresOptions: BufferedWriterOptions = {
  flushIntervalMs: 250,
  flushAtItems: 1_000,
  // Anyone can send refused requests: a flood is dropped and counted rather than held.
  capacity: 50_000,
  maxAttempts: 3,
  retryDelayMs: 200,
  writeTimeoutMs: 10_000,
  shutdownTimeoutMs: 5_000
}

/**
 * The error code each refusal gives the caller (the HTTP adapter's, ErrorMapping.ts; a test
 * holds them equal). `null`: not a refusal of the credential (an operator's key on the wrong API).
 */
const REASON: Record<AuthError["_tag"], string | null> = {
  MissingCredentials: "missing_credentials",
  MalformedAuthorization: "malformed_authorization",
  InvalidApiKey: "invalid_api_key",
  InvalidToken: "invalid_token",
  TokenExpired: "token_expired",
  InvalidSession: "invalid_session",
  MissingUserContext: "missing_user_context",
  UserContextForbidden: "user_context_forbidden",
  InvalidUserId: "invalid_user_id",
  UnknownUser: "unknown_user",
  AccountSuspended: "account_suspended",
  ConflictingUserContext: "conflicting_user_context",
  ServiceOrgNotConfigured: "service_org_not_configured",
  ScopeDenied: "scope_denied",
  AdminRequired: null
}

/** The errors that mean who is calling could not be established (401). */
const UNAUTHENTICATED = new Set<AuthError["_tag"]>([
  "MissingCredentials",
  "MalformedAuthorization",
  "InvalidApiKey",
  "InvalidToken",
  "TokenExpired",
  "InvalidSession"
])

export const authFailureReason = (error: AuthError): string | null => REASON[error._tag]

/**
 * Records refused requests in the `AuthFailureLog`, off the request path (`BufferedWriter`):
 * `unauthenticated` refusals with the service they can be attributed to without trusting the
 * credential, and a service's refusals after it authenticated.
 */
export class AuthFailures extends Context.Service<AuthFailures, {
  /** A credential refused before anyone was authenticated; other errors are not recorded here. */
  readonly unauthenticated: (error: AuthError, credential: Credential | undefined, route: AuthFailureRoute) => Effect.Effect<void>
  /** A service that authenticated, refused (a missing or unknown user, its policy, a scope). */
  readonly serviceRefused: (error: AuthError, service: string, route: AuthFailureRoute) => Effect.Effect<void>
  /** Writes what waits now; for callers that must read their own refusals. */
  readonly flush: Effect.Effect<void>
  readonly stats: Effect.Effect<BufferedWriterStats>
}>()("image-gateway/AuthFailures") {
  static readonly layerWith = (
    overrides: Partial<BufferedWriterOptions> = {}
  ): Layer.Layer<AuthFailures, never, AuthFailureLog | KeyStore | ServiceRegistry | Digest.Digest> =>
    Layer.effect(
      AuthFailures,
      Effect.gen(function*() {
        const log = yield* AuthFailureLog
        const keys = yield* KeyStore
        const services = yield* ServiceRegistry
        const hash = hashWith(yield* Digest.Digest)
        const writer = yield* makeBufferedWriter(
          { label: "Auth failure log", noun: "refusals", write: "append", store: "auth failure log" },
          log.append,
          { ...defaultAuthFailuresOptions, ...overrides }
        )

        /** The stored record of a refused key, when there is one: revoked, expired, or of an inactive service. */
        const keyOf = (token: string) =>
          Effect.map(Effect.flatMap(hash(token), keys.findByHash), (found) =>
            Option.match(found, {
              onNone: () => ({}),
              onSome: (key) => ({ keyPrefix: key.prefix, ...(key.owner._tag === "Service" ? { service: key.owner.service } : {}) })
            }))

        /** The registered service a JWT names: its claims are read, not trusted (it failed to verify). */
        const serviceOfJwt = (token: string) => {
          let name: unknown
          try {
            name = decodeJwt(token)["service"]
          } catch {
            return Effect.succeed({})
          }
          return typeof name === "string" && isServiceName(name)
            ? Effect.map(services.find(name), (found) => (Option.isSome(found) ? { service: found.value.name } : {}))
            : Effect.succeed({})
        }

        /** Who a refused credential belongs to, as far as the stores say without trusting it. */
        const attribution = (
          error: AuthError,
          credential: Credential | undefined
        ): Effect.Effect<Pick<AuthFailure, "service" | "keyPrefix">> => {
          if (credential === undefined) return Effect.succeed({})
          if (error._tag === "InvalidApiKey" && (error.state === "revoked" || error.state === "expired")) {
            return "secret" in credential ? keyOf(Redacted.value(credential.secret)) : Effect.succeed({})
          }
          if ((error._tag === "InvalidToken" || error._tag === "TokenExpired") && credential._tag === "ServiceJwt") {
            return serviceOfJwt(Redacted.value(credential.token))
          }
          return Effect.succeed({})
        }

        const unauthenticated = (error: AuthError, credential: Credential | undefined, route: AuthFailureRoute) => {
          const reason = REASON[error._tag]
          if (reason === null || !UNAUTHENTICATED.has(error._tag)) return Effect.void
          return Effect.flatMap(Effect.all([Clock.currentTimeMillis, attribution(error, credential)]), ([at, who]) =>
            writer.offer({ at, route, kind: "unauthenticated", reason, ...who }))
        }

        const serviceRefused = (error: AuthError, service: string, route: AuthFailureRoute) => {
          const reason = REASON[error._tag]
          if (reason === null || UNAUTHENTICATED.has(error._tag)) return Effect.void
          return Effect.flatMap(Clock.currentTimeMillis, (at) => writer.offer({ at, route, kind: "service_refused", reason, service }))
        }

        return AuthFailures.of({ unauthenticated, serviceRefused, flush: writer.flush, stats: writer.stats })
      })
    )

  static readonly layer = AuthFailures.layerWith()
}
