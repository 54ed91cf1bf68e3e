import { Effect } from "effect"
import { GatewayPolicy } from "../../src/application/GatewayPolicy.ts"
import { ImageGeneration } from "../../src/application/ImageGeneration.ts"
import { PrincipalResolver } from "../../src/application/PrincipalResolver.ts"
import type { Scope } from "../../src/domain/Entities.ts"
import { credentialFrom } from "../../src/adapters/http/Credentials.ts"
import { readGenerationCall } from "../../src/adapters/http/GenerationEndpoint.ts"
import { renderImages } from "../../src/adapters/http/ImagesWire.ts"

/**
 * What a caller presents, as the specs describe it: an `Authorization` header value, a session
 * cookie, the user to bill on behalf of. The specs call the core exactly as the HTTP adapter
 * does, through the adapter's own reading of these (so a spec row is also a row of the API).
 */
export interface Credentials {
  readonly authorization?: string | undefined
  readonly sessionToken?: string | undefined
  readonly userId?: string | undefined
}

/** The request headers carrying `credentials` (and an Idempotency-Key). */
export const headersOf = (credentials: Credentials, idempotencyKey?: string): Record<string, string> => {
  const headers: Record<string, string> = {}
  if (credentials.authorization !== undefined) headers["authorization"] = credentials.authorization
  if (credentials.sessionToken !== undefined) headers["cookie"] = `session_token=${credentials.sessionToken}`
  if (credentials.userId !== undefined) headers["x-user-id"] = credentials.userId
  if (idempotencyKey !== undefined) headers["idempotency-key"] = idempotencyKey
  return headers
}

/** PrincipalResolver.resolve on what `credentials` present. */
export const resolveAs = (credentials: Credentials, scope: Scope) =>
  PrincipalResolver.use((resolver) =>
    Effect.flatMap(credentialFrom(headersOf(credentials)), (credential) => resolver.resolve(credential, credentials.userId, scope)))

let counter = 0

/**
 * A generation as the HTTP endpoint makes it: the caller resolved, the body decoded and checked,
 * the core called. The domain `Generation`, with the principal and OpenAI's body beside it.
 */
export const generateAs = (credentials: Credentials, body: unknown, idempotencyKey?: string) =>
  Effect.gen(function*() {
    const read = readGenerationCall(yield* PrincipalResolver, yield* GatewayPolicy)
    const call = yield* read(headersOf(credentials, idempotencyKey), body)
    const generation = yield* ImageGeneration.use((g) => g.generate({ ...call, requestId: `req-${++counter}` }))
    return { ...generation, principal: call.principal, body: renderImages(generation) }
  })
