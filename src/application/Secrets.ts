import { Effect } from "effect"
import { Digest, SecureRandom } from "effect/crypto"

const encoder = new TextEncoder()

/**
 * Hex SHA-256 of a secret: what the key and session stores keep instead of the secret. The one
 * definition: a key is found again only if it is hashed exactly as when it was stored.
 */
export const hashWith = (digest: Digest.Digest["Service"]) => (secret: string) =>
  digest.digestHex(Digest.sha256, encoder.encode(secret))

/** `hashWith` on the Digest service in context. */
export const hashSecret = (secret: string) => Digest.Digest.use((d) => hashWith(d)(secret))

const ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

/** A random secret with the given prefix: 40 base62 characters (~238 bits). */
export const randomSecret = (prefix: string) =>
  Effect.gen(function*() {
    const random = yield* SecureRandom.SecureRandom
    let out = prefix
    for (let i = 0; i < 40; i++) out += ALPHABET[yield* random.intBetween(0, ALPHABET.length - 1)]
    return out
  })

/** What may be shown of a secret: its first characters. */
export const publicPrefix = (secret: string): string => secret.slice(0, Math.min(8, Math.floor(secret.length / 2)))
