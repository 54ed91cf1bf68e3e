import { memoryAdapterSet } from "../specs/support/AdapterSet.ts"
import { generationInvariants } from "./properties/GenerationInvariants.ts"

// 150 sequences per property in `npm test` (fast-check's default is 100; a fresh seed each run);
// `npm run test:soak` runs 1,000.
generationInvariants(memoryAdapterSet, Number(process.env["MEMORY_PROPERTY_RUNS"] ?? 150))
