import { Layer } from "effect"
import { Digest, SecureRandom } from "effect/crypto"
import { Administration } from "./Administration.ts"
import { AuthFailures } from "./AuthFailures.ts"
import { CredentialAudit } from "./CredentialAudit.ts"
import { CreditLedger } from "./CreditLedger.ts"
import { ImageGeneration } from "./ImageGeneration.ts"
import { PricingCatalog } from "./PricingCatalog.ts"
import { PrincipalResolver } from "./PrincipalResolver.ts"
import { Provisioning } from "./Provisioning.ts"
import { RateLimits } from "./RateLimits.ts"

/**
 * The application services on the given platform's crypto. The composition root may pass a
 * platform's own (node:crypto's synchronous SHA-256 costs far less per request than WebCrypto's
 * threadpool job). Rate limits are counted in this process's memory unless the root passes
 * shared stores (`RateLimits.layer` on Redis).
 */
export const makeCore = <E = never>(
  platform: Layer.Layer<Digest.Digest | SecureRandom.SecureRandom>,
  rateLimits: Layer.Layer<RateLimits, E> = RateLimits.layerMemory as Layer.Layer<RateLimits, E>
) =>
  Administration.layer.pipe(
    Layer.provideMerge(Layer.mergeAll(ImageGeneration.layer.pipe(Layer.provide(rateLimits)), Provisioning.layer, PrincipalResolver.layer)),
    Layer.provideMerge(CreditLedger.layer),
    Layer.provideMerge(PricingCatalog.layer),
    Layer.provideMerge(Layer.mergeAll(CredentialAudit.layer, AuthFailures.layer)),
    Layer.provideMerge(platform)
  )

/** The application services on portable platform services, wired to whatever adapters provide the ports. */
export const Core = makeCore(Layer.mergeAll(Digest.layerWebCrypto, SecureRandom.layerWebCrypto))
