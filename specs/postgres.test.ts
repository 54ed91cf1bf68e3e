import { postgresAdapterSet } from "./support/postgres.ts"
import { creditLedgerSuite } from "./CreditLedgerSpec.ts"
import { imageGenerationSuite } from "./ImageGenerationSpec.ts"
import { principalResolverSuite } from "./PrincipalResolverSpec.ts"

// The very same suites as specs/memory.test.ts, on PostgreSQL (embedded unless DATABASE_URL is set).
const postgres = postgresAdapterSet()
principalResolverSuite(postgres)
creditLedgerSuite(postgres)
imageGenerationSuite(postgres)
