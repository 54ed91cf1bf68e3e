import { postgresAdapterSet } from "./support/postgres.ts"
import { alertStoreSuite } from "./ports/AlertStoreSpec.ts"
import { auditLogSuite } from "./ports/AuditLogSpec.ts"
import { byokStoreSuite } from "./ports/ByokStoreSpec.ts"
import { idempotencyStoreSuite } from "./ports/IdempotencyStoreSpec.ts"
import { imageStoreSuite } from "./ports/ImageStoreSpec.ts"
import { keyStoreSuite } from "./ports/KeyStoreSpec.ts"
import { ledgerStoreSuite, settlementUsageSuite } from "./ports/LedgerStoreSpec.ts"
import { pricingStoreSuite } from "./ports/PricingStoreSpec.ts"
import { repositoriesSuite } from "./ports/RepositoriesSpec.ts"
import { usageLogSuite } from "./ports/UsageLogSpec.ts"
import { usageAnalyticsSuite } from "./ports/UsageAnalyticsSpec.ts"
import { administrationSuite } from "./AdministrationSpec.ts"
import { creditLedgerSuite } from "./CreditLedgerSpec.ts"
import { imageGenerationSuite } from "./ImageGenerationSpec.ts"
import { principalResolverSuite } from "./PrincipalResolverSpec.ts"

// The very same suites as specs/memory.test.ts, on PostgreSQL (embedded unless DATABASE_URL is set).
const postgres = postgresAdapterSet()
principalResolverSuite(postgres)
creditLedgerSuite(postgres)
imageGenerationSuite(postgres)
keyStoreSuite(postgres)
ledgerStoreSuite(postgres)
settlementUsageSuite(postgres)
byokStoreSuite(postgres)
idempotencyStoreSuite(postgres)
imageStoreSuite(postgres)
usageLogSuite(postgres)
usageAnalyticsSuite(postgres)
repositoriesSuite(postgres)
auditLogSuite(postgres)
pricingStoreSuite(postgres)
alertStoreSuite(postgres)
administrationSuite(postgres)
