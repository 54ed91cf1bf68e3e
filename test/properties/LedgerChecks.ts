import { expect } from "vitest"
import type { Balance } from "../../src/domain/Ledger.ts"

/**
 * The ledger's balances as a model of it says, and its invariants: each account's posted and
 * pending exactly the model's, no customer account's available balance below zero, and the
 * posted balances summing to zero.
 */
export const expectBalancesAsModelled = (
  balances: ReadonlyArray<Balance>,
  model: { readonly posted: ReadonlyMap<string, number>; readonly pending: ReadonlyMap<string, number> }
) => {
  let sum = 0
  for (const b of balances) {
    sum += b.posted
    expect(b.posted).toBe(model.posted.get(b.account) ?? 0)
    expect(b.pending).toBe(model.pending.get(b.account) ?? 0)
    if (!b.account.startsWith("system:")) expect(b.available).toBeGreaterThanOrEqual(0)
  }
  expect(sum).toBe(0)
}
