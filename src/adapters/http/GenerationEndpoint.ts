import { Cause, Clock, Context, Effect, Layer, Result } from "effect"
import { AuthFailures } from "../../application/AuthFailures.ts"
import { GatewayPolicy } from "../../application/GatewayPolicy.ts"
import { type GenerationInput, ImageGeneration } from "../../application/ImageGeneration.ts"
import { PrincipalResolver } from "../../application/PrincipalResolver.ts"
import { type GenerationError, InvalidRequest } from "../../domain/Errors.ts"
import { validateGeneration } from "../../domain/GenerationRequest.ts"
import { credentialFrom, idempotencyKeyFrom, onBehalfOfFrom } from "./Credentials.ts"
import { errorBody, fromDomainError, unhandledFailure, type WireError } from "./ErrorMapping.ts"
import { decodeCreateImageRequest, generationHeaders, renderImages } from "./ImagesWire.ts"

/** An answer ready for the wire: what both the generation lane and the router write. */
export interface WireAnswer {
  readonly status: number
  readonly headers: Record<string, string>
  readonly body: string
}

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255

type Headers = Readonly<Record<string, string | ReadonlyArray<string> | undefined>>

/** A wire error as an answer (`content-type` and `content-length` are the writer's). */
export const errorAnswer = (wire: WireError, requestId: string): WireAnswer => ({
  status: wire.status,
  headers: { ...wire.headers, "x-request-id": requestId },
  body: errorBody(wire)
})

/** The request's `Idempotency-Key`, when it sent one of 1 to 255 characters; any other length is refused. */
export const checkedIdempotencyKey = (headers: Headers): Effect.Effect<string | undefined, InvalidRequest> => {
  const key = idempotencyKeyFrom(headers)
  return key !== undefined && (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH)
    ? Effect.fail(
      new InvalidRequest({
        param: "Idempotency-Key",
        code: "invalid_idempotency_key",
        detail: `The Idempotency-Key header must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters.`
      })
    )
    : Effect.succeed(key)
}

/**
 * What a generation request asks of the core, read from its headers and JSON body, in order:
 * the credential and the user to bill (`Authorization` / `session_token`, `X-User-ID`), the body
 * (`CreateImageRequest`, then the model's own rules), the `Idempotency-Key`.
 */
export const readGenerationCall = (resolver: PrincipalResolver["Service"], policy: GatewayPolicy["Service"]) =>
(headers: Headers, body: unknown, requestId?: string): Effect.Effect<Omit<GenerationInput, "requestId">, GenerationError> =>
  // Plain combinators rather than a generator: this runs on every request.
  Effect.flatMap(credentialFrom(headers), (credential) =>
    Effect.flatMap(resolver.resolve(credential, onBehalfOfFrom(headers), "images:generate", requestId), (principal) => {
      const draft = decodeCreateImageRequest(body, policy.models, policy.defaultModel)
      if (Result.isFailure(draft)) return Effect.fail(draft.failure)
      const request = validateGeneration(draft.success, policy.models, policy.defaultModel)
      if (Result.isFailure(request)) return Effect.fail(request.failure)
      return Effect.map(checkedIdempotencyKey(headers), (key) => ({ principal, request: request.success, idempotencyKey: key }))
    }))

/**
 * The image-generation endpoint, whatever carried the request: the generation lane (Node's
 * request event) and the HttpApi handler both read the body their way and hand it here with the
 * headers. In order: the credential and the user to bill (`Authorization` / `session_token`,
 * `X-User-ID`), the body (`CreateImageRequest`, then the model's own rules), the
 * `Idempotency-Key`, the core, and OpenAI's answer. Every domain failure is answered in OpenAI's
 * error shape; anything unexpected is logged with the request id and answered 500, never with a
 * stack trace. Only an interruption (the client went away, or shutdown) is left to the caller.
 */
export class GenerationEndpoint extends Context.Service<GenerationEndpoint, {
  readonly handle: (headers: Headers, body: unknown, requestId: string) => Effect.Effect<WireAnswer>
}>()("image-gateway/http/GenerationEndpoint") {
  static readonly layer: Layer.Layer<GenerationEndpoint, never, ImageGeneration | PrincipalResolver | GatewayPolicy | AuthFailures> =
    Layer.effect(
      GenerationEndpoint,
      Effect.gen(function*() {
        const generation = yield* ImageGeneration
        const resolver = yield* PrincipalResolver
        const policy = yield* GatewayPolicy
        const failures = yield* AuthFailures

        const read = readGenerationCall(resolver, policy)
        // The resolver records the credentials it refuses; an unreadable Authorization header never reaches it.
        const readRecorded = (headers: Headers, body: unknown, requestId: string) =>
          Effect.tapError(read(headers, body, requestId), (error) =>
            error._tag === "MalformedAuthorization" ? failures.unauthenticated(error, undefined, "generation") : Effect.void)
        const answer = (headers: Headers, body: unknown, requestId: string): Effect.Effect<WireAnswer, GenerationError> =>
          Effect.flatMap(readRecorded(headers, body, requestId), (call) =>
            Effect.map(generation.generate({ ...call, requestId }), (made): WireAnswer => {
              // The wall clock only dates a deprecation header.
              const answerHeaders = generationHeaders(made, call.principal, Date.now())
              answerHeaders["x-request-id"] = requestId
              return { status: 200, headers: answerHeaders, body: JSON.stringify(renderImages(made)) }
            }))

        const handle = (headers: Headers, body: unknown, requestId: string): Effect.Effect<WireAnswer> =>
          answer(headers, body, requestId).pipe(
            Effect.catchCause((cause) => {
              const failure = cause.reasons.find(Cause.isFailReason)
              if (failure !== undefined) {
                return Effect.map(Clock.currentTimeMillis, (now) => errorAnswer(fromDomainError(failure.error, now), requestId))
              }
              if (Cause.hasInterruptsOnly(cause)) return Effect.failCause(cause as Cause.Cause<never>)
              return Effect.logError("unhandled failure", cause).pipe(
                Effect.annotateLogs("request_id", requestId),
                Effect.as(errorAnswer(unhandledFailure(cause), requestId))
              )
            })
          )

        return GenerationEndpoint.of({ handle })
      })
    )
}
