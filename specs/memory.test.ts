import { memoryAdapterSet } from "./support/AdapterSet.ts"
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

principalResolverSuite(memoryAdapterSet)
creditLedgerSuite(memoryAdapterSet)
imageGenerationSuite(memoryAdapterSet)
keyStoreSuite(memoryAdapterSet)
ledgerStoreSuite(memoryAdapterSet)
settlementUsageSuite(memoryAdapterSet)
byokStoreSuite(memoryAdapterSet)
idempotencyStoreSuite(memoryAdapterSet)
imageStoreSuite(memoryAdapterSet)
usageLogSuite(memoryAdapterSet)
usageAnalyticsSuite(memoryAdapterSet)
repositoriesSuite(memoryAdapterSet)
auditLogSuite(memoryAdapterSet)
pricingStoreSuite(memoryAdapterSet)
alertStoreSuite(memoryAdapterSet)
administrationSuite(memoryAdapterSet)
