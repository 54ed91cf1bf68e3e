import { Clock, Console, Effect, Layer, Option, Redacted, Schedule } from "effect"
import { GatewayPolicy } from "./application/GatewayPolicy.ts"
import type { ServiceRateLimits } from "./domain/Entities.ts"
import { CreditLedger } from "./application/CreditLedger.ts"
import { PricingCatalog } from "./application/PricingCatalog.ts"
import { Provisioning } from "./application/Provisioning.ts"
import { ImageStore } from "./application/ports/ImageStore.ts"
import { DEMO, DEMO_SERVICES, demoLegacyKeyOf, demoOrgOf, seedDemo } from "./DemoData.ts"
import { accountOfOrg, accountOfUser } from "./domain/Ids.ts"
import { toCredits } from "./domain/Money.ts"
import { EmbeddedCluster, imagesDir, type GatewayConfig, providerRouting, seedsDemo, storageMode } from "./Layers.ts"
import { flushCompileCache } from "node:module"
import { resolve } from "node:path"
import { serverOrigin } from "./adapters/http/Server.ts"
import { describeRouting } from "./adapters/providers/ProviderSettings.ts"

export const SWEEP_INTERVAL_MS = 30_000

/**
 * Releases holds past their expiry (a crash between reserve and settle loses nobody's credits)
 * and deletes expired images, every 30 s, for as long as the server runs.
 */
export const Sweeper = Layer.effectDiscard(
  Effect.gen(function*() {
    const ledger = yield* CreditLedger
    const images = yield* ImageStore
    const sweep = Effect.gen(function*() {
      yield* ledger.sweep
      yield* images.removeExpired(yield* Clock.currentTimeMillis)
    }).pipe(Effect.catchCause((cause) => Effect.logWarning("sweep failed", cause)))
    yield* Effect.forkScoped(Effect.repeat(Effect.delay(sweep, SWEEP_INTERVAL_MS), Schedule.forever))
  })
)

const credits = (m: number) => toCredits(m).toLocaleString("en-US", { maximumFractionDigits: 3 })

/** The incident report's commands (SPEC §11), against this server. */
export const incidentCommands = (origin: string) => {
  const body = `'{"prompt": "A unicorn with a magic wand", "model": "dall-e-3", "size": "1024x1024", "quality": "standard", "n": 1}'`
  const command = (auth: string, userId?: string) =>
    [
      `curl -X POST ${origin}/api/v1/llm/image/generations \\`,
      `  -H "Authorization: Bearer ${auth}" \\`,
      ...(userId === undefined ? [] : [`  -H "X-User-ID: ${userId}" \\`]),
      `  -H "Content-Type: application/json" \\`,
      `  -d ${body}`
    ].join("\n")
  return [
    "# 1. a service without X-User-ID: its organization pays 48 credits",
    command(demoLegacyKeyOf("presenton-service")),
    "# 2. the service on behalf of Alice: Alice pays 48 credits, the organization nothing",
    command(demoLegacyKeyOf("presenton-service"), DEMO.alice.id),
    "# 3. Bob with his own OpenAI key (BYOK): _metadata.using_byok = true, no credits move",
    command(DEMO.bob.key)
  ].join("\n")
}

/**
 * ADMIN_API_KEY: an operator's first admin key, imported (hashed, like every key) at every start;
 * importing it again changes nothing. It must look like an admin key, so that it is never
 * mistaken for an image credential.
 */
const importAdminKey = (config: GatewayConfig) =>
  Option.match(config.adminApiKey, {
    onNone: () => Effect.void,
    onSome: (key) => Effect.asVoid(Provisioning.use((p) => p.importKey({ _tag: "Admin", admin: "ADMIN_API_KEY" }, key)))
  })

/** Seeds the demo data (idempotent) when the configuration asks for it and imports ADMIN_API_KEY: before the first request is served. */
export const Seed = (config: GatewayConfig) =>
  Layer.effectDiscard(Effect.gen(function*() {
    if (seedsDemo(config)) yield* seedDemo
    yield* importAdminKey(config)
  }))

/** The limits line of the banner: where the counts live, and the defaults of services without their own. */
const describeLimits = (config: GatewayConfig, defaults: ServiceRateLimits | undefined): string => {
  const store = Option.match(config.redis.url, {
    onNone: () => "counted in this process (per instance; REDIS_URL shares them)",
    onSome: (url) => {
      // Host and port only: never the URL's password.
      const parsed = URL.canParse(Redacted.value(url)) ? new URL(Redacted.value(url)) : undefined
      return `counted in Redis at ${parsed === undefined ? "REDIS_URL" : parsed.host} (shared by every instance)`
    }
  })
  const parts = defaults === undefined ? [] : [
    ...(defaults.requestsPerMinute === undefined ? [] : [`${defaults.requestsPerMinute}/min`]),
    ...(defaults.perKeyRequestsPerMinute === undefined ? [] : [`${defaults.perKeyRequestsPerMinute}/min per key`]),
    ...(defaults.concurrent === undefined ? [] : [`${defaults.concurrent} in flight`])
  ]
  const fallback = parts.length === 0
    ? "services without limits of their own are unlimited"
    : `services without limits of their own: ${parts.join(", ")}`
  return `rate limits per service (admin API), ${store}; ${fallback}`
}

/**
 * Prints what runs where. Built once the server serves: "listening on" means every route
 * answers (scripts and tests send their first request when they read it).
 */
export const Announce = (config: GatewayConfig) =>
  Layer.effectDiscard(Effect.gen(function*() {
    const origin = yield* serverOrigin
    const mode = storageMode(config)
    const demo = seedsDemo(config)
    const ledger = yield* CreditLedger
    const balance = (account: string) => Effect.map(ledger.balance(account as never), (b) => credits(b.available))

    const cluster = yield* Effect.serviceOption(EmbeddedCluster)
    const storage = mode._tag === "postgres"
      ? Option.isSome(mode.url)
        ? "PostgreSQL (DATABASE_URL)"
        : Option.isSome(cluster) && !cluster.value.path.startsWith(resolve(config.dataDir))
        ? `embedded PostgreSQL under ${config.dataDir}, its cluster in ${cluster.value.path} (the postgres user cannot enter DATA_DIR)`
        : `embedded PostgreSQL under ${config.dataDir}`
      : "in memory (STORAGE=memory): nothing is kept across restarts"
    const images = mode._tag === "memory"
      ? "in memory"
      : mode._tag === "postgres" && Option.isSome(mode.url)
      ? "in PostgreSQL"
      : `on disk under ${imagesDir(config)}`
    // The routes in the stored pricing data (admin API / CLI) win over PROVIDER_ROUTES, as in the router.
    const catalog = yield* Effect.serviceOption(PricingCatalog)
    const storedRoutes = Option.isSome(catalog) ? (yield* catalog.value.current).data.routes ?? {} : {}
    const routing = providerRouting(config)
    const policy = yield* GatewayPolicy
    const lines = [
      `Image Gateway listening on ${origin}`,
      `  API docs   ${origin}/docs   (OpenAPI document: ${origin}/openapi.json)`,
      `  storage    ${storage}`,
      `  images     ${images}, served at ${origin}/v1/images/files/…`,
      `  provider   ${describeRouting({ ...routing, routes: { ...routing.routes, ...storedRoutes } })}`,
      `  limits     ${describeLimits(config, policy.defaultRateLimits)}`
    ]
    if (demo) {
      const services: Array<string> = []
      for (const name of DEMO_SERVICES) {
        const org = demoOrgOf(name)
        services.push(
          `    ${name.padEnd(20)} ${org.padEnd(24)} ${demoLegacyKeyOf(name).padEnd(32)} ${(yield* balance(accountOfOrg(org))).padStart(7)} credits`
        )
      }
      lines.push(
        "",
        "DEMO DATA — well-known keys for trying the gateway; never use them in production (DEMO=0 turns seeding off)",
        "  services (policy optional, tier managed, legacy key imported):",
        ...services,
        `    presenton-service also signs service JWTs (HS256) with the secret '${DEMO.presentonJwtSecret}'`,
        "  users:",
        `    Alice ${DEMO.alice.id}  tier ${DEMO.alice.tier}  key ${DEMO.alice.key}  ${yield* balance(accountOfUser(DEMO.alice.id))} credits`,
        `    Bob   ${DEMO.bob.id}  tier ${DEMO.bob.tier}  key ${DEMO.bob.key}  ${yield* balance(accountOfUser(DEMO.bob.id))} credits, own keys (BYOK) for openai and openrouter`,
        `  admin key: ${DEMO.adminKey} (admin API under ${origin}/api/v1/admin/…, see /docs; or npm run admin -- --help)`,
        "",
        "Try it — the incident report's commands:",
        incidentCommands(origin)
      )
    }
    yield* Console.log(lines.join("\n"))
    // The modules just loaded go to Node's compile cache now, not only at a clean exit: the
    // next start is fast even if this process is killed.
    yield* Effect.sync(() => flushCompileCache())
  }))
