import { Cause, Clock, Effect } from "effect"
import { Administration } from "../../application/Administration.ts"
import { bucketStart } from "../../domain/TimeBuckets.ts"
import * as AdminJson from "../admin/AdminJson.ts"
import * as AlertJson from "../admin/AlertJson.ts"

/**
 * What the dashboard shows, read from the `Administration` service in one call: the service
 * organizations with their balances, pending holds and burn rate, usage per day, recent alerts,
 * and the keys. Amounts in credits as the admin API gives them, with exact millicredits beside.
 * A part that cannot be read (its store failed) is marked unavailable and logged; the rest of
 * the page still shows.
 */

const DAY_MS = 86_400_000
/** The burn rate is the average over this many days of charges. */
export const BURN_DAYS = 7
/** Days of usage the chart shows, today included. */
export const CHART_DAYS = 30
const RECENT_ALERTS = 20

type Part<A> = { readonly available: true; readonly data: A } | { readonly available: false }

const part = <A, E>(what: string, effect: Effect.Effect<A, E>): Effect.Effect<Part<A>> =>
  effect.pipe(
    Effect.map((data): Part<A> => ({ available: true, data })),
    Effect.catchCause((cause) =>
      Cause.hasInterruptsOnly(cause)
        ? Effect.failCause(cause as Cause.Cause<never>)
        : Effect.as(Effect.logWarning(`dashboard: ${what} not available`, cause), { available: false } as Part<A>)
    )
  )

export interface OrganizationRow {
  readonly id: string
  readonly services: ReadonlyArray<string>
  readonly balance: number
  readonly balance_millicredits: number
  readonly pending: number
  readonly pending_millicredits: number
  readonly available: number
  readonly available_millicredits: number
  /** Credits charged per day, averaged over the last `BURN_DAYS` days; null when usage is not available. */
  readonly burn_per_day: number | null
  readonly last_used_at: number | null
}

export const overview = Effect.gen(function*() {
  const admin = yield* Administration
  const now = yield* Clock.currentTimeMillis
  const chartSince = bucketStart("day", now) - (CHART_DAYS - 1) * DAY_MS
  const [services, burn, usage, alerts, keys] = yield* Effect.all([
    admin.listServices,
    part(
      "burn rate",
      admin.usageAnalytics({ since: now - BURN_DAYS * DAY_MS, until: now, bucket: "day", groupBy: "payer", limit: 100 })
    ),
    part("usage", admin.usageAnalytics({ since: chartSince, until: now, bucket: "day", groupBy: "none", limit: 1 })),
    part("alerts", admin.alerts({ limit: RECENT_ALERTS })),
    admin.listKeys({})
  ], { concurrency: "unbounded" })

  const spentByPayer = new Map(burn.available ? burn.data.groups.map((g) => [g.key, g.costMillicredits] as const) : [])
  const organizations = new Map<string, OrganizationRow>()
  for (const service of services) {
    if (service.org === undefined || service.account === undefined) continue
    const known = organizations.get(service.org)
    const lastUsed = AdminJson.seconds(service.lastUsedAt ?? 0) || null
    if (known !== undefined) {
      organizations.set(service.org, {
        ...known,
        services: [...known.services, service.name],
        last_used_at: Math.max(known.last_used_at ?? 0, lastUsed ?? 0) || null
      })
      continue
    }
    const balance = AdminJson.balance(service.account.balance)
    organizations.set(service.org, {
      id: balance.id,
      services: [service.name],
      balance: balance.balance,
      balance_millicredits: balance.balance_millicredits,
      pending: balance.pending,
      pending_millicredits: balance.pending_millicredits,
      available: balance.available,
      available_millicredits: balance.available_millicredits,
      // Display only: the daily average, to the millicredit.
      burn_per_day: burn.available ? AdminJson.credits(Math.round((spentByPayer.get(balance.id) ?? 0) / BURN_DAYS)) : null,
      last_used_at: lastUsed
    })
  }

  return {
    object: "dashboard",
    generated_at: AdminJson.seconds(now),
    organizations: [...organizations.values()],
    usage: usage.available
      ? {
        available: true,
        bucket: "day",
        points: usage.data.totals.map((p) => ({
          date: new Date(p.bucket).toISOString().slice(0, 10),
          credits: AdminJson.credits(p.costMillicredits),
          millicredits: p.costMillicredits,
          requests: p.requests,
          images: p.images
        }))
      }
      : { available: false },
    alerts: alerts.available ? { available: true, data: alerts.data.data.map(AlertJson.alert) } : { available: false },
    keys: keys.map(AdminJson.key)
  }
})
