import { Deferred, Effect, Fiber, Layer } from "effect"
import { describe, expect, it } from "vitest"
import { CreditLedger } from "../../src/application/CreditLedger.ts"
import { ImageProvider } from "../../src/application/ports/ImageProvider.ts"
import { PricingCatalog, type PricingChange } from "../../src/application/PricingCatalog.ts"
import { generateLocally } from "../../src/adapters/local/LocalImageProvider.ts"
import type { AccountId } from "../../src/domain/Ids.ts"
import { memoryAdapterSet } from "../../specs/support/AdapterSet.ts"
import { generateAs } from "../../specs/support/Calls.ts"
import { accounts, bearer, makeGateway, seedWorld, WORLD } from "../../specs/support/Harness.ts"

const UNICORN = { prompt: "A unicorn with a magic wand", model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 }
const unicornAt = (millicredits: number) => ({ model: "dall-e-3", quality: "standard", size: "1024x1024", millicredits })

const posted = (account: AccountId) => CreditLedger.use((l) => Effect.map(l.balance(account), (b) => b.posted))
const history = (account: AccountId) => CreditLedger.use((l) => l.history(account))
const update = (change: PricingChange) => PricingCatalog.use((c) => c.update(change))

/**
 * The core on fresh memory adapters, with the local provider; a prompt marked `[gate]` makes the
 * provider signal `entered` and answer only once `release` is done.
 */
const world = () =>
  Effect.gen(function*() {
    const entered = yield* Deferred.make<void>()
    const release = yield* Deferred.make<void>()
    const provider = Layer.succeed(ImageProvider, ImageProvider.of({
      generate: (call) => {
        const answer = generateLocally({ ...call, size: "8x8" })
        return call.prompt.includes("[gate]")
          ? Effect.andThen(Effect.andThen(Deferred.succeed(entered, undefined), Deferred.await(release)), answer)
          : answer
      }
    }))
    return { layer: makeGateway(memoryAdapterSet, { provider }).layer, entered, release }
  })

const run = <A, E>(
  body: (w: Effect.Success<ReturnType<typeof world>>) => Effect.Effect<A, E, Layer.Success<ReturnType<typeof makeGateway>["layer"]>>
) =>
  Effect.runPromise(Effect.scoped(Effect.gen(function*() {
    const w = yield* world()
    return yield* Effect.provide(Effect.andThen(seedWorld, body(w)), w.layer)
  })))

describe("pricing from the catalog in the generation flow", () => {
  it("charges a request at the prices it was priced with, even when they change while the provider works", () =>
    run((w) =>
      Effect.gen(function*() {
        const before = yield* posted(accounts.presentonOrg)
        const inFlight = yield* Effect.forkChild(generateAs(bearer(WORLD.presentonKey), { ...UNICORN, prompt: "a unicorn [gate]" }))
        yield* Deferred.await(w.entered).pipe(Effect.timeout("10 seconds"))
        // Priced (and held) at 40 credits × 1.2; the prices rise before the provider answers.
        yield* update({ setPrices: [unicornAt(100_000)], multipliersBps: { managed: 20000 } })
        yield* Deferred.succeed(w.release, undefined)
        const first = yield* Fiber.join(inFlight).pipe(Effect.timeout("10 seconds"))
        expect(first.chargedMillicredits).toBe(48_000)
        expect(first.body._metadata).toMatchObject({ cost_incurred: 48 })
        expect(yield* posted(accounts.presentonOrg)).toBe(before - 48_000)

        // The next request is priced at the new prices: 100 credits × 2.
        const second = yield* generateAs(bearer(WORLD.presentonKey), UNICORN)
        expect(second.chargedMillicredits).toBe(200_000)
        expect(second.body._metadata).toMatchObject({ cost_incurred: 200 })
        expect(yield* posted(accounts.presentonOrg)).toBe(before - 248_000)
      })))

  it("applies the credit-exempt list and the billing switch from the catalog to the next request", () =>
    run(() =>
      Effect.gen(function*() {
        const alice = bearer(WORLD.alice.key)
        const billed = yield* generateAs(alice, UNICORN)
        expect(billed.billing).toBe("billed")
        const entries = (yield* history(accounts.alice)).length

        yield* update({ creditExempt: [billed.payer.tier] })
        const exempt = yield* generateAs(alice, UNICORN)
        expect(exempt).toMatchObject({ billing: "exempt", chargedMillicredits: 0 })

        yield* update({ creditExempt: [], billingEnabled: false })
        const switchedOff = yield* generateAs(alice, UNICORN)
        expect(switchedOff).toMatchObject({ billing: "exempt", chargedMillicredits: 0 })
        expect((yield* history(accounts.alice)).length).toBe(entries)

        yield* update({ billingEnabled: true })
        const again = yield* generateAs(alice, UNICORN)
        expect(again).toMatchObject({ billing: "billed", chargedMillicredits: billed.chargedMillicredits })
      })))

  it("refuses a billed request for which the catalog no longer has a price", () =>
    run(() =>
      Effect.gen(function*() {
        yield* update({ removePrices: [{ model: "dall-e-3", quality: "standard", size: "1024x1024" }] })
        const refused = yield* Effect.flip(generateAs(bearer(WORLD.alice.key), UNICORN))
        expect(refused).toMatchObject({ _tag: "InvalidRequest", param: "size" })
      })))
})
