import { Layer } from "effect"
import { MemoryAdminSessionStore } from "./MemoryAdminSessionStore.ts"
import { MemoryAlertStore } from "./MemoryAlertStore.ts"
import { MemoryAuditLog } from "./MemoryAuditLog.ts"
import { MemoryAuthFailureLog } from "./MemoryAuthFailureLog.ts"
import { MemoryByokStore } from "./MemoryByokStore.ts"
import { MemoryImageStore } from "./MemoryImageStore.ts"
import { MemoryKeyStore } from "./MemoryKeyStore.ts"
import type { makeMemoryIdempotencyStore } from "./MemoryIdempotencyStore.ts"
import { memoryLedgerStoreLayer } from "./MemoryLedgerStore.ts"
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
export const MemoryAdapters = (
  imageBaseUrl: string,
  options: {
    /** The idempotency store to use (tests that read its bounds); a new one otherwise. */
    readonly idempotency?: ReturnType<typeof makeMemoryIdempotencyStore> | undefined
  } = {}
) =>
  Layer.mergeAll(
    // The ledger writes a settlement's usage event into the same usage log, and completes the
    // idempotency claim it settles in the idempotency store it provides.
    Layer.provideMerge(memoryLedgerStoreLayer(options.idempotency), MemoryUsageLog),
    MemoryUserRepository,
    MemoryOrganizationRepository,
    MemoryServiceRegistry,
    MemorySessionStore,
    MemoryKeyStore,
    MemoryByokStore,
    MemoryStoreHealth,
    MemoryAuditLog,
    MemoryAuthFailureLog,
    MemoryPricingStore,
    MemoryAlertStore,
    MemoryAdminSessionStore,
    MemoryImageStore(imageBaseUrl).pipe(Layer.provide(SecureRandom.layerWebCrypto))
  )
