import { Effect, Layer, Option } from "effect"
import { Administration } from "../../application/Administration.ts"
import { CoreOn, GatewayConfig, startEmbedded, StartupError, StorePorts, storageMode } from "../../Layers.ts"
import { lowBalanceThreshold } from "../alerts/AlertSettings.ts"
import { attachEmbeddedPostgres } from "../postgres/EmbeddedPostgres.ts"

/**
 * The embedded default's database for one admin command: the running gateway's when one holds
 * DATA_DIR (connected to, never migrated or stopped), otherwise started here as the gateway
 * starts it (DATA_DIR claimed, migrated) and stopped when the command ends.
 */
const embeddedForCommand = (config: GatewayConfig) =>
  attachEmbeddedPostgres(config.dataDir).pipe(
    Effect.mapError((e) => new StartupError({ message: `DATA_DIR (${config.dataDir}): ${e.message}` })),
    Effect.flatMap(Option.match({
      onSome: (running) =>
        Effect.succeed({ url: running.url, byokKey: running.byokKey, cluster: running.cluster, migrate: false }),
      onNone: () => startEmbedded(config, "admin command")
    }))
  )

/** Image URLs are never made here; they would point where the gateway serves them. */
const imageBaseUrl = (config: GatewayConfig) =>
  `${Option.match(config.publicUrl, {
    onNone: () => `http://${config.host}:${config.port}`,
    onSome: (url) => url.href.replace(/\/+$/, "")
  })}/v1/images/files`

/**
 * `Administration` on the store the gateway is configured with (the same environment variables:
 * DATABASE_URL with BYOK_ENCRYPTION_KEY, or the embedded default under DATA_DIR), with no HTTP
 * server, sweeper or demo data. STORAGE=memory is refused: that data lives inside the gateway.
 */
export const AdminStore = Layer.unwrap(Effect.gen(function*() {
  const config = yield* GatewayConfig
  if (storageMode(config)._tag === "memory") {
    return yield* new StartupError({
      message:
        "STORAGE=memory: the data lives inside the gateway's own process, which the CLI cannot reach; use the running gateway's admin API (/api/v1/admin/…), or run the gateway on PostgreSQL"
    })
  }
  return CoreOn(StorePorts(config, { imageBaseUrl: imageBaseUrl(config), embedded: embeddedForCommand(config) })).pipe(
    // Accounts show the gateway's default low-balance threshold (ALERT_LOW_BALANCE_CREDITS).
    Layer.provide(lowBalanceThreshold(config.alerts))
  )
})) satisfies Layer.Layer<Administration, unknown>

