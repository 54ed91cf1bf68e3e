import { Effect, Layer, Option, Semaphore } from "effect"
import type { AccountId } from "../../domain/Ids.ts"
import { type Alert, type AlertRecord, AlertStore, type NewAlert } from "../../application/ports/AlertStore.ts"

/** Alerts kept for the admin listing once delivered or failed; pending ones are always kept. */
const KEPT_FINISHED = 10_000

interface State {
  threshold?: number | undefined
  fired: boolean
}

interface Episode {
  fired: boolean
  evaluatedAt: number
}

interface Row {
  record: AlertRecord
  leasedUntil: number
}

/**
 * Alert state and outbox in process memory (`STORAGE=memory`: lost with the process, as the
 * ledger is). A check holds a mutex while it reads the balance and changes the state, the same
 * serialisation PostgreSQL's row lock gives; the state change and the outbox insert are one
 * synchronous block.
 */
export const makeMemoryAlertStore = () => {
  const states = new Map<AccountId, State>()
  const outbox = new Map<string, Row>() // in insertion (seq) order
  const episodes = new Map<string, Episode>()
  // Kept apart from the outbox, which drops finished alerts: a key is never forgotten.
  const onceKeys = new Set<string>()
  const lock = Semaphore.makeUnsafe(1)
  let seq = 0

  const stateOf = (account: AccountId): State => {
    let s = states.get(account)
    if (s === undefined) {
      s = { fired: false }
      states.set(account, s)
    }
    return s
  }

  /** Drops the oldest finished alerts beyond the bound. */
  const trim = () => {
    let finished = 0
    for (const row of outbox.values()) if (row.record.status !== "pending") finished++
    for (const [id, row] of outbox) {
      if (finished <= KEPT_FINISHED) break
      if (row.record.status !== "pending") {
        outbox.delete(id)
        finished--
      }
    }
  }

  /** Puts a new alert in the outbox, due at once; callers hold the lock or run in one synchronous block. */
  const enqueue = (alert: NewAlert, at: number): Alert => {
    const queued: Alert = { id: `alert_${globalThis.crypto.randomUUID()}`, type: alert.type, createdAt: at, data: alert.data }
    outbox.set(queued.id, {
      record: { ...queued, seq: ++seq, status: "pending", attempts: 0, nextAttemptAt: at },
      leasedUntil: 0
    })
    return queued
  }

  const checkBalance: AlertStore["Service"]["checkBalance"] = (input) =>
    lock.withPermits(1)(Effect.flatMap(input.available, (available) =>
      Effect.sync((): Option.Option<Alert> => {
        const state = stateOf(input.account)
        const threshold = state.threshold ?? input.defaultThreshold
        if (available >= threshold) {
          state.fired = false
          return Option.none()
        }
        if (state.fired) return Option.none()
        state.fired = true
        return Option.some(enqueue({
          type: "balance.low",
          data: { account: input.account, available_millicredits: available, threshold_millicredits: threshold }
        }, input.at))
      })))

  const checkRate: AlertStore["Service"]["checkRate"] = ({ above, alert, at, key }) =>
    Effect.sync((): Option.Option<Alert> => {
      const episode = episodes.get(key) ?? { fired: false, evaluatedAt: Number.NEGATIVE_INFINITY }
      if (at <= episode.evaluatedAt) return Option.none()
      const fires = above && !episode.fired
      episodes.set(key, { fired: above, evaluatedAt: at })
      return fires ? Option.some(enqueue(alert, at)) : Option.none()
    })

  return AlertStore.of({
    checkBalance,
    checkRate,
    firedRates: Effect.sync(() => [...episodes].filter(([, e]) => e.fired).map(([key]) => key)),
    raiseOnce: (dedupeKey, alert, at) =>
      Effect.sync(() => {
        if (onceKeys.has(dedupeKey)) return Option.none()
        onceKeys.add(dedupeKey)
        return Option.some(enqueue(alert, at))
      }),
    raised: (dedupeKey) => Effect.sync(() => onceKeys.has(dedupeKey)),
    state: (account) =>
      Effect.sync(() => {
        const s = states.get(account)
        return s?.threshold === undefined ? { fired: s?.fired ?? false } : { threshold: s.threshold, fired: s.fired }
      }),
    setThreshold: (account, millicredits) =>
      lock.withPermits(1)(Effect.sync(() => {
        stateOf(account).threshold = millicredits ?? undefined
      })),
    claimDue: ({ leaseUntil, limit, now }) =>
      Effect.sync(() => {
        const due: Array<AlertRecord> = []
        for (const row of outbox.values()) {
          if (due.length >= limit) break
          const r = row.record
          if (r.status === "pending" && (r.nextAttemptAt ?? 0) <= now && row.leasedUntil <= now) {
            row.leasedUntil = leaseUntil
            due.push(r)
          }
        }
        return due
      }),
    recordAttempt: (id, outcome, at) =>
      Effect.sync(() => {
        const row = outbox.get(id)
        if (row === undefined) return
        const attempts = row.record.attempts + 1
        row.leasedUntil = 0
        switch (outcome._tag) {
          case "Delivered":
            row.record = { ...row.record, attempts, status: "delivered", deliveredAt: at, nextAttemptAt: undefined }
            break
          case "Retry":
            row.record = { ...row.record, attempts, lastError: outcome.error, nextAttemptAt: outcome.nextAttemptAt }
            break
          case "Failed":
            row.record = { ...row.record, attempts, status: "failed", lastError: outcome.error, nextAttemptAt: undefined }
            break
        }
        if (outcome._tag !== "Retry") trim()
      }),
    list: ({ beforeSeq, limit }) =>
      Effect.sync(() =>
        [...outbox.values()]
          .map((row) => row.record)
          .filter((r) => beforeSeq === undefined || r.seq < beforeSeq)
          .reverse()
          .slice(0, limit)
      )
  })
}

export const MemoryAlertStore: Layer.Layer<AlertStore> = Layer.sync(AlertStore, makeMemoryAlertStore)
