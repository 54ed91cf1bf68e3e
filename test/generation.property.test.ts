import { memoryAdapterSet } from "../specs/support/AdapterSet.ts"
import { generationInvariants } from "./properties/GenerationInvariants.ts"

// 400 sequences per property in `npm test`; `npm run test:soak` runs 1,000.
generationInvariants(memoryAdapterSet, Number(process.env["MEMORY_PROPERTY_RUNS"] ?? 400))
