import { Cause, Config, Console, Context, Data, Effect, Layer, Option, Redacted, Schema, type Scope } from "effect"
import { join, resolve } from "node:path"
import { AlertConfig, alertConfigProblem, withAlerts } from "./adapters/alerts/AlertSettings.ts"
import { ConfiguredGatewayPolicy } from "./adapters/config/PolicyConfig.ts"
import { withMetrics } from "./adapters/metrics/Metrics.ts"
import { NodePlatform } from "./adapters/node/NodePlatform.ts"
import { makeCore } from "./application/Core.ts"
import { GatewayPolicy } from "./application/GatewayPolicy.ts"
import { PricingCatalog } from "./application/PricingCatalog.ts"
import type { RateLimits } from "./application/RateLimits.ts"
import type { ImageStore } from "./application/ports/ImageStore.ts"
import type { PricingStore } from "./application/ports/PricingStore.ts"
import { DiskImageStore } from "./adapters/disk/DiskImageStore.ts"
import { LocalImageProvider } from "./adapters/local/LocalImageProvider.ts"
import { LocalProviderKeyCheck } from "./adapters/local/LocalProviderKeyCheck.ts"
import { ProviderRouter } from "./adapters/providers/ProviderRouter.ts"
import { ProviderConfig, routerOptions } from "./adapters/providers/ProviderSettings.ts"
import { MemoryAdapters } from "./adapters/memory/MemoryAdapters.ts"
import { RedisConfig, RedisRateLimits } from "./adapters/redis/RedisRateLimits.ts"
import { type EmbeddedRole, startEmbeddedPostgres } from "./adapters/postgres/EmbeddedPostgres.ts"
import { decodeKey, KEY_FORMAT, oldKeysProblem } from "./adapters/postgres/ByokKeyring.ts"
import { MigrationsLayer } from "./adapters/postgres/Migrations.ts"
import { PgAdapters } from "./adapters/postgres/PgAdapters.ts"
import * as PgDatabase from "./adapters/postgres/PgDatabase.ts"
import type { PgClient } from "@effect/sql-pg"
import * as SqlClient from "effect/sql/SqlClient"

/** Start-up cannot go on; the message says what to change. */
export class StartupError extends Data.TaggedError("StartupError")<{ readonly message: string }> {}

/**
 * A secret checked by `problem` (which names what is wrong, never the value); empty counts as unset.
 */
const byokKeyConfig = (name: string, problem: (text: string) => string | undefined) =>
  Config.schema(
    Schema.RedactedFromValue(Schema.String.check(Schema.makeFilter((text: string) => text === "" ? undefined : problem(text)))),
    name
  ).pipe(Config.option, Config.map(Option.filter((value) => Redacted.value(value) !== "")))

/** Everything the gateway reads from the environment; a bad value stops start-up, naming the variable. */
export const GatewayConfig = Config.all({
  host: Config.NonEmptyString("HOST").pipe(Config.withDefault("127.0.0.1")),
  // 0 asks the system for a free port.
  port: Config.schema(Schema.Int.check(Schema.isBetween({ minimum: 0, maximum: 65535 })), "PORT").pipe(
    Config.withDefault(8080)
  ),
  dataDir: Config.NonEmptyString("DATA_DIR").pipe(Config.withDefault("./data")),
  storage: Config.Literals(["memory", "postgres"], "STORAGE").pipe(Config.option),
  databaseUrl: Config.Redacted("DATABASE_URL").pipe(Config.option),
  demo: Config.Boolean("DEMO").pipe(Config.option),
  publicUrl: Config.URL("PUBLIC_URL").pipe(Config.option),
  // PostgreSQL only: encrypts BYOK keys at rest (32 random bytes in base64; ByokKeyring.ts), and
  // the keys it replaced, still read until `admin byok reencrypt` has moved every row.
  byokKey: byokKeyConfig("BYOK_ENCRYPTION_KEY", (text) => decodeKey(text) === undefined ? KEY_FORMAT : undefined),
  byokOldKeys: byokKeyConfig("BYOK_ENCRYPTION_KEYS_OLD", oldKeysProblem),
  // Applies pending migrations at start-up.
  migrate: Config.Boolean("MIGRATE").pipe(Config.withDefault(false)),
  // When set, GET /metrics asks for it as a bearer token.
  metricsToken: Config.Redacted("METRICS_TOKEN").pipe(Config.option),
  // An operator's first admin key (adm_…, at least 32 characters), imported at start-up.
  adminApiKey: Config.schema(
    Schema.RedactedFromValue(Schema.String.check(Schema.isPattern(/^adm_[A-Za-z0-9_-]{28,}$/, {
      message: "an admin key is adm_ followed by at least 28 of A-Z a-z 0-9 _ - (e.g. adm_$(openssl rand -hex 20))"
    }))),
    "ADMIN_API_KEY"
  ).pipe(Config.option),
  // One JSON line per answered request on stdout.
  accessLog: Config.Boolean("ACCESS_LOG").pipe(Config.withDefault(false)),
  // OPENAI_API_KEY, OPENROUTER_API_KEY, their base URLs, PROVIDER_ROUTES, LOCAL_PROVIDER, the circuit breaker.
  providers: ProviderConfig,
  // ALERT_WEBHOOK_URL, ALERT_WEBHOOK_SECRET, ALERT_LOW_BALANCE_CREDITS (docs/alerts.md).
  alerts: AlertConfig,
  // REDIS_URL, REDIS_KEY_PREFIX: rate limits shared by every instance (docs/rate-limits.md).
  redis: RedisConfig
})
export type GatewayConfig = Config.Success<typeof GatewayConfig>

/** Where the ports live: process memory, or PostgreSQL (embedded under DATA_DIR, or DATABASE_URL). */
export type StorageMode =
  | { readonly _tag: "memory" }
  | { readonly _tag: "postgres"; readonly url: Option.Option<Redacted.Redacted<string>> }

/**
 * `STORAGE=memory` is memory; `STORAGE=postgres` or a `DATABASE_URL` is PostgreSQL. With neither,
 * the embedded default: embedded PostgreSQL under DATA_DIR (and images on disk).
 */
export const storageMode = (config: GatewayConfig): StorageMode => {
  if (Option.isSome(config.storage)) {
    return config.storage.value === "memory"
      ? { _tag: "memory" }
      : { _tag: "postgres", url: config.databaseUrl }
  }
  if (Option.isSome(config.databaseUrl)) return { _tag: "postgres", url: config.databaseUrl }
  return { _tag: "postgres", url: Option.none() }
}

/** Demo data is seeded on the embedded default and in memory; on a real database only with DEMO=1. */
export const seedsDemo = (config: GatewayConfig): boolean =>
  Option.getOrElse(config.demo, () => {
    const mode = storageMode(config)
    return mode._tag === "memory" || Option.isNone(mode.url)
  })

/**
 * The base of image URLs: PUBLIC_URL, or the listening server's own origin. The HTTP adapter is
 * loaded here only when needed: a process that serves nothing (the admin CLI) composes the ports
 * without it, and loading it costs about half a second.
 */
const imageBaseUrl = (config: GatewayConfig) =>
  Effect.map(
    Option.match(config.publicUrl, {
      onNone: () => Effect.flatMap(Effect.promise(() => import("./adapters/http/Server.ts")), (server) => server.serverOrigin),
      onSome: (url) => Effect.succeed(url.href.replace(/\/+$/, ""))
    }),
    (origin) => `${origin}/v1/images/files`
  )

export const imagesDir = (config: GatewayConfig) => join(resolve(config.dataDir), "images")

/** Images on disk under DATA_DIR; a directory that cannot be created stops start-up, naming DATA_DIR. */
const diskImages = (config: GatewayConfig, baseUrl: string) =>
  DiskImageStore({ dir: imagesDir(config), baseUrl }).pipe(
    Layer.catchCause((cause) =>
      failStartup<ImageStore>(`DATA_DIR (${config.dataDir}): cannot keep images in ${imagesDir(config)}: ${String(Cause.squash(cause))}`)
    )
  )

/** A layer that stops start-up with `message` (typed as whatever the caller needed to build). */
const failStartup = <A = never>(message: string): Layer.Layer<A, StartupError> =>
  Layer.effectDiscard(Effect.fail(new StartupError({ message }))) as Layer.Layer<never, StartupError> as Layer.Layer<
    A,
    StartupError
  >

/** The database's address without its password, for messages. */
const whereIs = (url: Redacted.Redacted<string>) => {
  try {
    const u = new URL(Redacted.value(url))
    return `${u.hostname}${u.port ? `:${u.port}` : ""}${u.pathname}`
  } catch {
    return "an unparsable URL"
  }
}

const describeDatabaseFailure = (cause: Cause.Cause<unknown>): string => {
  const error: any = Cause.squash(cause)
  const parts = [error?.message, error?.reason?._tag, error?.reason?.cause?.message ?? error?.cause?.message]
    .filter((part): part is string => typeof part === "string" && part.length > 0)
  return parts.join(" — ") || "the database could not be reached or migrated"
}

type Database = PgClient.PgClient | SqlClient.SqlClient

/**
 * A pooled client for `url`, checked to answer (the pool connects lazily) and migrated first when
 * asked; a failure stops start-up, naming DATABASE_URL without its password.
 */
const database = (url: Redacted.Redacted<string>, migrate: boolean): Layer.Layer<Database, StartupError> => {
  const reachable = Layer.effectDiscard(
    Effect.gen(function*() {
      const sql = yield* SqlClient.SqlClient
      yield* sql.unsafe("SELECT 1")
    }).pipe(Effect.timeout("10 seconds"))
  )
  const client = Layer.provideMerge(reachable, PgDatabase.layer({ url, maxConnections: 10, connectTimeout: "10 seconds" }))
  const ready: Layer.Layer<Database, unknown> = migrate ? Layer.provideMerge(MigrationsLayer, client) : client
  return ready.pipe(
    Layer.catchCause((cause) => failStartup<Database>(`DATABASE_URL (${whereIs(url)}): ${describeDatabaseFailure(cause)}`))
  )
}

/** The embedded default's database, as this process reaches it. */
export interface EmbeddedDatabase {
  readonly url: Redacted.Redacted<string>
  /** The BYOK encryption key kept under DATA_DIR (BYOK_ENCRYPTION_KEY, when set, is used instead). */
  readonly byokKey: Redacted.Redacted<string>
  readonly cluster: string
  /** Whether to apply pending migrations first: the process that started the server does. */
  readonly migrate: boolean
}

/**
 * The embedded default's database: an embedded PostgreSQL whose data lives under DATA_DIR (kept
 * across restarts; stopped when the scope closes), with a BYOK encryption key kept there too. It
 * is migrated at every start.
 */
export const startEmbedded = (
  config: GatewayConfig,
  role: EmbeddedRole = "gateway"
): Effect.Effect<EmbeddedDatabase, StartupError, Scope.Scope> =>
  startEmbeddedPostgres(config.dataDir, role).pipe(
    Effect.tap((started) =>
      started.recovered === undefined
        ? Effect.void
        : Console.error(`Stopped the embedded PostgreSQL (pid ${started.recovered}) that a previous gateway on this DATA_DIR left running.`)
    ),
    Effect.tap((started) =>
      started.setAside === undefined
        ? Effect.void
        : Console.error(
          `DATA_DIR has no record of the cluster kept for its path (it was removed and made anew): that cluster was moved to ${started.setAside} and a new one is created.`
        )
    ),
    Effect.mapError((e) => new StartupError({ message: `DATA_DIR (${config.dataDir}): ${e.message}` })),
    Effect.filterOrFail(
      (started) => decodeKey(Redacted.value(started.byokKey)) !== undefined,
      () => new StartupError({ message: `DATA_DIR (${config.dataDir}): secrets.json's byokKey ${KEY_FORMAT}` })
    ),
    Effect.map((started) => ({ url: started.url, byokKey: started.byokKey, cluster: started.cluster, migrate: true }))
  )

/** Where the embedded default keeps its cluster, for the start-up banner. */
export class EmbeddedCluster extends Context.Service<EmbeddedCluster, { readonly path: string }>()(
  "image-gateway/EmbeddedCluster"
) {}

/**
 * The PostgreSQL branch: every persistent port on PostgreSQL (`PgAdapters`). With DATABASE_URL,
 * images go to the database too, so that any instance behind a load balancer serves any image;
 * on the embedded default they go to disk under DATA_DIR.
 */
const postgresPorts = (
  config: GatewayConfig,
  url: Option.Option<Redacted.Redacted<string>>,
  baseUrl: string,
  embedded: Effect.Effect<EmbeddedDatabase, StartupError, Scope.Scope>
): Layer.Layer<PortServices, StartupError> => {
  if (Option.isNone(url)) {
    return Layer.unwrap(Effect.map(embedded, (db) =>
      Layer.mergeAll(
        PgAdapters({
          imageBaseUrl: baseUrl,
          byokKey: Option.getOrElse(config.byokKey, () => db.byokKey),
          byokOldKeys: Option.getOrUndefined(config.byokOldKeys)
        }),
        diskImages(config, baseUrl),
        Layer.succeed(EmbeddedCluster, EmbeddedCluster.of({ path: db.cluster }))
      ).pipe(Layer.provide(database(db.url, db.migrate)))
    ))
  }
  if (Option.isNone(config.byokKey)) {
    return failStartup("BYOK_ENCRYPTION_KEY must be set with DATABASE_URL: it encrypts the accounts' own provider keys at rest.")
  }
  return PgAdapters({ imageBaseUrl: baseUrl, byokKey: config.byokKey.value, byokOldKeys: Option.getOrUndefined(config.byokOldKeys) }).pipe(
    Layer.provide(database(url.value, config.migrate))
  )
}

/** Every persistent port (what `MemoryAdapters` and `PgAdapters` provide). */
export type PortServices = Layer.Success<ReturnType<typeof MemoryAdapters>>

/** Every persistent port, picked from the configuration. */
export const Ports = (config: GatewayConfig) =>
  Layer.unwrap(Effect.map(imageBaseUrl(config), (baseUrl) => StorePorts(config, { imageBaseUrl: baseUrl, embedded: startEmbedded(config) })))

/**
 * Every persistent port on the configured store, for any process: image URLs start at
 * `imageBaseUrl`, and the embedded default's database is the one `embedded` opens (the gateway
 * starts it; the admin CLI attaches to a running gateway's or starts it for one command).
 */
export const StorePorts = (
  config: GatewayConfig,
  options: {
    readonly imageBaseUrl: string
    readonly embedded: Effect.Effect<EmbeddedDatabase, StartupError, Scope.Scope>
  }
): Layer.Layer<PortServices, StartupError> => {
  const mode = storageMode(config)
  if (mode._tag === "postgres") return postgresPorts(config, mode.url, options.imageBaseUrl, options.embedded)
  // STORAGE=memory keeps images in memory too.
  return MemoryAdapters(options.imageBaseUrl)
}

/**
 * The local provider stands in for a provider with no platform key on the embedded default and
 * STORAGE=memory (SPEC §10), unless LOCAL_PROVIDER says otherwise; on a DATABASE_URL it does not.
 */
export const localStandsIn = (config: GatewayConfig): boolean => {
  const mode = storageMode(config)
  return Option.getOrElse(config.providers.localProvider, () => mode._tag === "memory" || Option.isNone(mode.url))
}

/** The router's options as configured (the start-up banner describes them). */
export const providerRouting = (config: GatewayConfig) => routerOptions(config.providers, localStandsIn(config))

/** The core as the server runs it: on Node's platform (`adapters/node`). */
export const ServerCore = makeCore(NodePlatform)

/** The core on the given ports, with the gateway's policy and the local provider standing in for every provider. */
export const CoreOn = <E, R>(ports: Layer.Layer<PortServices, E, R>) =>
  ServerCore.pipe(Layer.provideMerge(Layer.mergeAll(ports, GatewayPolicy.layer(), LocalImageProvider, LocalProviderKeyCheck)))

/**
 * The whole core on the configured adapters, each model answered by its provider through the
 * router (circuit breakers, the local stand-in where configured).
 */
export const Gateway = (config: GatewayConfig) => {
  const problem = alertConfigProblem(config.alerts)
  // Low-balance alerts watch the ledger; their outbox is drained in the background.
  const ports = problem === undefined ? withAlerts(withMetrics(Ports(config)), config.alerts) : failStartup<PortServices>(problem)
  const base = Layer.mergeAll(ports, ConfiguredGatewayPolicy)
  // Rate limits in this process's memory, or on Redis for every instance alike.
  const core = Option.match(config.redis.url, {
    onNone: () => ServerCore,
    onSome: (url) =>
      makeCore(NodePlatform, RedisRateLimits(url, config.redis.prefix).pipe(
        Layer.catchTag("RedisUnreachable", (e) => failStartup<RateLimits>(e.message))
      ))
  })
  return core.pipe(Layer.provideMerge(Layer.mergeAll(
    base,
    // The ImageProvider and the BYOK key check (ProviderKeyCheck), both by the configured routing
    // and the routes of the pricing data. Layers are shared by identity within a build, so the
    // router reads the core's own PricingCatalog (and `base` is built once).
    withPricingCatalog(ProviderRouter(providerRouting(config)), base)
  )))
}

/**
 * `router` on the core's PricingCatalog: `PricingCatalog.layer` is the very layer the core is
 * built with, so within one build both get the same instance (an update made through the admin
 * API applies to routing at once). `ports` must be the same layer value the core gets.
 */
export const withPricingCatalog = <A, E, R>(
  router: Layer.Layer<A, never, PricingCatalog>,
  ports: Layer.Layer<PricingStore | GatewayPolicy, E, R>
) => router.pipe(Layer.provide(PricingCatalog.layer), Layer.provide(ports))
