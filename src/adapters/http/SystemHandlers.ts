import { Effect } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { GatewayPolicy } from "../../application/GatewayPolicy.ts"
import { PricingCatalog } from "../../application/PricingCatalog.ts"
import { StoreHealth } from "../../application/ports/StoreHealth.ts"
import type { ModelSpec } from "../../domain/Models.ts"
import type { PriceRow } from "../../domain/Pricing.ts"
import { toCredits } from "../../domain/Money.ts"
import { Api } from "./Api.ts"
import { errorResponse, notReady } from "./ErrorMapping.ts"
import { json } from "./Responses.ts"

const READY_TIMEOUT_MS = 2_000

/** OpenAI's model list, with each image model's sizes and base prices (before tier multipliers). */
export const modelList = (models: ReadonlyArray<ModelSpec>, prices: ReadonlyArray<PriceRow>) => ({
  object: "list" as const,
  data: models.map((m) => ({
    id: m.id,
    object: "model" as const,
    created: 0,
    owned_by: m.provider,
    sizes: m.sizes,
    qualities: m.qualities,
    response_formats: m.responseFormats,
    max_n: m.maxN,
    prices: prices
      .filter((p) => p.model === m.id)
      .map((p) => ({ quality: p.quality, size: p.size, credits: toCredits(p.millicredits) }))
  }))
})

export const ModelsHandlers = HttpApiBuilder.group(
  Api,
  "models",
  Effect.fn(function*(handlers) {
    const policy = yield* GatewayPolicy
    const catalog = yield* PricingCatalog
    // The prices as this instance holds them now: a change shows in the next list.
    return handlers.handle("list", () => Effect.map(catalog.current, (pricing) => json(modelList(policy.models, pricing.data.prices))))
  })
)

export const SystemHandlers = HttpApiBuilder.group(
  Api,
  "system",
  Effect.fn(function*(handlers) {
    const store = yield* StoreHealth
    const ok = json({ status: "ok" })
    return handlers
      .handle("healthz", () => Effect.succeed(ok))
      .handle("readyz", () =>
        store.ping.pipe(
          Effect.timeout(READY_TIMEOUT_MS),
          Effect.as(json({ status: "ready" })),
          Effect.catchCause(() => Effect.succeed(errorResponse(notReady())))
        ))
  })
)
