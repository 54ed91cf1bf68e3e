import { Layer } from "effect"
import { MemoryAdminSessionStore } from "./MemoryAdminSessionStore.ts"
import { MemoryAlertStore } from "./MemoryAlertStore.ts"
import { MemoryAuditLog } from "./MemoryAuditLog.ts"
import { MemoryAuthFailureLog } from "./MemoryAuthFailureLog.ts"
import { MemoryByokStore } from "./MemoryByokStore.ts"
import { MemoryIdempotencyStore } from "./MemoryIdempotencyStore.ts"
import { MemoryImageStore } from "./MemoryImageStore.ts"
import { MemoryKeyStore } from "./MemoryKeyStore.ts"
import { MemoryLedgerStoreLayer } from "./MemoryLedgerStore.ts"
import { MemoryPricingStore } from "./MemoryPricingStore.ts"
import {
  MemoryOrganizationRepository,
  MemoryServiceRegistry,
  MemorySessionStore,
  MemoryUserRepository
} from "./MemoryRepositories.ts"
import { MemoryStoreHealth } from "./MemoryStoreHealth.ts"
import { MemoryUsageLog } from "./MemoryUsageLog.ts"
import { SecureRandom } from "effect/crypto"

/** Every persistent port in process memory: `STORAGE=memory`, and the reference for tests. */
export const MemoryAdapters = (imageBaseUrl: string) =>
  Layer.mergeAll(
    // The ledger writes a settlement's usage event into the same usage log.
    Layer.provideMerge(MemoryLedgerStoreLayer, MemoryUsageLog),
    MemoryUserRepository,
    MemoryOrganizationRepository,
    MemoryServiceRegistry,
    MemorySessionStore,
    MemoryKeyStore,
    MemoryByokStore,
    MemoryIdempotencyStore,
    MemoryStoreHealth,
    MemoryAuditLog,
    MemoryAuthFailureLog,
    MemoryPricingStore,
    MemoryAlertStore,
    MemoryAdminSessionStore,
    MemoryImageStore(imageBaseUrl).pipe(Layer.provide(SecureRandom.layerWebCrypto))
  )
