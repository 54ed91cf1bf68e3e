import { Schema } from "effect"

/**
 * Money is an integer count of millicredits (1 credit = 1,000 millicredits). Nothing on the
 * money path is ever a float; `toCredits` exists only to show amounts to people.
 */
export const Millicredits = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)).pipe(Schema.brand("Millicredits"))
export type Millicredits = typeof Millicredits.Type

export const MILLI_PER_CREDIT = 1000

export const millicredits = (n: number): Millicredits => {
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`not a millicredit amount: ${n}`)
  return n as Millicredits
}

export const credits = (whole: number): Millicredits => millicredits(whole * MILLI_PER_CREDIT)

/** Credits with up to 3 decimals, as the API shows them (e.g. 48, 9952.5). */
export const toCredits = (m: number): number => m / MILLI_PER_CREDIT

/** Exact integer ceil(a / b) for non-negative safe integers. */
export const ceilDiv = (a: number, b: number): number => {
  const rest = a % b
  return (a - rest) / b + (rest > 0 ? 1 : 0)
}
