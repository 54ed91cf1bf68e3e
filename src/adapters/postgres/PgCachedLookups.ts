/**
 * What every request looks up — its key, service, user, organization and BYOK key — cached in
 * process, so that a generation on PostgreSQL costs its ledger statements and no reads.
 *
 * Every instance learns of a change from PostgreSQL itself: triggers on the five tables (migration
 * 0012) send `NOTIFY image_gateway_changes, '<table>:<key>'` when a row is inserted, changed
 * (a key's last use excepted) or deleted, whoever wrote it — a gateway, the admin CLI, an operator
 * in psql. Each instance LISTENs on one connection and drops the entry named. A change is seen
 * everywhere once it has committed and the notification has arrived (milliseconds); where it was
 * made, at once.
 *
 * The cache is used only while the listening connection is known to be alive: from the moment
 * LISTEN is confirmed (the caches start empty) until it fails or stays silent for longer than
 * HEARTBEAT twice over (each instance notifies itself every HEARTBEAT). Then every entry is
 * dropped and look-ups go to the database until listening again. So a change is never missed
 * for longer than that silence, and entries also expire after ENTRY_TTL whatever happens.
 *
 * A look-up that was running when its entry was dropped is not kept (effect's `Cache` forgets
 * an invalidated pending entry), so a read from before a change never outlives the change's
 * notification. Unknown keys are not cached: random keys cannot fill the cache.
 */
import { PgClient } from "@effect/sql-pg"
import { Cache, Cause, Context, Duration, Effect, Exit, Layer, Metric, Option, Queue, Schedule } from "effect"
import { ByokStore } from "../../application/ports/ByokStore.ts"
import { KeyStore } from "../../application/ports/KeyStore.ts"
import { OrganizationRepository, ServiceRegistry, UserRepository } from "../../application/ports/Repositories.ts"
import type { AccountId } from "../../domain/Ids.ts"
import { PROVIDERS, type ProviderName } from "../../domain/Models.ts"

/** The channel the triggers notify (Migrations.ts, 0012). */
export const CHANGES_CHANNEL = "image_gateway_changes"

/** How often an instance notifies itself to prove its listening connection alive. */
export const HEARTBEAT = Duration.seconds(2)

/** Entries kept per cache, the least recently used leaving first. */
const CAPACITY = 10_000

/** The longest an entry is kept, notifications or not. */
const ENTRY_TTL = Duration.minutes(1)

/** Between attempts to listen again after the connection was lost. */
const RELISTEN_PAUSE = Duration.seconds(1)

const lookupsFromDatabase = Metric.counter("gateway_lookup_cache_misses_total", {
  description: "Look-ups of keys, services, users, organizations and BYOK keys that went to the database."
})
const invalidations = Metric.counter("gateway_lookup_cache_invalidations_total", {
  description: "Cache entries dropped because PostgreSQL notified a change (or the listener was lost)."
})
const listening = Metric.gauge("gateway_lookup_cache_listening", {
  description: "1 while this instance listens for changes and uses its look-up caches, 0 while look-ups go to the database."
})

type Services = KeyStore | ServiceRegistry | UserRepository | OrganizationRepository | ByokStore

const byokKey = (account: AccountId, provider: ProviderName) => `${account}\u0000${provider}`

/** Keep a successful look-up (an unknown key's none excepted); never a failure or a defect. */
const keepFor = (keepNone: boolean) => (exit: Exit.Exit<Option.Option<unknown>>) =>
  Exit.isSuccess(exit) && (keepNone || Option.isSome(exit.value)) ? ENTRY_TTL : Duration.zero

/**
 * The five ports of the context, their look-ups cached, and whether the caches are in use
 * (listening). Their writes go to the database and drop the entry here at once (the notification
 * drops it everywhere else). The listener runs in the scope.
 */
export const makeCachedLookups = Effect.gen(function*() {
    const pg = yield* PgClient.PgClient
    const keys = yield* KeyStore
    const services = yield* ServiceRegistry
    const users = yield* UserRepository
    const orgs = yield* OrganizationRepository
    const byok = yield* ByokStore

    const counted = <A>(lookup: Effect.Effect<A>) => Effect.tap(lookup, () => Metric.update(lookupsFromDatabase, 1))
    const keyCache = yield* Cache.makeWith((hash: string) => counted(keys.findByHash(hash)), {
      capacity: CAPACITY,
      timeToLive: keepFor(false)
    })
    const serviceCache = yield* Cache.makeWith((name: string) => counted(services.find(name as never)), {
      capacity: CAPACITY,
      timeToLive: keepFor(true)
    })
    const userCache = yield* Cache.makeWith((id: string) => counted(users.find(id as never)), {
      capacity: CAPACITY,
      timeToLive: keepFor(true)
    })
    const orgCache = yield* Cache.makeWith((id: string) => counted(orgs.find(id as never)), {
      capacity: CAPACITY,
      timeToLive: keepFor(true)
    })
    const byokCache = yield* Cache.makeWith(
      (key: string) => {
        const [account, provider] = key.split("\u0000") as [AccountId, ProviderName]
        return counted(byok.findEnabled(account, provider))
      },
      { capacity: CAPACITY, timeToLive: keepFor(true) }
    )

    /** Whether the caches may be used: the listening connection is known to be alive. */
    let live = false
    /**
     * Whether the loss of listening was logged: one warning when listening stops (or never
     * starts), not one per attempt to listen again — a database that refuses LISTEN (behind a
     * transaction-mode pooler) would otherwise log every second.
     */
    let warned = false

    const dropAll = Effect.all([
      Cache.invalidateAll(keyCache),
      Cache.invalidateAll(serviceCache),
      Cache.invalidateAll(userCache),
      Cache.invalidateAll(orgCache),
      Cache.invalidateAll(byokCache)
    ], { discard: true })

    const dropByokAccount = (account: string) =>
      Effect.forEach(PROVIDERS, (provider) => Cache.invalidate(byokCache, byokKey(account as AccountId, provider)), {
        discard: true
      })

    /** Drops what a notification names: `<table>:<key>`; anything else drops everything. */
    const onChange = (payload: string): Effect.Effect<void> => {
      const colon = payload.indexOf(":")
      const table = payload.slice(0, colon)
      const key = payload.slice(colon + 1)
      const drop = table === "api_keys"
        ? Cache.invalidate(keyCache, key)
        : table === "services"
        ? Cache.invalidate(serviceCache, key)
        : table === "users"
        ? Cache.invalidate(userCache, key)
        : table === "organizations"
        ? Cache.invalidate(orgCache, key)
        : table === "byok_keys"
        ? dropByokAccount(key)
        : dropAll
      return Effect.andThen(drop, Metric.update(invalidations, 1))
    }

    const stopUsing = Effect.suspend(() => {
      live = false
      return Effect.andThen(dropAll, Metric.update(listening, 0))
    })

    /**
     * One listening session: LISTEN, then the caches are used, each notification dropping its
     * entry, until the connection fails or is silent for two heartbeats.
     */
    const session = Effect.scoped(Effect.gen(function*() {
      const queue = yield* pg.listen(CHANGES_CHANNEL)
      yield* Effect.forkScoped(
        Effect.ignore(Effect.timeout(pg.notify(CHANGES_CHANNEL, "heartbeat:"), HEARTBEAT)).pipe(
          Effect.repeat(Schedule.spaced(HEARTBEAT))
        )
      )
      // Whatever was cached before (a previous session) may have missed changes.
      yield* dropAll
      live = true
      warned = false
      yield* Metric.update(listening, 1)
      const silence = Duration.times(HEARTBEAT, 2)
      while (true) {
        const message = yield* Queue.take(queue).pipe(
          Effect.timeoutOrElse({
            duration: silence,
            orElse: () => Effect.fail(new Error(`no notification for ${Duration.format(silence)}`))
          })
        )
        if (!message.payload.startsWith("heartbeat:")) yield* onChange(message.payload)
      }
    }))

    yield* session.pipe(
      Effect.catchCause((cause) => {
        const wasLive = live
        return Effect.andThen(
          stopUsing,
          wasLive || !warned
            ? Effect.andThen(
              Effect.sync(() => {
                warned = true
              }),
              Effect.logWarning(
                "no change notifications from the database; look-ups go to the database until listening again",
                { cause: Cause.pretty(cause).split("\n", 1)[0] }
              )
            )
            : Effect.void
        )
      }),
      Effect.ensuring(stopUsing),
      Effect.andThen(Effect.sleep(RELISTEN_PAUSE)),
      Effect.forever,
      Effect.forkScoped
    )

    const cached = <K extends string, A>(cache: Cache.Cache<string, A>, direct: (key: K) => Effect.Effect<A>) => (key: K) =>
      live ? Cache.get(cache, key) : direct(key)

    /** `write`, then this instance's entry dropped (others drop theirs on the notification). */
    const thenDrop = (drop: Effect.Effect<void>) => <A>(write: Effect.Effect<A>) => Effect.tap(write, () => drop)

    const context = Context.make(KeyStore, {
      ...keys,
      findByHash: cached(keyCache, keys.findByHash),
      // A key's writes name it by id, not by hash: all keys are dropped (key writes are rare).
      insert: (record) => thenDrop(Cache.invalidateAll(keyCache))(keys.insert(record)),
      setStatus: (id, status) => thenDrop(Cache.invalidateAll(keyCache))(keys.setStatus(id, status)),
      setExpiry: (id, at) => thenDrop(Cache.invalidateAll(keyCache))(keys.setExpiry(id, at)),
      setDeprecated: (id, sunset) => thenDrop(Cache.invalidateAll(keyCache))(keys.setDeprecated(id, sunset))
    }).pipe(
      Context.add(ServiceRegistry, {
        ...services,
        find: cached(serviceCache, services.find),
        save: (service) => thenDrop(Cache.invalidate(serviceCache, service.name))(services.save(service))
      }),
      Context.add(UserRepository, {
        ...users,
        find: cached(userCache, users.find),
        save: (user) => thenDrop(Cache.invalidate(userCache, user.id))(users.save(user))
      }),
      Context.add(OrganizationRepository, {
        ...orgs,
        find: cached(orgCache, orgs.find),
        save: (org) => thenDrop(Cache.invalidate(orgCache, org.id))(orgs.save(org))
      }),
      Context.add(ByokStore, {
        ...byok,
        findEnabled: (account, provider) =>
          live ? Cache.get(byokCache, byokKey(account, provider)) : byok.findEnabled(account, provider),
        add: (key) => thenDrop(dropByokAccount(key.account))(byok.add(key)),
        remove: (account, id) => thenDrop(dropByokAccount(account))(byok.remove(account, id)),
        setEnabled: (account, id, enabled) => thenDrop(dropByokAccount(account))(byok.setEnabled(account, id, enabled)),
        reseal: thenDrop(Cache.invalidateAll(byokCache))(byok.reseal)
      })
    )
    return { context, listening: () => live }
  })

/** The five ports of the layer below, their look-ups cached (`makeCachedLookups`). */
export const PgCachedLookups: Layer.Layer<Services, never, Services | PgClient.PgClient> = Layer.effectContext(
  Effect.map(makeCachedLookups, (made) => made.context)
)
