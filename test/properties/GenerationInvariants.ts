import fc from "fast-check"
import { describe, expect, it } from "vitest"
import { WORLD } from "../../specs/support/Harness.ts"
import type { AdapterSet } from "../../specs/support/AdapterSet.ts"
import { basePrice, GatewayModel, MODELS, ownPayer, price, resolveModel, SERVICE_CREDENTIALS, type Step, stepArb, USER_CREDENTIALS } from "./GatewayModel.ts"
import { changedAccounts, isUserAccount, makeWorld, type Observation } from "./Runner.ts"

const SERVICE_ORGS: Record<string, string> = {
  presenton: "org_presenton_service",
  jwt: "org_presenton_service",
  jwtAlice: "org_presenton_service",
  strict: "org_strict_service",
  closed: "org_closed_service",
  scoped: "org_scoped_service"
}

/**
 * SPEC §5's invariants as properties over random request sequences: random credentials,
 * X-User-ID headers, models, provider outcomes and Idempotency-Key replays.
 */
export const generationInvariants = (adapters: AdapterSet, numRuns: number) => {
  /** Runs every generated sequence on a fresh world and checks `check` after each step. */
  const forSequences = (
    steps: fc.Arbitrary<Step>,
    check: (o: Observation, model: GatewayModel) => void,
    maxLength = 6
  ) =>
    fc.assert(
      fc.asyncProperty(fc.array(steps, { minLength: 1, maxLength }), async (sequence) => {
        const world = await makeWorld(adapters)
        const model = new GatewayModel()
        try {
          for (const step of sequence) check(await world.perform(step), model)
        } finally {
          await world.dispose()
        }
      }),
      { numRuns }
    )

  describe(`generation invariants [${adapters.name}] (${numRuns} sequences each)`, () => {
    it("agrees with an independent model of the decision table, prices and balances at every step", () =>
      forSequences(stepArb(), (o, model) => {
        const expected = model.step(o.step)
        if (expected.error !== undefined) {
          expect(o.result.ok).toBe(false)
          if (!o.result.ok) expect(o.result.error.startsWith(expected.error)).toBe(true)
          expect(changedAccounts(o)).toEqual([])
          return
        }
        expect(o.result).toMatchObject({ ok: true })
        if (!o.result.ok) return
        expect(o.result.value.replayed).toBe(expected.replay)
        expect(o.result.value.chargedMillicredits).toBe(expected.charge)
        expect(o.result.value.body._metadata.billed_to).toBe(expected.payer)
        for (const [account, posted] of model.balances) expect(o.after.balances.get(account)?.posted ?? 0).toBe(posted)
      }))

    it("invariant 1: no customer account's available balance is ever below zero", () =>
      forSequences(stepArb({ credentials: ["carol", "capped", "presenton", "bob", "member"], headers: ["absent", "carol", "member"] }), (o) => {
        for (const b of o.after.balances.values()) {
          if (!b.account.startsWith("system:")) expect(b.available).toBeGreaterThanOrEqual(0)
        }
      }, 10))

    it("invariant 2: the posted balances of all accounts sum to zero", () =>
      forSequences(stepArb(), (o) => {
        let sum = 0
        for (const b of o.after.balances.values()) sum += b.posted
        expect(sum).toBe(0)
        for (const t of o.newTransfers) expect(t.debit).not.toBe(t.credit)
      }))

    it("invariant 3: a service request without X-User-ID never touches a user account", () =>
      forSequences(stepArb({ credentials: SERVICE_CREDENTIALS.filter((c) => c !== "jwtAlice"), headers: ["absent"] }), (o) => {
        expect(changedAccounts(o).filter(isUserAccount)).toEqual([])
        for (const t of o.newTransfers) expect(isUserAccount(t.debit) || isUserAccount(t.credit)).toBe(false)
      }))

    it("invariant 4: a service request with X-User-ID never touches the service's organization", () =>
      forSequences(
        stepArb({ credentials: ["presenton", "strict", "closed", "jwt", "jwtAlice"], headers: ["alice", "bob", "carol", "member", "ghost", "garbage"] }),
        (o) => {
          const org = SERVICE_ORGS[o.step.credential]!
          expect(changedAccounts(o)).not.toContain(org)
        }
      ))

    it("invariant 5: a BYOK or credit-exempt request creates no ledger entry", () =>
      forSequences(stepArb({ credentials: ["bob", "vip", "presenton"], headers: ["absent", "bob"] }), (o) => {
        const who = resolveModel(o.step.credential, o.step.header)
        if (!who.ok) return
        const byok = who.payer === WORLD.bob.id && MODELS[o.step.body.model]!.provider !== "local"
        if (byok || who.tier === "vip_founder") {
          expect(o.newTransfers).toEqual([])
          expect(changedAccounts(o)).toEqual([])
          if (o.result.ok) expect(o.result.value.body._metadata.transaction_id).toBeNull()
        }
      }))

    it("invariant 6: a failed provider call ends with no posted debit and no pending hold", () =>
      forSequences(stepArb({ credentials: [...SERVICE_CREDENTIALS, ...USER_CREDENTIALS] }), (o) => {
        if (!o.result.ok && o.result.error.startsWith("Provider")) {
          expect(o.newTransfers).toEqual([])
          expect(changedAccounts(o)).toEqual([])
        }
        for (const b of o.after.balances.values()) expect(b.pending).toBe(0)
      }))

    it("invariant 7: settled ≤ reserved, and a retried Idempotency-Key is charged once", () =>
      forSequences(
        stepArb({ credentials: ["alice", "presenton", "member"], headers: ["absent"] }).map((s) => ({ ...s, idempotencyKey: "same" })),
        (o) => {
          if (!o.result.ok) return
          const who = resolveModel(o.step.credential, o.step.header)
          if (!who.ok) return
          const { body } = o.step
          const reserved = price(basePrice(body.model, body.quality, body.size), body.n, who.tier)
          expect(o.result.value.chargedMillicredits).toBeLessThanOrEqual(reserved)
          const settled = o.newTransfers.filter((t) => t.kind === "settle").reduce((s, t) => s + t.amount, 0)
          expect(settled).toBe(o.result.value.chargedMillicredits)
          if (o.result.value.replayed) {
            expect(o.newTransfers).toEqual([])
            expect(changedAccounts(o)).toEqual([])
          }
        }
      ))

    it("invariant 8: a user credential only ever debits its own user or its billing organization", () =>
      forSequences(stepArb({ credentials: USER_CREDENTIALS }), (o) => {
        const allowed = ownPayer(o.step.credential)!
        for (const t of o.newTransfers) {
          if (t.kind === "settle") expect(t.debit).toBe(allowed)
        }
        expect(changedAccounts(o).filter((a) => !a.startsWith("system:") && a !== allowed)).toEqual([])
      }))
  })
}
