import { Effect, Exit, Layer, ManagedRuntime } from "effect"
import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { CreditLedger } from "../../src/application/CreditLedger.ts"
import { ImageGeneration } from "../../src/application/ImageGeneration.ts"
import { ImageProvider } from "../../src/application/ports/ImageProvider.ts"
import { LedgerStore } from "../../src/application/ports/LedgerStore.ts"
import { GatewayPolicy } from "../../src/application/GatewayPolicy.ts"
import { PrincipalResolver } from "../../src/application/PrincipalResolver.ts"
import { generateAs } from "../../specs/support/Calls.ts"
import { generateLocally } from "../../src/adapters/local/LocalImageProvider.ts"
import { ProviderUnavailable } from "../../src/domain/Errors.ts"
import type { AccountId, HoldId, TransferId } from "../../src/domain/Ids.ts"
import { settleTransferId } from "../../src/domain/Ledger.ts"
import { expectBalancesAsModelled } from "./LedgerChecks.ts"
import type { AdapterSet } from "../../specs/support/AdapterSet.ts"
import { accounts, bearer, makeGateway, seedWorld, WORLD } from "../../specs/support/Harness.ts"

const ACCOUNTS = ["org_p", "org_q", "5b1e9c2a-3d4f-4a5b-8c6d-7e8f9a0b1c2d"] as ReadonlyArray<string> as ReadonlyArray<AccountId>

/** The ledger restated as plain data, to compare the adapters against. */
class LedgerModel {
  posted = new Map<string, number>()
  pending = new Map<string, number>()
  holds = new Map<string, { account: string; amount: number; status: string; settled: number }>()
  grants = new Map<string, { account: string; amount: number }>()
  settlements = new Map<string, { account: string; amount: number; refunded: number }>()
  refunds = new Map<string, { transfer: string; amount: number }>()
  available(a: string) {
    return (this.posted.get(a) ?? 0) - (this.pending.get(a) ?? 0)
  }
  move(a: string, delta: number) {
    this.posted.set(a, (this.posted.get(a) ?? 0) + delta)
  }
  hold(a: string, delta: number) {
    this.pending.set(a, (this.pending.get(a) ?? 0) + delta)
  }
}

/**
 * An amount as generated: a number, or the boundary of the operation's target at the moment it
 * runs — exactly what is there (`exact`: the account's available balance for a reserve, the
 * hold's amount for a settle, what is left to refund of a settlement) or one more (`over`).
 */
type Amount = number | "exact" | "over"

type Op<A = number> =
  | { readonly _tag: "grant"; readonly id: string; readonly account: AccountId; readonly amount: number }
  | { readonly _tag: "reserve"; readonly id: string; readonly account: AccountId; readonly amount: A; readonly expired: boolean }
  | { readonly _tag: "settle"; readonly id: string; readonly amount: A }
  | { readonly _tag: "release"; readonly id: string }
  | { readonly _tag: "refund"; readonly id: string; readonly hold: string; readonly amount: A }
  | { readonly _tag: "sweep" }

const ids = (prefix: string) => fc.integer({ min: 0, max: 3 }).map((i) => `${prefix}${i}`)
const amount = fc.integer({ min: 1, max: 600 })
/** Biased to the boundary: as often exactly what is there, or one more, as any other amount. */
const boundary = (random: fc.Arbitrary<number>): fc.Arbitrary<Amount> =>
  fc.oneof(
    { arbitrary: fc.constant("exact" as const), weight: 2 },
    { arbitrary: fc.constant("over" as const), weight: 2 },
    { arbitrary: random, weight: 3 }
  )
const account = fc.constantFrom(...ACCOUNTS)
const opArb: fc.Arbitrary<Op<Amount>> = fc.oneof(
  { arbitrary: fc.record({ _tag: fc.constant("grant" as const), id: ids("g"), account, amount }), weight: 1 },
  { arbitrary: fc.record({ _tag: fc.constant("reserve" as const), id: ids("h"), account, amount: boundary(amount), expired: fc.boolean() }), weight: 4 },
  { arbitrary: fc.record({ _tag: fc.constant("settle" as const), id: ids("h"), amount: boundary(fc.integer({ min: 0, max: 600 })) }), weight: 3 },
  { arbitrary: fc.record({ _tag: fc.constant("release" as const), id: ids("h") }), weight: 3 },
  { arbitrary: fc.record({ _tag: fc.constant("refund" as const), id: ids("r"), hold: ids("h"), amount: boundary(amount) }), weight: 2 },
  { arbitrary: fc.constant({ _tag: "sweep" as const }), weight: 1 }
)

/** The amount an operation runs with, from the model's state just before it. */
const concrete = (m: LedgerModel, op: Op<Amount>): Op => {
  const at = (amount: Amount, there: number | undefined): number =>
    typeof amount === "number" ? amount : there === undefined ? 1 : amount === "exact" ? there : there + 1
  switch (op._tag) {
    case "reserve":
      return { ...op, amount: at(op.amount, m.available(op.account)) }
    case "settle":
      return { ...op, amount: at(op.amount, m.holds.get(op.id)?.amount) }
    case "refund": {
      const s = m.settlements.get(settleTransferId(op.hold as HoldId))
      return { ...op, amount: at(op.amount, s === undefined ? undefined : s.amount - s.refunded) }
    }
    default:
      return op
  }
}

/** Every run starts with each account funded, so that holds succeed often enough to matter. */
const FUNDING: ReadonlyArray<Op> = ACCOUNTS.map((account, i) => ({ _tag: "grant", id: `fund${i}`, account, amount: 1500 }))

/** What the model says an operation does: the error tag, or undefined for success. */
const expectOf = (m: LedgerModel, op: Op): string | undefined => {
  // Amounts are positive whole millicredits (a settle may be 0), checked before anything else.
  if ((op._tag === "grant" || op._tag === "reserve" || op._tag === "refund") && op.amount <= 0) return "InvalidAmount"
  switch (op._tag) {
    case "grant": {
      const g = m.grants.get(op.id)
      if (g !== undefined) return g.account === op.account && g.amount === op.amount ? undefined : "IdempotencyConflict"
      m.grants.set(op.id, { account: op.account, amount: op.amount })
      m.move(op.account, op.amount)
      m.move("system:issuance", -op.amount)
      return undefined
    }
    case "reserve": {
      const h = m.holds.get(op.id)
      if (h !== undefined) return h.account === op.account && h.amount === op.amount ? undefined : "IdempotencyConflict"
      if (m.available(op.account) < op.amount) return "InsufficientCredits"
      m.holds.set(op.id, { account: op.account, amount: op.amount, status: op.expired ? "pending-expired" : "pending", settled: 0 })
      m.hold(op.account, op.amount)
      return undefined
    }
    case "settle": {
      const h = m.holds.get(op.id)
      if (h === undefined) return "HoldNotFound"
      if (h.status === "settled") return h.settled === op.amount ? undefined : "IdempotencyConflict"
      if (!h.status.startsWith("pending")) return "HoldAlreadyResolved"
      if (op.amount > h.amount) return "SettleExceedsHold"
      h.status = "settled"
      h.settled = op.amount
      m.hold(h.account, -h.amount)
      if (op.amount > 0) {
        m.move(h.account, -op.amount)
        m.move("system:revenue", op.amount)
        m.settlements.set(settleTransferId(op.id as HoldId), { account: h.account, amount: op.amount, refunded: 0 })
      }
      return undefined
    }
    case "release": {
      const h = m.holds.get(op.id)
      if (h === undefined) return "HoldNotFound"
      if (h.status === "settled") return "HoldAlreadyResolved"
      if (h.status.startsWith("pending")) {
        h.status = "released"
        m.hold(h.account, -h.amount)
      }
      return undefined
    }
    case "refund": {
      const transfer = settleTransferId(op.hold as HoldId)
      const r = m.refunds.get(op.id)
      if (r !== undefined) return r.transfer === transfer && r.amount === op.amount ? undefined : "IdempotencyConflict"
      const s = m.settlements.get(transfer)
      if (s === undefined) return "TransferNotFound"
      if (op.amount > s.amount - s.refunded) return "RefundExceedsTransfer"
      s.refunded += op.amount
      m.refunds.set(op.id, { transfer, amount: op.amount })
      m.move("system:revenue", -op.amount)
      m.move(s.account, op.amount)
      return undefined
    }
    case "sweep":
      for (const h of m.holds.values()) {
        if (h.status === "pending-expired") {
          h.status = "expired"
          m.hold(h.account, -h.amount)
        }
      }
      return undefined
  }
}

const perform = (op: Op) =>
  Effect.gen(function*() {
    const ledger = yield* CreditLedger
    switch (op._tag) {
      case "grant":
        return yield* Effect.asVoid(ledger.grant({ id: op.id as TransferId, account: op.account, amount: op.amount, reason: "prop" }))
      case "reserve":
        return yield* Effect.asVoid(ledger.reserve({ id: op.id as HoldId, account: op.account, amount: op.amount, ttlMs: op.expired ? -1 : 3_600_000 }))
      case "settle":
        return yield* Effect.asVoid(ledger.settle(op.id as HoldId, op.amount))
      case "release":
        return yield* Effect.asVoid(ledger.release(op.id as HoldId))
      case "refund":
        return yield* Effect.asVoid(ledger.refund({ id: op.id as TransferId, transfer: settleTransferId(op.hold as HoldId), amount: op.amount, reason: "prop" }))
      case "sweep":
        return yield* Effect.asVoid(ledger.sweep)
    }
  })

/** Ledger properties on one adapter set. */
export const ledgerProperties = (adapters: AdapterSet, numRuns: number) =>
  describe(`ledger properties [${adapters.name}] (${numRuns} runs each)`, () => {
    it("matches a model of double-entry accounts and two-phase holds for any sequence of operations, replays included", () =>
      fc.assert(
        fc.asyncProperty(fc.array(opArb, { minLength: 5, maxLength: 40, size: "max" }), async (generated) => {
          const ops: ReadonlyArray<Op<Amount>> = [...FUNDING, ...generated]
          const runtime = ManagedRuntime.make(makeGateway(adapters).layer as Layer.Layer<CreditLedger | LedgerStore>)
          try {
            const model = new LedgerModel()
            for (const generatedOp of ops) {
              const op = concrete(model, generatedOp)
              const expected = expectOf(model, op)
              const exit = await runtime.runPromiseExit(perform(op))
              const actual = Exit.isSuccess(exit) ? undefined : (exit.cause.reasons[0] as { error?: { _tag?: string } })?.error?._tag
              expect(actual).toBe(expected)
              expectBalancesAsModelled(await runtime.runPromise(LedgerStore.use((s) => s.balances)), model)
            }
          } finally {
            await runtime.dispose()
          }
        }),
        { numRuns }
      ))

    it("invariant 1 under any interleaving: concurrent generations on one payer never overdraw it, and every hold ends settled or released", () =>
      fc.assert(
        fc.asyncProperty(
          fc.scheduler(),
          fc.array(fc.record({ fail: fc.boolean(), quality: fc.constantFrom("standard", "hd") }), { minLength: 2, maxLength: 8 }),
          async (s, requests) => {
            // The provider's answers arrive in an order the scheduler picks.
            const provider = Layer.succeed(ImageProvider, ImageProvider.of({
              generate: (call) =>
                Effect.promise(() => s.schedule(Promise.resolve(call.prompt), call.prompt)).pipe(
                  Effect.andThen((prompt) =>
                    prompt.includes("fail") ? Effect.fail(new ProviderUnavailable({ provider: call.provider })) : generateLocally({ ...call, size: "8x8" })
                  )
                )
            }))
            const runtime = ManagedRuntime.make(
              makeGateway(adapters, { provider }).layer as Layer.Layer<
                ImageGeneration | PrincipalResolver | GatewayPolicy | CreditLedger | LedgerStore
              >
            )
            try {
              await runtime.runPromise(seedWorld as Effect.Effect<void>)
              const carol = accounts.carol
              const start = (await runtime.runPromise(CreditLedger.use((l) => l.balance(carol)))).posted
              const pending = requests.map((r, i) =>
                runtime.runPromise(Effect.result(generateAs(
                  bearer(WORLD.carol.key),
                  { prompt: `${r.fail ? "fail" : "ok"} ${i}`, model: "dall-e-3", quality: r.quality, response_format: "b64_json" }
                )))
              )
              let watching = true
              const watcher = (async () => {
                while (watching) {
                  const b = await runtime.runPromise(CreditLedger.use((l) => l.balance(carol)))
                  expect(b.available).toBeGreaterThanOrEqual(0)
                  await new Promise((r) => setTimeout(r, 0))
                }
              })()
              await s.waitFor(Promise.all(pending))
              watching = false
              await watcher
              const results = await Promise.all(pending)
              const charged = results.reduce((sum, r) => sum + (r._tag === "Success" ? r.success.chargedMillicredits : 0), 0)
              const end = await runtime.runPromise(CreditLedger.use((l) => l.balance(carol)))
              expect(end.pending).toBe(0)
              expect(end.posted).toBe(start - charged)
              expect(end.available).toBeGreaterThanOrEqual(0)
              for (const [i, r] of results.entries()) {
                if (requests[i]!.fail) expect(r._tag).toBe("Failure")
              }
            } finally {
              await runtime.dispose()
            }
          }
        ),
        { numRuns }
      ))
  })
