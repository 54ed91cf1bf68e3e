import { Cookies } from "effect/http"
import { Effect, Result } from "effect"
import { type Credential, credentialOfToken, sessionCredential } from "../../domain/Credential.ts"
import { MalformedAuthorization } from "../../domain/Errors.ts"

/**
 * Where credentials travel over HTTP, and the only place they are read from it: the
 * `Authorization: Bearer <token>` header, else the `session_token` cookie; the user a service
 * bills on behalf of in `X-User-ID`.
 */

type Headers = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

const single = (value: string | ReadonlyArray<string> | undefined) => (typeof value === "string" ? value : value?.[0])

const BEARER = /^Bearer[ ]+(\S+)\s*$/i

/** The token of an `Authorization: Bearer <token>` header value, or why it is not one. */
export const bearerToken = (authorization: string): Result.Result<string, MalformedAuthorization> => {
  const value = authorization.trim()
  const match = BEARER.exec(value)
  if (match !== null) return Result.succeed(match[1]!)
  return Result.fail(
    new MalformedAuthorization({
      reason: value.length === 0
        ? "the header is empty"
        : /^Bearer\s*$/i.test(value)
        ? "the token is missing after 'Bearer'"
        : "it does not start with 'Bearer '"
    })
  )
}

/**
 * The credential a request presents: its bearer token (a malformed `Authorization` header is an
 * error, never a fall-through to the cookie), else its session cookie, else none.
 */
export const credentialFrom = (headers: Headers): Effect.Effect<Credential | undefined, MalformedAuthorization> => {
  const authorization = single(headers["authorization"])
  if (authorization !== undefined) {
    const token = bearerToken(authorization)
    return Result.isSuccess(token) ? Effect.succeed(credentialOfToken(token.success)) : Effect.fail(token.failure)
  }
  const cookie = single(headers["cookie"])
  const session = cookie === undefined ? undefined : Cookies.parseHeader(cookie)["session_token"]
  return Effect.succeed(session === undefined ? undefined : sessionCredential(session))
}

/** The `X-User-ID` header: the user a service bills on behalf of, as sent. */
export const onBehalfOfFrom = (headers: Headers): string | undefined => single(headers["x-user-id"])

/** The `Idempotency-Key` header, as sent. */
export const idempotencyKeyFrom = (headers: Headers): string | undefined => single(headers["idempotency-key"])
