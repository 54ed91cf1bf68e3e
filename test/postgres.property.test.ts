import { postgresAdapterSet } from "../specs/support/postgres.ts"
import { generationInvariants } from "./properties/GenerationInvariants.ts"
import { ledgerProperties } from "./properties/LedgerProperties.ts"

const postgres = postgresAdapterSet()
ledgerProperties(postgres, Number(process.env["PG_PROPERTY_RUNS"] ?? 25))
generationInvariants(postgres, Number(process.env["PG_PROPERTY_RUNS"] ?? 25))
