import { Result, Schema } from "effect"
import { InvalidRequest } from "../domain/Errors.ts"
import { type ModelSpec, PROVIDERS, type ProviderName } from "../domain/Models.ts"
import type { PriceRow } from "../domain/Pricing.ts"
import { Tier } from "../domain/Tier.ts"
import type { PricingChange } from "./PricingCatalog.ts"
import type { PricingData } from "./ports/PricingStore.ts"

/** Tier multipliers, in basis points: from 0.01 % of the list price up to 100 times it. */
export const MIN_MULTIPLIER_BPS = 1
export const MAX_MULTIPLIER_BPS = 1_000_000

const isTier = Schema.is(Tier)

const invalid = (param: string | null, detail: string) => Result.fail(new InvalidRequest({ param, code: "invalid_value", detail }))

const ok: Result.Result<void, InvalidRequest> = Result.succeed(undefined)

const quoted = (names: Iterable<string>) => [...names].map((n) => `'${n}'`).join(", ")

const keyOf = (row: Pick<PriceRow, "model" | "quality" | "size">) => JSON.stringify([row.model, row.quality, row.size])

/** The quality and size names a model's requests are priced under (`priceQuality` / `priceSize` applied), and `*`. */
const priceNames = (names: ReadonlyArray<string>, mapping: Readonly<Record<string, string>>) =>
  new Set(["*", ...names.map((name) => mapping[name] ?? name)])

/** A price row's model, quality and size: a known model, and names its requests are priced under. */
const checkRowKey = (
  models: ReadonlyArray<ModelSpec>,
  row: Pick<PriceRow, "model" | "quality" | "size">,
  param: string
): Result.Result<void, InvalidRequest> => {
  const model = typeof row?.model === "string" ? models.find((m) => m.id === row.model) : undefined
  if (model === undefined) {
    return invalid(`${param}.model`, `${param}.model must be one of the gateway's models: ${quoted(models.map((m) => m.id))}.`)
  }
  const qualities = priceNames(model.qualities, model.priceQuality)
  if (typeof row.quality !== "string" || !qualities.has(row.quality)) {
    return invalid(`${param}.quality`, `${param}.quality must be one of ${quoted(qualities)} for ${model.id}.`)
  }
  const sizes = priceNames(model.sizes, model.priceSize)
  if (typeof row.size !== "string" || !sizes.has(row.size)) {
    return invalid(`${param}.size`, `${param}.size must be one of ${quoted(sizes)} for ${model.id}.`)
  }
  return ok
}

const isMultiplier = (value: unknown): value is number =>
  Number.isSafeInteger(value) && (value as number) >= MIN_MULTIPLIER_BPS && (value as number) <= MAX_MULTIPLIER_BPS

const multiplierRule = `an integer number of basis points from ${MIN_MULTIPLIER_BPS} to ${MAX_MULTIPLIER_BPS.toLocaleString("en-US")} (10000 = list price)`

const tierRule = "a tier name: a lowercase letter, then up to 31 lowercase letters, digits or underscores"

/**
 * Checks a change on its own (before it meets the stored data): known models, the quality and
 * size names their requests are priced under, whole non-negative millicredits, multipliers and
 * tier names in range. The first problem found is reported, naming the field to fix.
 */
export const validateChange = (
  change: PricingChange,
  models: ReadonlyArray<ModelSpec>
): Result.Result<void, InvalidRequest> => {
  const { setPrices, removePrices, multipliersBps, defaultMultiplierBps, creditExempt, billingEnabled, routes } = change
  if (
    setPrices === undefined && removePrices === undefined && multipliersBps === undefined &&
    defaultMultiplierBps === undefined && creditExempt === undefined && billingEnabled === undefined && routes === undefined
  ) {
    return invalid(
      null,
      "The pricing change is empty: give at least one of setPrices, removePrices, multipliersBps, defaultMultiplierBps, creditExempt, billingEnabled or routes."
    )
  }
  const touched = new Map<string, string>()
  if (setPrices !== undefined) {
    if (!Array.isArray(setPrices)) return invalid("setPrices", "setPrices must be a list of price rows.")
    for (const [i, row] of setPrices.entries()) {
      const param = `setPrices[${i}]`
      const key = checkRowKey(models, row, param)
      if (Result.isFailure(key)) return key
      if (!Number.isSafeInteger(row.millicredits) || row.millicredits < 0) {
        return invalid(`${param}.millicredits`, `${param}.millicredits must be a whole number of millicredits, 0 or more (1 credit = 1000).`)
      }
      const earlier = touched.get(keyOf(row))
      if (earlier !== undefined) return invalid(param, `${param} prices the same model, quality and size as ${earlier}.`)
      touched.set(keyOf(row), param)
    }
  }
  if (removePrices !== undefined) {
    if (!Array.isArray(removePrices)) return invalid("removePrices", "removePrices must be a list of rows (model, quality, size).")
    for (const [i, row] of removePrices.entries()) {
      const param = `removePrices[${i}]`
      const key = checkRowKey(models, row, param)
      if (Result.isFailure(key)) return key
      const earlier = touched.get(keyOf(row))
      if (earlier !== undefined) return invalid(param, `${param} names the same model, quality and size as ${earlier}.`)
      touched.set(keyOf(row), param)
    }
  }
  if (multipliersBps !== undefined) {
    if (typeof multipliersBps !== "object" || multipliersBps === null || Array.isArray(multipliersBps)) {
      return invalid("multipliersBps", "multipliersBps must map tier names to basis points (or null to remove a tier's own multiplier).")
    }
    for (const [tier, bps] of Object.entries(multipliersBps)) {
      if (!isTier(tier)) return invalid("multipliersBps", `multipliersBps: '${tier.slice(0, 64)}' is not ${tierRule}.`)
      if (bps !== null && !isMultiplier(bps)) {
        return invalid(`multipliersBps.${tier}`, `multipliersBps.${tier} must be ${multiplierRule}, or null.`)
      }
    }
  }
  if (defaultMultiplierBps !== undefined && !isMultiplier(defaultMultiplierBps)) {
    return invalid("defaultMultiplierBps", `defaultMultiplierBps must be ${multiplierRule}.`)
  }
  if (creditExempt !== undefined) {
    if (!Array.isArray(creditExempt)) return invalid("creditExempt", "creditExempt must be a list of tier names.")
    for (const [i, tier] of creditExempt.entries()) {
      if (typeof tier !== "string" || !isTier(tier)) return invalid(`creditExempt[${i}]`, `creditExempt[${i}] must be ${tierRule}.`)
    }
  }
  if (billingEnabled !== undefined && typeof billingEnabled !== "boolean") {
    return invalid("billingEnabled", "billingEnabled must be true or false.")
  }
  if (routes !== undefined) {
    if (typeof routes !== "object" || routes === null || Array.isArray(routes)) {
      return invalid("routes", "routes must map model ids to providers (or null to remove a model's route).")
    }
    for (const [model, provider] of Object.entries(routes)) {
      if (!models.some((m) => m.id === model)) {
        return invalid(
          `routes.${model.slice(0, 64)}`,
          `routes: '${model.slice(0, 64)}' is not one of the gateway's models: ${quoted(models.map((m) => m.id))}.`
        )
      }
      if (provider !== null && !(PROVIDERS as ReadonlyArray<unknown>).includes(provider)) {
        return invalid(`routes.${model}`, `routes.${model} must be one of the providers ${quoted(PROVIDERS)}, or null.`)
      }
    }
  }
  return ok
}

/**
 * The data after a (validated) change. Fails when it removes a price row the data does not have;
 * a replaced row keeps its place in the table, a new one is added at the end.
 */
export const applyChange = (data: PricingData, change: PricingChange): Result.Result<PricingData, InvalidRequest> => {
  let prices = data.prices
  for (const [i, removed] of (change.removePrices ?? []).entries()) {
    const key = keyOf(removed)
    if (!prices.some((row) => keyOf(row) === key)) {
      return invalid(
        `removePrices[${i}]`,
        `removePrices[${i}]: there is no price for ${removed.model} at quality '${removed.quality}' and size '${removed.size}'.`
      )
    }
    prices = prices.filter((row) => keyOf(row) !== key)
  }
  for (const set of change.setPrices ?? []) {
    const row: PriceRow = { model: set.model, quality: set.quality, size: set.size, millicredits: set.millicredits }
    const at = prices.findIndex((existing) => keyOf(existing) === keyOf(row))
    prices = at === -1 ? [...prices, row] : prices.map((existing, j) => (j === at ? row : existing))
  }
  const multipliersBps: Record<string, number> = { ...data.tiers.multipliersBps }
  for (const [tier, bps] of Object.entries(change.multipliersBps ?? {})) {
    if (bps === null) delete multipliersBps[tier]
    else multipliersBps[tier] = bps
  }
  let routes = data.routes
  if (change.routes !== undefined) {
    const next: Record<string, ProviderName> = { ...data.routes }
    for (const [model, provider] of Object.entries(change.routes)) {
      if (provider === null) delete next[model]
      else next[model] = provider
    }
    routes = next
  }
  return Result.succeed({
    prices,
    ...(routes === undefined ? {} : { routes }),
    tiers: {
      multipliersBps,
      defaultMultiplierBps: change.defaultMultiplierBps ?? data.tiers.defaultMultiplierBps,
      creditExempt: change.creditExempt === undefined ? data.tiers.creditExempt : [...new Set(change.creditExempt)],
      billingEnabled: change.billingEnabled ?? data.tiers.billingEnabled
    }
  })
}
