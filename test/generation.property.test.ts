import { memoryAdapterSet } from "../specs/support/AdapterSet.ts"
import { generationInvariants } from "./properties/GenerationInvariants.ts"

generationInvariants(memoryAdapterSet, 1000)
