import { Cause, Clock, Context, Effect, Layer, Option, Queue } from "effect"
import { type AccountId, isSystemAccount } from "../domain/Ids.ts"
import { MILLI_PER_CREDIT } from "../domain/Money.ts"
import { type Alert, AlertStore } from "./ports/AlertStore.ts"
import { LedgerStore } from "./ports/LedgerStore.ts"

/** An account with no threshold of its own is alerted below 1,000 credits available. */
export const DEFAULT_LOW_BALANCE_THRESHOLD = 1_000 * MILLI_PER_CREDIT

/**
 * The threshold (millicredits) of accounts with none of their own, as configured
 * (ALERT_LOW_BALANCE_CREDITS): read by the balance checks and by what the admin API reports.
 */
export const LowBalanceThreshold = Context.Reference<number>("image-gateway/LowBalanceThreshold", {
  defaultValue: () => DEFAULT_LOW_BALANCE_THRESHOLD
})

/** Accounts waiting to be checked; beyond this, further changes are dropped (the next change checks again). */
const WATCH_CAPACITY = 10_000

/**
 * The pause after each batch of checks. Every reserve and settlement watches its account, so
 * without it a busy payer's account would be checked (a transaction holding its row lock, on
 * PostgreSQL) twice per generation; with it, at most about four times a second, whatever the
 * load, and a balance that stays low is alerted within about a quarter of a second.
 */
const CHECK_PAUSE = "250 millis"

/**
 * Low-balance alerts: an account's available balance (posted minus pending holds) going below
 * its threshold raises one alert per crossing; the alert re-arms once the balance is back at or
 * above the threshold (after a grant, a refund, a release).
 *
 * `watch` is what the ledger calls after a change: it only puts the account in a queue, so a
 * generation never waits for a check nor fails because of one. A background fiber takes the
 * queue in batches (an account changed many times since the last batch is checked once, and
 * batches are at least CHECK_PAUSE apart) and runs `check`, which reads the balance and moves the state in one atomic step of the
 * `AlertStore`. A dip that is healed before any check reads it (a reserve settled for less a
 * moment later) raises nothing: what is alerted is a balance that stays low.
 */
export class BalanceAlerts extends Context.Service<BalanceAlerts, {
  /** Schedules a check of the account; never waits, never fails. */
  readonly watch: (account: AccountId) => void
  /** Checks the account now: the alert this check fired, if any. */
  readonly check: (account: AccountId) => Effect.Effect<Option.Option<Alert>>
}>()("image-gateway/BalanceAlerts") {
  static readonly make = (options: { readonly defaultThreshold?: number | undefined } = {}) =>
    Effect.gen(function*() {
      const store = yield* AlertStore
      const ledger = yield* LedgerStore
      const defaultThreshold = options.defaultThreshold ?? (yield* LowBalanceThreshold)
      const queue = yield* Queue.dropping<AccountId>(WATCH_CAPACITY)

      const check = (account: AccountId) =>
        Effect.flatMap(Clock.currentTimeMillis, (at) =>
          store.checkBalance({
            account,
            available: Effect.map(ledger.balance(account), (b) => b.available),
            defaultThreshold,
            at
          }))

      // A failed check is logged and the worker goes on: alerts never stop the gateway.
      const checkLogged = (account: AccountId) =>
        check(account).pipe(
          Effect.catchCause((cause) =>
            Effect.logWarning("balance alert check failed", { account, cause: Cause.pretty(cause).split("\n", 1)[0] })
          )
        )

      yield* Queue.takeAll(queue).pipe(
        Effect.flatMap((accounts) => Effect.forEach(new Set(accounts), checkLogged, { discard: true })),
        Effect.andThen(Effect.sleep(CHECK_PAUSE)),
        Effect.forever,
        Effect.forkScoped
      )

      return BalanceAlerts.of({
        watch: (account) => {
          if (!isSystemAccount(account)) Queue.offerUnsafe(queue, account)
        },
        check
      })
    })

  static readonly layer = (options: { readonly defaultThreshold?: number | undefined } = {}) =>
    Layer.effect(BalanceAlerts, BalanceAlerts.make(options))
}

/**
 * The ledger store of `ports`, watched: every change to a customer account schedules a balance
 * check (after the change has committed; the check itself runs in the background).
 */
export const WatchedLedgerStore: Layer.Layer<LedgerStore, never, LedgerStore | BalanceAlerts> = Layer.effect(
  LedgerStore,
  Effect.gen(function*() {
    const inner = yield* LedgerStore
    const alerts = yield* BalanceAlerts
    const after = <A, E>(account: (a: A) => AccountId) => (self: Effect.Effect<A, E>) =>
      Effect.tap(self, (a) => Effect.sync(() => alerts.watch(account(a))))
    return LedgerStore.of({
      ...inner,
      grant: (input) => inner.grant(input).pipe(after((t) => t.credit)),
      reserve: (input) => inner.reserve(input).pipe(after((h) => h.account)),
      settle: (input) => inner.settle(input).pipe(after((r) => r.hold.account)),
      release: (input) => inner.release(input).pipe(after((h) => h.account)),
      refund: (input) => inner.refund(input).pipe(after((t) => t.credit))
    })
  })
)
