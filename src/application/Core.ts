import { Layer } from "effect"
import { Digest, SecureRandom } from "effect/crypto"
import { CreditLedger } from "./CreditLedger.ts"
import { ImageGeneration } from "./ImageGeneration.ts"
import { PrincipalResolver } from "./PrincipalResolver.ts"
import { Provisioning } from "./Provisioning.ts"

/** The application services, wired to whatever adapters provide the ports. */
export const Core = Layer.mergeAll(ImageGeneration.layer, Provisioning.layer).pipe(
  Layer.provideMerge(Layer.mergeAll(PrincipalResolver.layer, CreditLedger.layer)),
  Layer.provideMerge(Layer.mergeAll(Digest.layerWebCrypto, SecureRandom.layerWebCrypto))
)
