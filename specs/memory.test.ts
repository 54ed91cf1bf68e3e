import { memoryAdapterSet } from "./support/AdapterSet.ts"
import { principalResolverSuite } from "./PrincipalResolverSpec.ts"

principalResolverSuite(memoryAdapterSet)
