import { postgresAdapterSet } from "../specs/support/postgres.ts"
import { generationInvariants } from "./properties/GenerationInvariants.ts"
import { ledgerProperties } from "./properties/LedgerProperties.ts"

// 10 sequences per property in `npm test` (a case costs about 100 ms here: an emptied database
// and a seeded world; the memory adapters run the same properties with 150); `npm run test:soak`
// runs 1,000.
const postgres = postgresAdapterSet()
const runs = Number(process.env["PG_PROPERTY_RUNS"] ?? 10)
ledgerProperties(postgres, runs)
generationInvariants(postgres, runs)
