import { Cause, Clock, Context, Effect, Exit, identity, Layer, Option, type Redacted, References } from "effect"
import { Digest, SecureRandom } from "effect/crypto"
import { type GenerationError, InvalidRequest, ProviderTimeout } from "../domain/Errors.ts"
import {
  type BillingMode,
  decodeStoredGeneration,
  encodeGeneration,
  type GeneratedImage,
  type Generation
} from "../domain/Generation.ts"
import type { GenerationRequest } from "../domain/GenerationRequest.ts"
import type { HoldId } from "../domain/Ids.ts"
import type { Balance } from "../domain/Ledger.ts"
import type { ProviderName } from "../domain/Models.ts"
import { basePrice, priceOf } from "../domain/Pricing.ts"
import { actorService, type Principal } from "../domain/Principal.ts"
import { isCreditExempt, multiplierOf } from "../domain/Tier.ts"
import { CreditLedger } from "./CreditLedger.ts"
import { CredentialAudit } from "./CredentialAudit.ts"
import { withDeadline } from "./Deadline.ts"
import { GatewayPolicy } from "./GatewayPolicy.ts"
import { PricingCatalog } from "./PricingCatalog.ts"
import { RateLimits } from "./RateLimits.ts"
import { ByokStore } from "./ports/ByokStore.ts"
import { IdempotencyStore } from "./ports/IdempotencyStore.ts"
import { ImageProvider, type ProviderResult } from "./ports/ImageProvider.ts"
import { ImageStore } from "./ports/ImageStore.ts"
import { type UsageEvent, UsageLog } from "./ports/UsageLog.ts"

export interface GenerationInput {
  /** Who acts and who pays (PrincipalResolver). */
  readonly principal: Principal
  /** A request already checked against its model (`validateGeneration`). */
  readonly request: GenerationRequest
  /** Names the request for the usage log. */
  readonly requestId: string
  /**
   * The caller's key for this request: the same key from the same payer within the policy's
   * window replays the first outcome without a new charge.
   */
  readonly idempotencyKey?: string | undefined
}

/** How a request will be paid for, decided before anything moves. */
interface Plan {
  readonly mode: BillingMode
  /** The payer's own key for the provider (BYOK). */
  readonly ownKey: Option.Option<Redacted.Redacted<string>>
  /** The price of `count` images for this payer. */
  readonly priceFor: (count: number) => number
}

const encoder = new TextEncoder()

/**
 * What makes two requests under one Idempotency-Key "the same request": who acts and everything
 * asked, digested.
 */
export const requestFingerprint = (digest: Digest.Digest["Service"], principal: Principal, req: GenerationRequest) =>
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

/** The idempotency claim an attempt holds. */
interface Claim {
  readonly scope: string
  readonly key: string
  readonly attempt: string
}

/** The hold an attempt makes: named after the attempt when it holds an idempotency claim. */
const claimHold = (attempt: string) => `hold_${attempt}` as HoldId

/** How long past its provider's deadline a running claim is left alone before a retry may take it over. */
const CLAIM_MARGIN_MS = 10_000

/** How an attempt ended, for its usage event. */
interface Ending {
  readonly provider: ProviderName
  readonly images: number
  readonly cost: number
  readonly outcome: string
  readonly providerCostMicroUsd: number | undefined
}


/** The usage log's outcome of a finished attempt. */
const outcomeOf = (exit: Exit.Exit<unknown, GenerationError>): string => {
  if (Exit.isSuccess(exit)) return "success"
  const failure = exit.cause.reasons.find(Cause.isFailReason)
  if (failure !== undefined) return failure.error._tag
  return Cause.hasInterruptsOnly(exit.cause) ? "interrupted" : "defect"
}

/**
 * What the request's span says of it once it has ended: how it was paid, what it made and cost.
 * Nothing a caller sent as content (the prompt) and no credential.
 */
const spanAttributes = (event: UsageEvent) => ({
  "generation.billing_mode": event.mode,
  "generation.provider": event.provider ?? "none",
  "generation.images": event.images,
  "generation.cost_millicredits": event.costMillicredits,
  "generation.payer": event.payer
})

/**
 * The generation flow, top-down: price the request for its payer (BYOK / exempt / billed), charge
 * and call the provider (a hold reserved before the call, settled for the images actually
 * returned, released on any failure or interruption), and describe the outcome as a domain
 * `Generation`. Every attempt is recorded in the usage log, its outcome read from how it ended.
 */
export class ImageGeneration extends Context.Service<ImageGeneration, {
  readonly generate: (input: GenerationInput) => Effect.Effect<Generation, GenerationError>
}>()("image-gateway/ImageGeneration") {
  static readonly layer: Layer.Layer<
    ImageGeneration,
    never,
    | CreditLedger
    | CredentialAudit
    | GatewayPolicy
    | PricingCatalog
    | RateLimits
    | ByokStore
    | IdempotencyStore
    | ImageProvider
    | ImageStore
    | UsageLog
    | Digest.Digest
    | SecureRandom.SecureRandom
  > = Layer.effect(
    ImageGeneration,
    Effect.gen(function*() {
      const ledger = yield* CreditLedger
      const policy = yield* GatewayPolicy
      const catalog = yield* PricingCatalog
      const byok = yield* ByokStore
      const idempotency = yield* IdempotencyStore
      const provider = yield* ImageProvider
      const images = yield* ImageStore
      const usage = yield* UsageLog
      const limits = yield* RateLimits
      // An in-flight slot outlasts the provider's deadline and the storing of its images.
      const slotTtlMs = policy.providerTimeoutMs + 60_000
      // Spans are made when a tracer is on (decided once, where the core is built). Off, as the
      // server runs without an exporter, the untraced flow spares the span and its attributes on
      // every request.
      const traced = yield* References.TracerEnabled
      const record = traced
        ? (event: UsageEvent) => Effect.andThen(Effect.annotateCurrentSpan(spanAttributes(event)), usage.record(event))
        : usage.record
      const audit = yield* CredentialAudit
      const digest = yield* Digest.Digest
      const random = yield* SecureRandom.SecureRandom

      const fingerprint = (principal: Principal, req: GenerationRequest) => requestFingerprint(digest, principal, req)

      // --- 1. price -----------------------------------------------------------------------------

      /** The pricing is read once, here: a change saved while the request runs never reprices it. */
      const plan = (principal: Principal, req: GenerationRequest): Effect.Effect<Plan, InvalidRequest> =>
        Effect.flatMap(
          Effect.zip(
            req.model.provider === "local" ? Effect.succeedNone : byok.findEnabled(principal.payer.account, req.model.provider),
            catalog.current
          ),
          ([ownKey, { data: pricing }]) => {
            const payer = principal.payer
            const mode: BillingMode = Option.isSome(ownKey)
              ? "byok"
              : isCreditExempt(pricing.tiers, payer.tier)
              ? "exempt"
              : "billed"
            const base = basePrice(pricing.prices, req.model, req.quality, req.size)
            if (base === undefined && mode === "billed") {
              return Effect.fail(
                new InvalidRequest({
                  param: "size",
                  code: "invalid_value",
                  detail: `No price is configured for ${req.model.id} at quality '${req.quality}' and size '${req.size}'.`
                })
              )
            }
            const multiplier = multiplierOf(pricing.tiers, payer.tier)
            return Effect.succeed({
              mode,
              ownKey,
              priceFor: (count: number) => (base === undefined ? 0 : priceOf(base, count, multiplier))
            })
          }
        )

      // --- 2. charge and call ----------------------------------------------------------------

      const callProvider = (req: GenerationRequest, ownKey: Plan["ownKey"]) =>
        withDeadline(
          provider.generate({
            provider: req.model.provider,
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
          () => new ProviderTimeout({ provider: req.model.provider, timeoutMs: policy.providerTimeoutMs })
        ).pipe(
          // A provider that returns more than asked for is not paid for the extra images.
          Effect.map((r) => (r.images.length > req.n ? { ...r, images: r.images.slice(0, req.n) } : r))
        )

      /** The usage event of an attempt by `input`, begun at `started` and ended at `now`. */
      const usageEvent = (input: GenerationInput, p: Plan, started: number, now: number, end: Ending): UsageEvent => {
        const { principal, request: req } = input
        return {
          requestId: input.requestId,
          at: started,
          actorKind: principal.actor._tag === "Service" ? "service" : "user",
          actor: principal.actor._tag === "Service" ? principal.actor.service : principal.actor.user,
          service: actorService(principal),
          onBehalfOf: principal.onBehalfOf,
          authMethod: principal.authMethod,
          payer: principal.payer.account,
          model: req.model.id,
          provider: end.provider,
          n: req.n,
          images: end.images,
          costMillicredits: end.cost,
          mode: p.mode,
          outcome: end.outcome,
          latencyMs: now - started,
          providerCostMicroUsd: end.providerCostMicroUsd
        }
      }

      // --- 3. keep the images and describe the outcome -------------------------------------

      /** Inline bytes for `b64_json`; stored under an unguessable id for `url`. */
      const keep = (req: GenerationRequest, result: ProviderResult, now: number): Effect.Effect<ReadonlyArray<GeneratedImage>> => {
        const revised = (image: ProviderResult["images"][number]) =>
          image.revisedPrompt === undefined ? {} : { revisedPrompt: image.revisedPrompt }
        return req.responseFormat === "b64_json"
          ? Effect.succeed(result.images.map((image): GeneratedImage => ({
            _tag: "Inline",
            bytes: image.bytes,
            contentType: image.contentType,
            ...revised(image)
          })))
          : Effect.forEach(result.images, (image) =>
            Effect.map(
              images.put({ bytes: image.bytes, contentType: image.contentType, expiresAt: now + policy.imageUrlTtlMs }),
              (stored): GeneratedImage => ({ _tag: "Stored", id: stored.id, url: stored.url, ...revised(image) })
            ))
      }

      /** What a request made and cost, its images kept, as the domain's `Generation`. */
      const describe = (
        principal: Principal,
        req: GenerationRequest,
        p: Plan,
        made: { readonly result: ProviderResult; readonly cost: number; readonly hold: HoldId | undefined },
        kept: ReadonlyArray<GeneratedImage>,
        now: number,
        remaining: number
      ): Generation => ({
        createdAt: now,
        images: kept,
        costMillicredits: made.cost,
        chargedMillicredits: made.cost,
        remainingMillicredits: remaining,
        ...(made.hold === undefined ? {} : { hold: made.hold }),
        billing: p.mode,
        providerUsed: made.result.providerUsed,
        ...(made.result.providerCostMicroUsd === undefined ? {} : { providerCostMicroUsd: made.result.providerCostMicroUsd }),
        ...(p.mode === "byok" ? { byokProvider: req.model.provider } : {}),
        payer: { account: principal.payer.account, kind: principal.payer.kind, tier: principal.payer.tier },
        replayed: false
      })

      /**
       * BYOK and exempt requests call the provider and move nothing. A billed one holds the
       * price of `n` images first (refused when the payer cannot cover it), calls the provider,
       * keeps the images, and settles the price of the images returned as its last step; the
       * hold outlives any provider call, so settling cannot find it resolved. On any failure or
       * interruption before the settlement the hold is released: nothing is charged for a
       * request that ends without its images. The settlement carries the attempt's usage event
       * and completes its idempotency claim in the same commit (`onSettled` is then told), and
       * answers the payer's balance after it.
       */
      const produce = (
        input: GenerationInput,
        p: Plan,
        started: number,
        claim: Claim | undefined,
        onSettled: () => void
      ): Effect.Effect<Generation, GenerationError> => {
        const { principal, request: req } = input
        if (p.mode !== "billed") {
          return Effect.flatMap(callProvider(req, p.ownKey), (result) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) =>
              Effect.flatMap(keep(req, result, now), (kept) =>
                Effect.map(ledger.balance(principal.payer.account), (balance) =>
                  describe(principal, req, p, { result, cost: 0, hold: undefined }, kept, now, balance.available)))))
        }
        // An attempt under an Idempotency-Key holds `hold_<attempt>`: an attempt that takes its
        // claim over can release it (claimHold).
        return Effect.flatMap(claim === undefined ? random.uuidV7() : Effect.succeed(claim.attempt), (id) => {
          const hold = claimHold(id)
          return Effect.acquireUseRelease(
            ledger.reserve({
              id: hold,
              account: principal.payer.account,
              amount: p.priceFor(req.n),
              ttlMs: policy.holdTtlMs,
              monthlyCap: principal.payer.monthlyCap
            }).pipe(Effect.catchTag("InvalidAmount", (e) => Effect.die(e))),
            () =>
              Effect.flatMap(callProvider(req, p.ownKey), (result) => {
                const cost = result.images.length === 0 ? 0 : p.priceFor(result.images.length)
                return Effect.flatMap(Clock.currentTimeMillis, (now) =>
                  Effect.flatMap(keep(req, result, now), (kept) => {
                    // The balance comes from the settlement: 0 until then.
                    const made = describe(principal, req, p, { result, cost, hold }, kept, now, 0)
                    const event = usageEvent(input, p, started, now, {
                      provider: result.providerUsed as ProviderName,
                      images: result.images.length,
                      cost,
                      outcome: "success",
                      providerCostMicroUsd: result.providerCostMicroUsd
                    })
                    const completes = claim === undefined ? undefined : {
                      ...claim,
                      response: (balance: Balance) => encodeGeneration({ ...made, remainingMillicredits: balance.available })
                    }
                    return ledger.settle(hold, cost, { usage: event, completes }).pipe(
                      // Only a claim taken over by a retry can refuse a settlement made here.
                      Effect.catchTags({
                        InvalidAmount: (e) => Effect.die(e),
                        HoldNotFound: (e) => Effect.die(e),
                        HoldAlreadyResolved: (e) => Effect.die(e),
                        SettleExceedsHold: (e) => Effect.die(e)
                      }),
                      Effect.map((settled): Generation => {
                        onSettled()
                        return { ...made, remainingMillicredits: settled.balance.available }
                      }),
                      traced ? Effect.tap(() => Effect.annotateCurrentSpan(spanAttributes(event))) : identity
                    )
                  }))
              }),
            (held, exit) => (Exit.isSuccess(exit) ? Effect.void : Effect.ignore(ledger.release(held.id)))
          )
        })
      }

      /** A service credential's use, for the audit log (buffered: never waits on the store). */
      const auditUse = ({ principal, requestId }: GenerationInput, outcome: string, at: number) =>
        principal.actor._tag !== "Service" ? Effect.void : audit.record({
          at,
          kind: "credential",
          actor: principal.actor.service,
          action: "credential.use",
          target: principal.authMethod === "service_jwt" ? `jwt:${principal.actor.service}` : `key:${principal.keyId}`,
          keyId: principal.keyId,
          payer: principal.payer.account,
          outcome: outcome === "success" ? "ok" : outcome,
          requestId
        })

      /**
       * One attempt, recorded in the usage log (and a service's in the audit log) however it
       * ends: a billed success by its settlement, anything else here once it has ended.
       * `onSettled` is told when the settlement is made (it completed `claim`, if there is one).
       */
      const attempt = (
        input: GenerationInput,
        p: Plan,
        started: number,
        claim?: Claim,
        onSettled?: () => void
      ): Effect.Effect<Generation, GenerationError> => {
        const { request: req } = input
        let recorded = false
        return produce(input, p, started, claim, () => {
          recorded = true
          onSettled?.()
        }).pipe(
          Effect.onExit((exit) =>
            Effect.flatMap(Clock.currentTimeMillis, (now) =>
              (recorded ? Effect.void : record(usageEvent(input, p, started, now, {
                provider: Exit.isSuccess(exit) ? exit.value.providerUsed as ProviderName : req.model.provider,
                images: Exit.isSuccess(exit) ? exit.value.images.length : 0,
                cost: Exit.isSuccess(exit) ? exit.value.costMillicredits : 0,
                outcome: outcomeOf(exit),
                providerCostMicroUsd: Exit.isSuccess(exit) ? exit.value.providerCostMicroUsd : undefined
              }))).pipe(Effect.andThen(auditUse(input, outcomeOf(exit), started)))
            )
          )
        )
      }

      /**
       * With an idempotency key, the payer's key is claimed first: a repeat of a finished request
       * gets its generation back (nothing charged), a different request under the same key or one
       * still running is a conflict, and a failed attempt gives the key back.
       */
      const idempotent = (input: GenerationInput, key: string, p: Plan, started: number) =>
        Effect.gen(function*() {
          const scope = input.principal.payer.account
          const claim: Claim = { scope, key, attempt: yield* random.uuidV7() }
          const begun = yield* idempotency.begin({
            scope,
            key,
            fingerprint: yield* fingerprint(input.principal, input.request),
            now: started,
            expiresAt: started + policy.idempotencyTtlMs,
            attempt: claim.attempt,
            // A claim still running after its provider's deadline and a margin was left by a
            // process that died (or is hopelessly late): a retry takes it over. It never settled
            // (a settlement completes its claim), and it no longer can (it lost the claim).
            staleBefore: started - policy.providerTimeoutMs - CLAIM_MARGIN_MS
          })
          if (begun._tag === "Replay") {
            const first = decodeStoredGeneration(begun.response)
            return { ...first, chargedMillicredits: 0, replayed: true } satisfies Generation
          }
          // The attempt whose claim this one took over can no longer settle: its hold, if it made
          // one, goes back to the payer now rather than at its expiry.
          if (begun.tookOver !== undefined) yield* Effect.ignore(ledger.release(claimHold(begun.tookOver)))
          // A billed success's settlement has stored its answer already.
          let settled = false
          return yield* attempt(input, p, started, claim, () => {
            settled = true
          }).pipe(
            Effect.onExit((exit) =>
              Exit.isSuccess(exit)
                ? settled ? Effect.void : Effect.asVoid(idempotency.complete({ ...claim, response: encodeGeneration(exit.value) }))
                : idempotency.abandon(claim)
            )
          )
        })

      const unlimited = Effect.fnUntraced(function*(input: GenerationInput) {
        const started = yield* Clock.currentTimeMillis
        const p = yield* plan(input.principal, input.request)
        return yield* (input.idempotencyKey === undefined
          ? attempt(input, p, started)
          : idempotent(input, input.idempotencyKey, p, started))
      })

      /**
       * The service's rate limits come first, after authentication and before anything is held: a
       * refused request moves no credit, claims no idempotency key and is no usage event (it never
       * reached a provider; the access log and metrics count it as a 429). An admitted request's
       * in-flight slot is given back however it ends.
       */
      const defaults = policy.defaultRateLimits
      /** A service's own limits, or the gateway's defaults when it has none. */
      const limitsOf = (principal: Principal): Principal =>
        principal.rateLimits === undefined && defaults !== undefined && principal.actor._tag === "Service"
          ? { ...principal, rateLimits: defaults }
          : principal
      const flow = (input: GenerationInput) => {
        const principal = limitsOf(input.principal)
        return principal.rateLimits === undefined
          ? unlimited(input)
          : Effect.acquireUseRelease(limits.admit(principal, slotTtlMs), () => unlimited(input), (release) => release)
      }

      // The request's span, the root of its trace (the ledger's and the provider's spans are its
      // children). withSpan rather than Effect.fn: no call-site stack capture per request.
      const untraced = flow
      const generate = traced
        ? (input: GenerationInput) =>
          untraced(input).pipe(
            Effect.onExit((exit) => Effect.annotateCurrentSpan("generation.outcome", outcomeOf(exit))),
            Effect.withSpan("ImageGeneration.generate", {
              attributes: {
                "request.id": input.requestId,
                "generation.model": input.request.model.id,
                "generation.n": input.request.n,
                "generation.size": input.request.size,
                "generation.quality": input.request.quality,
                "auth.method": input.principal.authMethod,
                "auth.service": actorService(input.principal) ?? "none",
                "payer.kind": input.principal.payer.kind,
                "payer.tier": input.principal.payer.tier,
                "generation.idempotent": input.idempotencyKey !== undefined
              }
            }, { captureStackTrace: false })
          )
        : untraced

      return ImageGeneration.of({ generate })
    })
  )
}
