import { memoryAdapterSet } from "./support/AdapterSet.ts"
import { creditLedgerSuite } from "./CreditLedgerSpec.ts"
import { imageGenerationSuite } from "./ImageGenerationSpec.ts"
import { principalResolverSuite } from "./PrincipalResolverSpec.ts"

principalResolverSuite(memoryAdapterSet)
creditLedgerSuite(memoryAdapterSet)
imageGenerationSuite(memoryAdapterSet)
