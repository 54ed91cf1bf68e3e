import { Clock, Context, Effect, Exit, Layer, Option, References, Result } from "effect"
import { Digest, SecureRandom } from "effect/crypto"
import { type GenerationError, InvalidRequest, ProviderTimeout } from "../domain/Errors.ts"
import { decodeGenerationBody, validateGeneration, type ValidRequest } from "../domain/GenerationRequest.ts"
import type { HoldId } from "../domain/Ids.ts"
import { toCredits } from "../domain/Money.ts"
import { basePrice, priceOf } from "../domain/Pricing.ts"
import { actorService, type Principal } from "../domain/Principal.ts"
import { isCreditExempt, multiplierOf } from "../domain/Tier.ts"
import { CreditLedger } from "./CreditLedger.ts"
import { withDeadline } from "./Deadline.ts"
import { GatewayPolicy } from "./GatewayPolicy.ts"
import { ImageEncoding } from "./ImageEncoding.ts"
import { type Credentials, PrincipalResolver } from "./PrincipalResolver.ts"
import { ByokStore } from "./ports/ByokStore.ts"
import { IdempotencyStore } from "./ports/IdempotencyStore.ts"
import { ImageProvider, type ProviderResult } from "./ports/ImageProvider.ts"
import { ImageStore } from "./ports/ImageStore.ts"
import { type BillingMode, UsageLog } from "./ports/UsageLog.ts"

export interface GenerationInput {
  readonly credentials: Credentials
  readonly body: unknown
  readonly requestId: string
  readonly idempotencyKey?: string | undefined
}

export interface ImageData {
  readonly url?: string
  readonly b64_json?: string
  readonly revised_prompt?: string
}

export interface GenerationMetadata {
  readonly provider_used: string
  readonly cost_incurred: number
  readonly credits_remaining: number
  readonly transaction_id: string | null
  readonly user_tier: string
  readonly using_byok: boolean
  readonly byok_provider: string | null
  readonly images_generated: number
  readonly billed_to: string
}

/** OpenAI's ImagesResponse, plus the gateway's `_metadata`. */
export interface ImagesResponseBody {
  readonly created: number
  readonly data: ReadonlyArray<ImageData>
  readonly _metadata: GenerationMetadata
}

export interface GenerationResult {
  readonly body: ImagesResponseBody
  /** What this request moved: 0 for BYOK, exempt and replayed requests. */
  readonly chargedMillicredits: number
  readonly remainingMillicredits: number
  readonly replayed: boolean
  readonly principal: Principal
}

interface StoredReplay {
  readonly body: ImagesResponseBody
  readonly remainingMillicredits: number
}

export const MAX_IDEMPOTENCY_KEY_LENGTH = 255

const encoder = new TextEncoder()

/**
 * The generation flow: principal → validation → route → BYOK / exempt / billed → reserve →
 * provider → settle or release → usage → response. Money only moves through a hold that is
 * settled for the images actually returned, or released on any failure or interruption.
 */
export class ImageGeneration extends Context.Service<ImageGeneration, {
  readonly generate: (input: GenerationInput) => Effect.Effect<GenerationResult, GenerationError>
}>()("image-gateway/ImageGeneration") {
  static readonly layer: Layer.Layer<
    ImageGeneration,
    never,
    | PrincipalResolver
    | CreditLedger
    | GatewayPolicy
    | ByokStore
    | IdempotencyStore
    | ImageProvider
    | ImageStore
    | UsageLog
    | Digest.Digest
    | SecureRandom.SecureRandom
    | ImageEncoding
  > = Layer.effect(
    ImageGeneration,
    Effect.gen(function*() {
      const resolver = yield* PrincipalResolver
      const ledger = yield* CreditLedger
      const policy = yield* GatewayPolicy
      const byok = yield* ByokStore
      const idempotency = yield* IdempotencyStore
      const provider = yield* ImageProvider
      const images = yield* ImageStore
      const usage = yield* UsageLog
      const digest = yield* Digest.Digest
      const random = yield* SecureRandom.SecureRandom
      const encoding = yield* ImageEncoding

      const fingerprint = (principal: Principal, req: ValidRequest) =>
        digest.digestHex(
          Digest.sha256,
          encoder.encode(JSON.stringify([
            principal.actor,
            req.model.id,
            req.prompt,
            req.n,
            req.size,
            req.quality,
            req.style ?? null,
            req.responseFormat,
            req.outputFormat ?? null,
            req.background ?? null,
            req.seed ?? null,
            req.user ?? null
          ]))
        )

      const revisedOf = (image: ProviderResult["images"][number]) =>
        image.revisedPrompt === undefined ? {} : { revised_prompt: image.revisedPrompt }

      const toData = (result: ProviderResult, req: ValidRequest, now: number): Effect.Effect<ReadonlyArray<ImageData>> =>
        // Encoding needs no effect: a plain map spares the per-image loop of `Effect.forEach`.
        req.responseFormat === "b64_json"
          ? Effect.succeed(result.images.map((image): ImageData => ({ b64_json: encoding.base64(image.bytes), ...revisedOf(image) })))
          : Effect.forEach(result.images, (image) =>
            Effect.map(
              images.put({ bytes: image.bytes, contentType: image.contentType, expiresAt: now + policy.imageUrlTtlMs }),
              (stored): ImageData => ({ url: stored.url, ...revisedOf(image) })
            ))

      const flow = function*(input: GenerationInput) {
        const started = yield* Clock.currentTimeMillis
        const principal = yield* resolver.resolve(input.credentials, "images:generate")
        const decoded = decodeGenerationBody(input.body)
        if (Result.isFailure(decoded)) return yield* Effect.fail(decoded.failure)
        const valid = validateGeneration(decoded.success, policy.models, policy.defaultModel)
        if (Result.isFailure(valid)) return yield* Effect.fail(valid.failure)
        const req = valid.success
        const key = input.idempotencyKey
        if (key !== undefined && (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH)) {
          return yield* new InvalidRequest({
            param: "Idempotency-Key",
            code: "invalid_idempotency_key",
            detail: `The Idempotency-Key header must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters.`
          })
        }

        const payer = principal.payer
        const route = req.model.provider
        const ownKey = route === "local" ? Option.none() : yield* byok.findEnabled(payer.account, route)
        const mode: BillingMode = Option.isSome(ownKey) ? "byok" : isCreditExempt(policy.tiers, payer.tier) ? "exempt" : "billed"
        const base = basePrice(policy.prices, req.model, req.quality, req.size)
        if (base === undefined && mode === "billed") {
          return yield* new InvalidRequest({
            param: "size",
            code: "invalid_value",
            detail: `No price is configured for ${req.model.id} at quality '${req.quality}' and size '${req.size}'.`
          })
        }
        const multiplier = multiplierOf(policy.tiers, payer.tier)
        const priceFor = (count: number) => (base === undefined ? 0 : priceOf(base, count, multiplier))

        let outcome = "success"
        let imagesGenerated = 0
        let cost = 0
        let providerUsed: ProviderResult["providerUsed"] | undefined
        // Built when it runs (the callback reads the request's final outcome, images and cost).
        const recordUsage = Effect.flatMap(Clock.currentTimeMillis, (now) =>
          usage.record({
            requestId: input.requestId,
            at: started,
            actorKind: principal.actor._tag === "Service" ? "service" : "user",
            actor: principal.actor._tag === "Service" ? principal.actor.service : principal.actor.user,
            service: actorService(principal),
            onBehalfOf: principal.onBehalfOf,
            authMethod: principal.authMethod,
            payer: payer.account,
            model: req.model.id,
            provider: providerUsed ?? route,
            n: req.n,
            images: imagesGenerated,
            costMillicredits: cost,
            mode,
            outcome,
            latencyMs: now - started
          })
        )

        const callProvider = withDeadline(
          provider.generate({
            provider: route,
            model: req.model.providerModel,
            prompt: req.prompt,
            n: req.n,
            size: req.size,
            quality: req.quality,
            style: req.style,
            outputFormat: req.outputFormat,
            background: req.background,
            seed: req.seed,
            apiKey: ownKey,
            timeoutMs: policy.providerTimeoutMs
          }),
          policy.providerTimeoutMs,
          () => new ProviderTimeout({ provider: route, timeoutMs: policy.providerTimeoutMs })
        ).pipe(
          Effect.map((r) => (r.images.length > req.n ? { ...r, images: r.images.slice(0, req.n) } : r))
        )

        const run = Effect.gen(function*() {
          let holdId: HoldId | undefined
          let result: ProviderResult
          if (mode === "billed") {
            const id = `hold_${yield* random.uuidV7()}` as HoldId
            holdId = id
            result = yield* Effect.acquireUseRelease(
              ledger.reserve({
                id,
                account: payer.account,
                amount: priceFor(req.n),
                ttlMs: policy.holdTtlMs,
                monthlyCap: payer.monthlyCap
              }).pipe(Effect.catchTag("InvalidAmount", (e) => Effect.die(e))),
              () =>
                Effect.flatMap(callProvider, (r) => {
                  const actual = r.images.length === 0 ? 0 : priceFor(r.images.length)
                  // The hold outlives any provider call, so settling cannot find it resolved.
                  return Effect.map(Effect.orDie(ledger.settle(id, actual)), () => {
                    cost = actual
                    return r
                  })
                }),
              (hold, exit) => (Exit.isSuccess(exit) ? Effect.void : Effect.ignore(ledger.release(hold.id)))
            )
          } else {
            result = yield* callProvider
          }
          providerUsed = result.providerUsed
          imagesGenerated = result.images.length
          const now = yield* Clock.currentTimeMillis
          const data = yield* toData(result, req, now)
          const remaining = (yield* ledger.balance(payer.account)).available
          const body: ImagesResponseBody = {
            created: Math.floor(now / 1000),
            data,
            _metadata: {
              provider_used: result.providerUsed,
              cost_incurred: toCredits(cost),
              credits_remaining: toCredits(remaining),
              transaction_id: holdId ?? null,
              user_tier: payer.tier,
              using_byok: mode === "byok",
              byok_provider: mode === "byok" ? route : null,
              images_generated: result.images.length,
              billed_to: payer.account
            }
          }
          return { body, remaining }
        }).pipe(
          Effect.tapError((e) => Effect.sync(() => void (outcome = e._tag))),
          Effect.ensuring(recordUsage)
        )

        if (key === undefined) {
          const { body, remaining } = yield* run
          return { body, chargedMillicredits: cost, remainingMillicredits: remaining, replayed: false, principal }
        }

        const scope = payer.account
        const begun = yield* idempotency.begin({
          scope,
          key,
          fingerprint: yield* fingerprint(principal, req),
          now: started,
          expiresAt: started + policy.idempotencyTtlMs
        })
        if (begun._tag === "Replay") {
          const stored = begun.response as StoredReplay
          return {
            body: stored.body,
            chargedMillicredits: 0,
            remainingMillicredits: stored.remainingMillicredits,
            replayed: true,
            principal
          }
        }
        const { body, remaining } = yield* run.pipe(
          Effect.onExit((exit) =>
            Exit.isSuccess(exit)
              ? idempotency.complete({
                scope,
                key,
                response: { body: exit.value.body, remainingMillicredits: exit.value.remaining } satisfies StoredReplay
              })
              : idempotency.abandon({ scope, key })
          )
        )
        return { body, chargedMillicredits: cost, remainingMillicredits: remaining, replayed: false, principal }
      }
      // The request's span, when a tracer is on (decided once, where the core is built). Off, as
      // the server runs without an exporter, the untraced flow spares the call-site stack capture
      // and the span on every request.
      const generate = (yield* References.TracerEnabled)
        ? Effect.fn("ImageGeneration.generate")(flow)
        : Effect.fnUntraced(flow)

      return ImageGeneration.of({ generate })
    })
  )
}

