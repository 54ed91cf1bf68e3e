import { Context, type Effect, type Option } from "effect"
import type { AccountId } from "../../domain/Ids.ts"

/** What an alert is about; its payload (`data`) has a shape per type (docs/alerts.md). */
export type AlertType =
  | "balance.low"
  | "auth_failures.rate_exceeded"
  | "generation_401.rate_exceeded"
  | "report.weekly"

/** A JSON value, as an alert's payload carries it. */
export type AlertValue = string | number | boolean | null | ReadonlyArray<AlertValue> | { readonly [key: string]: AlertValue }

/** An alert as it is delivered: `{id, type, created_at, data}` on the wire. */
export interface Alert {
  readonly id: string
  readonly type: AlertType
  readonly createdAt: number
  readonly data: { readonly [key: string]: AlertValue }
}

/** An alert to raise: the store gives it its id and time. */
export type NewAlert = Pick<Alert, "type" | "data">

export type DeliveryStatus = "pending" | "delivered" | "failed"

/** An alert in the outbox, with where its delivery stands. */
export interface AlertRecord extends Alert {
  /** The outbox's order (set by the store); pages are cut at it, newest first. */
  readonly seq: number
  readonly status: DeliveryStatus
  /** Delivery attempts made so far. */
  readonly attempts: number
  /** Why the last attempt failed (a status or a network error; never a secret). */
  readonly lastError?: string | undefined
  /** When a pending alert is next tried (epoch ms). */
  readonly nextAttemptAt?: number | undefined
  readonly deliveredAt?: number | undefined
}

/** An account's balance alert: its own threshold (millicredits) if one was set, and whether it has fired. */
export interface AlertState {
  readonly threshold?: number | undefined
  /** Fired since the balance was last at or above the threshold; `false` is armed. */
  readonly fired: boolean
}

/**
 * One evaluation of a rate alert's episode (`key`, e.g. `generation_401`): `above` when the rate
 * is above its threshold at `at`.
 */
export interface RateCheck {
  readonly key: string
  readonly above: boolean
  readonly at: number
  /** The alert raised when this evaluation starts an episode. */
  readonly alert: NewAlert
}

/** What one delivery attempt came to. */
export type AttemptOutcome =
  | { readonly _tag: "Delivered" }
  | { readonly _tag: "Retry"; readonly error: string; readonly nextAttemptAt: number }
  | { readonly _tag: "Failed"; readonly error: string }

/**
 * Alert state and the outbox of alerts to deliver.
 *
 * A balance alert fires once per crossing: each account has an alert state, `armed` or `fired`.
 * `checkBalance` takes the account's alert lock (a row lock on PostgreSQL, a mutex in memory),
 * reads the available balance under it, and in that same step (one transaction) moves
 * `armed → fired` and puts the alert in the outbox when the balance is below the threshold, or
 * `fired → armed` when it is back at or above it. Checks of one account are serialised by the
 * lock and each one reads the balance as committed at that moment, so however many instances
 * check at once, only the first to see the balance below the threshold fires; the others find
 * the state `fired` and do nothing. The outbox row and the state change commit together: an
 * alert is never fired without being queued for delivery, nor queued twice.
 */
export class AlertStore extends Context.Service<AlertStore, {
  /**
   * Evaluates the account's balance alert: `available` is run under the account's alert lock.
   * Returns the alert fired by this check, if it fired one.
   */
  readonly checkBalance: (input: {
    readonly account: AccountId
    readonly available: Effect.Effect<number>
    /** The threshold (millicredits) for an account with none of its own. */
    readonly defaultThreshold: number
    readonly at: number
  }) => Effect.Effect<Option.Option<Alert>>
  /**
   * Evaluates a rate alert's episode, a compare-and-set on its state (a row lock on PostgreSQL):
   * `armed` and `above` fires (`fired`, and the alert queued in the same step); `fired` and not
   * `above` re-arms. An evaluation older than the last one applied to the key (`at` not after it)
   * changes nothing, so a slow instance's stale count never re-arms nor re-fires an episode.
   * However many instances evaluate at once, an episode raises one alert.
   */
  readonly checkRate: (input: RateCheck) => Effect.Effect<Option.Option<Alert>>
  /** The rate alerts' keys whose episode is under way (fired): evaluated until the rate falls, to re-arm them. */
  readonly firedRates: Effect.Effect<ReadonlyArray<string>>
  /**
   * Queues `alert` unless an alert was already queued under `dedupeKey` (unique in the store, kept
   * when the alert is delivered): the alert queued by this call, if it was the first.
   */
  readonly raiseOnce: (dedupeKey: string, alert: NewAlert, at: number) => Effect.Effect<Option.Option<Alert>>
  /** Whether an alert was queued under `dedupeKey`. */
  readonly raised: (dedupeKey: string) => Effect.Effect<boolean>
  /** The account's alert state; an account never checked nor given a threshold is armed, on the default. */
  readonly state: (account: AccountId) => Effect.Effect<AlertState>
  /** Sets the account's own threshold, or (`null`) goes back to the default. */
  readonly setThreshold: (account: AccountId, millicredits: number | null) => Effect.Effect<void>
  /**
   * Pending alerts due at `now`, at most `limit`, oldest first, leased until `leaseUntil`: no
   * other claim (in this process or another) returns them before then, so two instances never
   * deliver one alert at the same time. A lease outlives a lost process: its alerts come due again.
   */
  readonly claimDue: (input: { readonly now: number; readonly limit: number; readonly leaseUntil: number }) => Effect.Effect<
    ReadonlyArray<AlertRecord>
  >
  /** Records an attempt on a claimed alert: one more attempt, and its outcome. */
  readonly recordAttempt: (id: string, outcome: AttemptOutcome, at: number) => Effect.Effect<void>
  /** Newest first; `beforeSeq` continues after the previous page's last alert. */
  readonly list: (page: { readonly limit: number; readonly beforeSeq?: number | undefined }) => Effect.Effect<
    ReadonlyArray<AlertRecord>
  >
}>()("image-gateway/AlertStore") {}
