import { memoryAdapterSet } from "../specs/support/AdapterSet.ts"
import { ledgerProperties } from "./properties/LedgerProperties.ts"

// 150 runs per property in `npm test` (a fresh seed each run); `npm run test:soak` runs 1,000.
ledgerProperties(memoryAdapterSet, Number(process.env["MEMORY_PROPERTY_RUNS"] ?? 150))
