import type { Layer } from "effect"
import type { AlertStore } from "../../src/application/ports/AlertStore.ts"
import type { AuditLog } from "../../src/application/ports/AuditLog.ts"
import type { AuthFailureLog } from "../../src/application/ports/AuthFailureLog.ts"
import type { ByokStore } from "../../src/application/ports/ByokStore.ts"
import type { IdempotencyStore } from "../../src/application/ports/IdempotencyStore.ts"
import type { ImageStore } from "../../src/application/ports/ImageStore.ts"
import type { KeyStore } from "../../src/application/ports/KeyStore.ts"
import type { LedgerStore } from "../../src/application/ports/LedgerStore.ts"
import type { PricingStore } from "../../src/application/ports/PricingStore.ts"
import type {
  OrganizationRepository,
  ServiceRegistry,
  SessionStore,
  UserRepository
} from "../../src/application/ports/Repositories.ts"
import type { UsageAnalytics } from "../../src/application/ports/UsageAnalytics.ts"
import type { UsageLog } from "../../src/application/ports/UsageLog.ts"
import { MemoryAdapters } from "../../src/adapters/memory/MemoryAdapters.ts"
import { Layer as L } from "effect"

export type Ports =
  | LedgerStore
  | UserRepository
  | OrganizationRepository
  | ServiceRegistry
  | SessionStore
  | KeyStore
  | ByokStore
  | UsageLog
  | UsageAnalytics
  | AuthFailureLog
  | IdempotencyStore
  | ImageStore
  | AuditLog
  | PricingStore
  | AlertStore

/**
 * One implementation of every persistent port. `fresh()` gives an empty store for one test
 * (a new in-memory set, or a Postgres database with every table emptied).
 */
export interface AdapterSet {
  readonly name: string
  readonly fresh: () => Layer.Layer<Ports>
}

export const IMAGE_BASE_URL = "http://gateway.test/v1/images/files"

export const memoryAdapterSet: AdapterSet = {
  name: "memory",
  fresh: () => L.fresh(MemoryAdapters(IMAGE_BASE_URL))
}
