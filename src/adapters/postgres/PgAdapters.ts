import { Layer, type Redacted } from "effect"
import { SecureRandom } from "effect/crypto"
import { PgAdminSessionStore } from "./PgAdminSessionStore.ts"
import { PgAlertStore } from "./PgAlertStore.ts"
import { PgAuditLog } from "./PgAuditLog.ts"
import { PgAuthFailureLog } from "./PgAuthFailureLog.ts"
import { PgByokStore } from "./PgByokStore.ts"
import { PgCachedLookups } from "./PgCachedLookups.ts"
import { PgIdempotencyStore } from "./PgIdempotencyStore.ts"
import { PgImageStore } from "./PgImageStore.ts"
import { PgKeyStore } from "./PgKeyStore.ts"
import { PgLedgerStoreLayer } from "./PgLedgerStore.ts"
import { PgPricingStore } from "./PgPricingStore.ts"
import { PgOrganizationRepository, PgServiceRegistry, PgSessionStore, PgUserRepository } from "./PgRepositories.ts"
import { PgStoreHealth } from "./PgStoreHealth.ts"
import { PgUsageAnalytics } from "./PgUsageAnalytics.ts"
import { PgUsageLog } from "./PgUsageLog.ts"

/**
 * Every persistent port on PostgreSQL. Needs a migrated database's `SqlClient`
 * (`PgDatabase.layer`, then `MigrationsLayer`).
 */
export const PgAdapters = (options: {
  readonly imageBaseUrl: string
  /** Encrypts BYOK provider keys at rest: 32 random bytes in base64 (`ByokKeyring.ts`). */
  readonly byokKey: Redacted.Redacted<string>
  /** Earlier encryption keys, comma-separated, that open rows sealed before a rotation. */
  readonly byokOldKeys?: Redacted.Redacted<string> | undefined
}) =>
  Layer.mergeAll(
    PgLedgerStoreLayer,
    // Keys, services, users, organizations and BYOK keys: cached, each change notified to every instance.
    PgCachedLookups.pipe(
      Layer.provide(Layer.mergeAll(
        PgUserRepository,
        PgOrganizationRepository,
        PgServiceRegistry,
        PgKeyStore,
        PgByokStore(options.byokKey, options.byokOldKeys)
      ))
    ),
    PgSessionStore,
    PgUsageLog,
    PgUsageAnalytics,
    PgIdempotencyStore,
    PgStoreHealth,
    PgAuditLog,
    PgAuthFailureLog,
    PgPricingStore,
    PgAlertStore,
    PgAdminSessionStore,
    PgImageStore(options.imageBaseUrl).pipe(Layer.provide(SecureRandom.layerWebCrypto))
  )
