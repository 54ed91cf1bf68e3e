import { memoryAdapterSet } from "../specs/support/AdapterSet.ts"
import { ledgerProperties } from "./properties/LedgerProperties.ts"

ledgerProperties(memoryAdapterSet, 1000)
