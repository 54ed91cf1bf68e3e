import { Clock, Context, Effect, Layer, Option, Redacted } from "effect"
import { Digest } from "effect/crypto"
import { decodeJwt, decodeProtectedHeader, errors as JoseErrors, jwtVerify } from "jose"
import type { ApiKeyRecord, Scope, Service, User } from "../domain/Entities.ts"
import { SCOPES } from "../domain/Entities.ts"
import {
  AccountSuspended,
  AdminRequired,
  type AuthError,
  ConflictingUserContext,
  InvalidApiKey,
  InvalidSession,
  InvalidToken,
  InvalidUserId,
  MissingCredentials,
  MissingUserContext,
  ScopeDenied,
  ServiceOrgNotConfigured,
  TokenExpired,
  UnknownUser,
  UserContextForbidden
} from "../domain/Errors.ts"
import { accountOfOrg, accountOfUser, isServiceName, type KeyId, parseUserId, type UserId } from "../domain/Ids.ts"
import type { AdminPrincipal, AuthMethod, Payer, Principal } from "../domain/Principal.ts"
import type { Credential } from "../domain/Credential.ts"
import { AuthFailures } from "./AuthFailures.ts"
import { CredentialAudit } from "./CredentialAudit.ts"
import { KeyStore } from "./ports/KeyStore.ts"
import { OrganizationRepository, ServiceRegistry, SessionStore, UserRepository } from "./ports/Repositories.ts"
import { hashWith, publicPrefix } from "./Secrets.ts"

export const JWT_MAX_LIFETIME_SECONDS = 3600
export const JWT_CLOCK_SKEW_SECONDS = 60

type Authenticated =
  | {
    readonly _tag: "Service"
    readonly service: Service
    readonly method: AuthMethod
    readonly key?: ApiKeyRecord | undefined
    readonly claimUser?: UserId | undefined
  }
  | { readonly _tag: "User"; readonly user: User; readonly method: AuthMethod; readonly key?: ApiKeyRecord | undefined }

const encoder = new TextEncoder()

/**
 * Turns a credential into a principal (who acts, who pays), following the decision table of the
 * specification row by row. `onBehalfOf` is the user a service names to bill, exactly as it was
 * sent (checked here). A bad credential is an error, never a fall-through to another.
 */
export class PrincipalResolver extends Context.Service<PrincipalResolver, {
  readonly resolve: (
    credential: Credential | undefined,
    onBehalfOf: string | undefined,
    scope: Scope,
    /** For the audit log: a service credential refused here is recorded with it. */
    requestId?: string | undefined
  ) => Effect.Effect<Principal, AuthError>
  /**
   * The operator behind an admin key. Any other credential is refused: unknown keys with
   * `InvalidApiKey`, valid service, user and session credentials with `AdminRequired`.
   */
  readonly resolveAdmin: (credential: Credential | undefined) => Effect.Effect<AdminPrincipal, AuthError>
}>()("image-gateway/PrincipalResolver") {
  static readonly layer: Layer.Layer<
    PrincipalResolver,
    never,
    | KeyStore
    | UserRepository
    | OrganizationRepository
    | ServiceRegistry
    | SessionStore
    | Digest.Digest
    | CredentialAudit
    | AuthFailures
  > = Layer.effect(
    PrincipalResolver,
    Effect.gen(function*() {
      const keys = yield* KeyStore
      const users = yield* UserRepository
      const orgs = yield* OrganizationRepository
      const services = yield* ServiceRegistry
      const sessions = yield* SessionStore
      const digest = yield* Digest.Digest
      const audit = yield* CredentialAudit
      const failures = yield* AuthFailures
      // The digest is resolved once here: `hashSecret` would look it up (and re-provide it) per call.
      const hash = hashWith(digest)

      // Plain combinators and untraced generators: these run on every request, and a traced
      // `Effect.fn` captures a call-site stack and provides a span and a stack frame per call
      // even with no tracer. The request's span is `ImageGeneration.generate`.
      const keyRecord = (token: string): Effect.Effect<ApiKeyRecord, InvalidApiKey> =>
        Effect.flatMap(Effect.flatMap(hash(token), keys.findByHash), (found) => {
          const prefix = publicPrefix(token)
          if (Option.isNone(found)) return Effect.fail(new InvalidApiKey({ state: "unknown", prefix }))
          const key = found.value
          if (key.status === "revoked") return Effect.fail(new InvalidApiKey({ state: "revoked", prefix }))
          return Effect.flatMap(Clock.currentTimeMillis, (now) =>
            key.status === "expired" || (key.expiresAt !== undefined && key.expiresAt <= now)
              ? Effect.fail(new InvalidApiKey({ state: "expired", prefix }))
              // The key's last use, written in the background (CredentialAudit).
              : Effect.as(audit.touch(key.id, now), key))
        })

      const serviceOf = (name: string, prefix: string): Effect.Effect<Service, InvalidApiKey> =>
        Effect.flatMap(isServiceName(name) ? services.find(name) : Effect.succeedNone, (found) =>
          Option.isSome(found) && found.value.active
            ? Effect.succeed(found.value)
            : Effect.fail(new InvalidApiKey({ state: Option.isNone(found) ? "unknown" : "revoked", prefix })))

      const userOf = (id: UserId): Effect.Effect<User, UnknownUser | AccountSuspended> =>
        Effect.flatMap(users.find(id), (found): Effect.Effect<User, UnknownUser | AccountSuspended> =>
          Option.isNone(found)
            ? Effect.fail(new UnknownUser({ user: id }))
            : found.value.status === "suspended"
            ? Effect.fail(new AccountSuspended({ user: id }))
            : Effect.succeed(found.value))

      const verifyJwt = Effect.fnUntraced(function*(token: string) {
        const unverified = yield* Effect.try({
          try: () => ({ header: decodeProtectedHeader(token), claims: decodeJwt(token) }),
          catch: () => new InvalidToken({ reason: "not a decodable JWT" })
        })
        if (unverified.header.alg !== "HS256") {
          return yield* new InvalidToken({ reason: `algorithm '${String(unverified.header.alg)}' is not accepted; use HS256` })
        }
        const name = unverified.claims["service"]
        if (typeof name !== "string") return yield* new InvalidToken({ reason: "the 'service' claim is missing" })
        const service = yield* serviceOf(name, "jwt").pipe(
          Effect.mapError(() => new InvalidToken({ reason: `no active service '${name.slice(0, 64)}' signs tokens` }))
        )
        if (service.jwtSecret === undefined) {
          return yield* new InvalidToken({ reason: `the service '${service.name}' has no JWT secret` })
        }
        const now = yield* Clock.currentTimeMillis
        const secret = encoder.encode(Redacted.value(service.jwtSecret))
        const verified = yield* Effect.tryPromise({
          try: () =>
            jwtVerify(token, secret, {
              algorithms: ["HS256"],
              requiredClaims: ["exp"],
              clockTolerance: JWT_CLOCK_SKEW_SECONDS,
              currentDate: new Date(now)
            }),
          catch: (e) =>
            e instanceof JoseErrors.JWTExpired
              ? new TokenExpired()
              : e instanceof JoseErrors.JWSSignatureVerificationFailed
              ? new InvalidToken({ reason: "bad signature" })
              : e instanceof JoseErrors.JWTClaimValidationFailed
              ? new InvalidToken({ reason: `claim '${e.claim}' is invalid` })
              : new InvalidToken({ reason: "not a valid JWT" })
        })
        const { exp, iat } = verified.payload
        const nowSeconds = Math.floor(now / 1000)
        if (typeof exp !== "number") return yield* new InvalidToken({ reason: "the 'exp' claim is required" })
        if (exp - nowSeconds > JWT_MAX_LIFETIME_SECONDS + JWT_CLOCK_SKEW_SECONDS) {
          return yield* new InvalidToken({ reason: "the token lives longer than 1 hour" })
        }
        // jose checks `iat` only against a maximum age, which is not set here: a token "issued"
        // in the future (beyond the skew) would otherwise pass, its lifetime check included.
        if (typeof iat === "number" && iat > nowSeconds + JWT_CLOCK_SKEW_SECONDS) {
          return yield* new InvalidToken({ reason: "the 'iat' claim is in the future" })
        }
        if (typeof iat === "number" && exp - iat > JWT_MAX_LIFETIME_SECONDS) {
          return yield* new InvalidToken({ reason: "the token lives longer than 1 hour" })
        }
        const rawUser = verified.payload["user_id"]
        let claimUser: UserId | undefined
        if (rawUser !== undefined && rawUser !== null) {
          claimUser = typeof rawUser === "string" ? parseUserId(rawUser.toLowerCase()) : undefined
          if (claimUser === undefined) return yield* new InvalidToken({ reason: "the 'user_id' claim is not a user UUID" })
        }
        return { _tag: "Service", service, method: "service_jwt", claimUser } as Authenticated
      })

      const serviceKey = (token: string): Effect.Effect<Authenticated, AuthError> =>
        Effect.flatMap(keyRecord(token), (key): Effect.Effect<Authenticated, AuthError> =>
          key.owner._tag !== "Service"
            ? Effect.fail(new InvalidApiKey({ state: "unknown", prefix: publicPrefix(token) }))
            : Effect.map(serviceOf(key.owner.service, publicPrefix(token)), (service): Authenticated => ({
              _tag: "Service",
              service,
              method: "service_key",
              key
            })))

      const userKey = (token: string): Effect.Effect<Authenticated, AuthError> =>
        Effect.flatMap(keyRecord(token), (key): Effect.Effect<Authenticated, AuthError> =>
          key.owner._tag !== "User"
            ? Effect.fail(new InvalidApiKey({ state: "unknown", prefix: publicPrefix(token) }))
            : Effect.map(userOf(key.owner.user), (user): Authenticated => ({ _tag: "User", user, method: "user_key", key })))

      const session = Effect.fnUntraced(function*(token: string) {
        const found = yield* sessions.find(yield* hash(token))
        if (Option.isNone(found)) return yield* new InvalidSession({ state: "unknown" })
        if (found.value.expiresAt <= (yield* Clock.currentTimeMillis)) return yield* new InvalidSession({ state: "expired" })
        const user = yield* userOf(found.value.user)
        return { _tag: "User", user, method: "session" } as Authenticated
      })

      const authenticate = (credential: Credential | undefined): Effect.Effect<Authenticated, AuthError> => {
        if (credential === undefined) return Effect.fail(new MissingCredentials())
        switch (credential._tag) {
          case "ServiceKey":
            return serviceKey(Redacted.value(credential.secret))
          case "UserKey":
            return userKey(Redacted.value(credential.secret))
          case "ServiceJwt":
            return verifyJwt(Redacted.value(credential.token))
          case "Session":
            return session(Redacted.value(credential.token))
          case "AdminKey":
            // An admin key works on the admin API only; say so if it is one.
            return Effect.flatMap(adminKey(Redacted.value(credential.secret)), (key) =>
              Effect.fail(new InvalidApiKey({ state: "admin_only", prefix: key.prefix })))
          case "UnknownToken":
            return Effect.fail(new InvalidApiKey({ state: "unknown", prefix: publicPrefix(Redacted.value(credential.secret)) }))
        }
      }

      const adminKey = (token: string): Effect.Effect<ApiKeyRecord, InvalidApiKey> =>
        Effect.flatMap(keyRecord(token), (key) =>
          key.owner._tag === "Admin"
            ? Effect.succeed(key)
            : Effect.fail(new InvalidApiKey({ state: "unknown", prefix: publicPrefix(token) })))

      const PRESENTED: Record<AuthMethod, string> = {
        service_key: "service key",
        service_jwt: "service JWT",
        user_key: "user API key",
        session: "session"
      }

      const resolveAdmin = (credential: Credential | undefined): Effect.Effect<AdminPrincipal, AuthError> =>
        Effect.tapError(adminOf(credential), (error) => failures.unauthenticated(error, credential, "other"))

      const adminOf = (credential: Credential | undefined): Effect.Effect<AdminPrincipal, AuthError> => {
        if (credential === undefined) return Effect.fail(new MissingCredentials())
        if (credential._tag === "AdminKey" || credential._tag === "UnknownToken") {
          // Legacy literals imported as admin keys may have any form.
          return Effect.map(adminKey(Redacted.value(credential.secret)), (key) => ({
            admin: key.owner._tag === "Admin" ? key.owner.admin : "",
            keyId: key.id
          }))
        }
        return Effect.flatMap(authenticate(credential), (who) => Effect.fail(new AdminRequired({ presented: PRESENTED[who.method] })))
      }

      /** A user pays for themselves, unless their organization bills its members. */
      const payerOfUser = (user: User) =>
        Effect.gen(function*() {
          if (user.billingOrg !== undefined) {
            const org = yield* orgs.find(user.billingOrg)
            if (Option.isSome(org) && org.value.billsMembers) {
              const payer: Payer = {
                account: accountOfOrg(org.value.id),
                kind: "org",
                tier: org.value.tier,
                monthlyCap: org.value.monthlyCap
              }
              return { payer, viaOrg: org.value.id }
            }
          }
          const payer: Payer = { account: accountOfUser(user.id), kind: "user", tier: user.tier, monthlyCap: user.monthlyCap }
          return { payer, viaOrg: undefined }
        })

      const checkScope = (granted: ReadonlyArray<Scope> | undefined, scope: Scope) =>
        granted === undefined || granted.includes(scope)
          ? Effect.void
          : Effect.fail(new ScopeDenied({ scope, granted: [...granted] }))

      /**
       * A service that authenticated but is refused (a missing or unknown user, its policy, a
       * scope) has used its credential: that use goes to the audit log like a generation's.
       */
      const auditRefusal = (who: Authenticated, scope: Scope, requestId: string | undefined) => (error: AuthError) =>
        who._tag !== "Service" ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (at) =>
          Effect.andThen(failures.serviceRefused(error, who.service.name, routeOf(scope)), audit.record({
            at,
            kind: "credential",
            actor: who.service.name,
            action: "credential.use",
            target: who.method === "service_jwt" ? `jwt:${who.service.name}` : `key:${who.key?.id}`,
            keyId: who.key?.id,
            outcome: error._tag,
            requestId
          })))

      // Refusals are recorded (AuthFailures), the generation route's apart: its 401s are an error rate.
      const routeOf = (scope: Scope) => (scope === "images:generate" ? "generation" : "other")

      const resolve = (credential: Credential | undefined, behalfOf: string | undefined, scope: Scope, requestId?: string) =>
        Effect.flatMap(
          Effect.tapError(authenticate(credential), (error) => failures.unauthenticated(error, credential, routeOf(scope))),
          (who) => decide(who, behalfOf, scope).pipe(Effect.tapError(auditRefusal(who, scope, requestId)))
        )

      const decide = Effect.fnUntraced(function*(who: Authenticated, behalfOf: string | undefined, scope: Scope) {
        // The user to bill on behalf of, as sent; checked against the credential below.
        const header = behalfOf
        const keyId: KeyId | undefined = who.key?.id
        const deprecation = who.key?.deprecated

        if (who._tag === "User") {
          const granted = who.key?.scopes ?? SCOPES
          yield* checkScope(granted, scope)
          if (header !== undefined && header.trim().toLowerCase() !== who.user.id.toLowerCase()) {
            return yield* new UserContextForbidden({ reason: "user_credential" })
          }
          const { payer, viaOrg } = yield* payerOfUser(who.user)
          return {
            actor: { _tag: "User", user: who.user.id },
            payer,
            authMethod: who.method,
            viaOrg,
            keyId,
            scopes: granted,
            deprecation
          } satisfies Principal
        }

        const service = who.service
        const granted = who.key?.scopes ?? service.scopes
        yield* checkScope(granted, scope)
        let headerUser: UserId | undefined
        if (header !== undefined) {
          headerUser = parseUserId(header.trim().toLowerCase())
          if (headerUser === undefined) return yield* new InvalidUserId({ received: header.slice(0, 64) })
        }
        if (headerUser !== undefined && who.claimUser !== undefined && headerUser !== who.claimUser) {
          return yield* new ConflictingUserContext({ header: headerUser, claim: who.claimUser })
        }
        const onBehalfOf = headerUser ?? who.claimUser
        const base = {
          actor: { _tag: "Service", service: service.name },
          authMethod: who.method,
          keyId,
          scopes: granted,
          deprecation,
          rateLimits: service.rateLimits
        } as const

        if (onBehalfOf !== undefined) {
          if (service.userIdPolicy === "forbidden") {
            return yield* new UserContextForbidden({ reason: "service_policy", service: service.name })
          }
          const user = yield* userOf(onBehalfOf)
          const { payer, viaOrg } = yield* payerOfUser(user)
          return { ...base, payer, onBehalfOf, viaOrg } satisfies Principal
        }
        if (service.userIdPolicy === "required") return yield* new MissingUserContext({ service: service.name })
        const org = service.org === undefined ? Option.none() : yield* orgs.find(service.org)
        if (Option.isNone(org)) return yield* new ServiceOrgNotConfigured({ service: service.name })
        const payer: Payer = {
          account: accountOfOrg(org.value.id),
          kind: "org",
          tier: org.value.tier,
          monthlyCap: org.value.monthlyCap
        }
        return { ...base, payer } satisfies Principal
      })

      return PrincipalResolver.of({ resolve, resolveAdmin })
    })
  )
}
