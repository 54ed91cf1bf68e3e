import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { Administration } from "../../application/Administration.ts"
import type { PricingChange } from "../../application/PricingCatalog.ts"
import { PROVIDERS } from "../../domain/Models.ts"
import * as AdminJson from "../admin/AdminJson.ts"
import { pricingText } from "./AdminText.ts"
import { adminCall, emit, idempotencyKey, onStore, priceArgument, tier, UsageError } from "./CliSupport.ts"

const model = Argument.String("model").pipe(Argument.withDescription("The model, e.g. dall-e-3"))
const quality = Argument.String("quality").pipe(Argument.withDescription("The quality, e.g. standard, hd, low, or * for any"))
const size = Argument.String("size").pipe(Argument.withDescription("The size (or the model's size class, e.g. square), or * for any"))

/** Applies one change (every instance picks it up within seconds) and prints the pricing it made. */
const change = (key: Option.Option<string>, pricingChange: PricingChange, done: string) =>
  Effect.gen(function*() {
    const pricing = yield* onStore(Administration.use((admin) => admin.updatePricing(adminCall(key), pricingChange)))
    yield* emit(() => AdminJson.pricing(pricing), () => `${done} Pricing version ${pricing.version}; every gateway instance applies it within seconds.\n\n${pricingText(pricing)}`)
  })

const show = Command.make("show", {}, () =>
  Effect.gen(function*() {
    const pricing = yield* onStore(Administration.use((admin) => admin.pricing))
    yield* emit(() => AdminJson.pricing(pricing), () => pricingText(pricing))
  })).pipe(Command.withDescription("Show the prices, tier multipliers, credit-exempt tiers, the billing switch and the provider routes"))

const setPrice = Command.make("set-price", {
  model,
  quality,
  size,
  credits: priceArgument("credits", "The base price of one image, in credits (before the tier multiplier)"),
  idempotencyKey
}, (input) =>
  change(
    input.idempotencyKey,
    { setPrices: [{ model: input.model, quality: input.quality, size: input.size, millicredits: input.credits }] },
    `Set the price of ${input.model} ${input.quality} ${input.size}.`
  )).pipe(
    Command.withDescription("Add a price row, or replace the row with the same model, quality and size"),
    Command.withExamples([{ command: "admin pricing set-price dall-e-3 standard 1024x1024 45" }])
  )

const removePrice = Command.make("remove-price", { model, quality, size, idempotencyKey }, (input) =>
  change(
    input.idempotencyKey,
    { removePrices: [{ model: input.model, quality: input.quality, size: input.size }] },
    `Removed the price of ${input.model} ${input.quality} ${input.size}.`
  )).pipe(Command.withDescription("Remove a price row"))

const setMultiplier = Command.make("set-multiplier", {
  tier: tier.argument("tier", "The tier, e.g. managed"),
  bps: Argument.Int("bps").pipe(Argument.withDescription("Basis points: 10000 = list price, 12000 = +20 %"), Argument.optional),
  clear: Flag.Boolean("clear").pipe(
    Flag.withDescription("Remove the tier's own multiplier (the default multiplier applies)"),
    Flag.withDefault(false)
  ),
  idempotencyKey
}, (input) =>
  Effect.gen(function*() {
    if (input.clear === Option.isSome(input.bps)) {
      return yield* new UsageError({ message: "give the multiplier in basis points, or --clear" })
    }
    const bps = Option.getOrNull(input.bps)
    yield* change(
      input.idempotencyKey,
      { multipliersBps: { [input.tier]: bps } },
      bps === null ? `Cleared the multiplier of ${input.tier}.` : `Set the multiplier of ${input.tier} to ${bps} bps.`
    )
  })).pipe(
    Command.withDescription("Set (or --clear) a tier's price multiplier"),
    Command.withExamples([{ command: "admin pricing set-multiplier managed 12000" }, { command: "admin pricing set-multiplier trial --clear" }])
  )

const exempt = Command.make("exempt", {
  tiers: tier.argument("tier", "A tier whose requests are never charged").pipe(Argument.variadic()),
  none: Flag.Boolean("none").pipe(Flag.withDescription("No tier is exempt"), Flag.withDefault(false)),
  idempotencyKey
}, (input) =>
  Effect.gen(function*() {
    if (input.none === input.tiers.length > 0) {
      return yield* new UsageError({ message: "give the exempt tiers, or --none" })
    }
    yield* change(
      input.idempotencyKey,
      { creditExempt: input.tiers },
      input.none ? "No tier is credit-exempt now." : `Credit-exempt tiers: ${input.tiers.join(", ")}.`
    )
  })).pipe(
    Command.withDescription("Replace the list of credit-exempt tiers (their requests are never charged)"),
    Command.withExamples([{ command: "admin pricing exempt vip_founder internal" }, { command: "admin pricing exempt --none" }])
  )

const billing = Command.make("billing", {
  state: Argument.Literals("state", ["on", "off"]).pipe(Argument.withDescription("on: requests are charged; off: no request is")),
  idempotencyKey
}, (input) =>
  change(input.idempotencyKey, { billingEnabled: input.state === "on" }, `Billing is ${input.state}.`)).pipe(
    Command.withDescription("Turn billing on or off for everyone")
  )

const route = Command.make("route", {
  model,
  provider: Argument.Literals("provider", PROVIDERS).pipe(
    Argument.withDescription(`The provider that serves the model: ${PROVIDERS.join(", ")}`),
    Argument.optional
  ),
  clear: Flag.Boolean("clear").pipe(
    Flag.withDescription("Remove the model's route (PROVIDER_ROUTES, then the catalogue's default, apply)"),
    Flag.withDefault(false)
  ),
  idempotencyKey
}, (input) =>
  Effect.gen(function*() {
    if (input.clear === Option.isSome(input.provider)) {
      return yield* new UsageError({ message: "give the provider, or --clear" })
    }
    const provider = Option.getOrNull(input.provider)
    yield* change(
      input.idempotencyKey,
      { routes: { [input.model]: provider } },
      provider === null ? `Cleared the route of ${input.model}.` : `${input.model} is served by ${provider}.`
    )
  })).pipe(
    Command.withDescription("Route a model to a provider (over PROVIDER_ROUTES; BYOK calls still go to their key's provider), or --clear it"),
    Command.withExamples([{ command: "admin pricing route dall-e-3 openrouter" }, { command: "admin pricing route dall-e-3 --clear" }])
  )

export const PricingCommands = Command.make("pricing").pipe(
  Command.withDescription("Prices, tier multipliers, credit-exempt tiers, the billing switch and provider routes (data, applied within seconds)"),
  Command.withSubcommands([show, setPrice, removePrice, setMultiplier, exempt, billing, route])
)
