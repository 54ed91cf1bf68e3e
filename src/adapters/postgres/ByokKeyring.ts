import { Redacted } from "effect"
import { createCipheriv, createDecipheriv, createHash, randomBytes } from "node:crypto"

/**
 * The keys that encrypt accounts' own provider keys at rest (AES-256-GCM).
 *
 * - `BYOK_ENCRYPTION_KEY`: the current key, 32 random bytes in base64 (standard or url-safe,
 *   padding optional; e.g. `openssl rand -base64 32`). Every row written is sealed with it.
 * - `BYOK_ENCRYPTION_KEYS_OLD`: earlier keys, comma-separated, kept only to open rows sealed
 *   before a rotation, until `admin byok reencrypt` has moved every row to the current key.
 *   An entry `passphrase:<text>` opens rows written before keys were required to be 32 bytes
 *   (their AES key was the SHA-256 of the configured text).
 *
 * A key's id is derived from the key itself (a truncated SHA-256 under a label), so rotating
 * means only moving the old value into the old-keys list; each row records the id of the key
 * that sealed it. Rows from before key ids (`key_id` NULL) were sealed with the SHA-256 of the
 * configured text; they are opened by trying that derivation of every configured key.
 */

const IV_BYTES = 12
const TAG_BYTES = 16
const KEY_BYTES = 32
const PASSPHRASE = "passphrase:"

export const KEY_FORMAT = "must be 32 random bytes in base64, not a passphrase (make one with: openssl rand -base64 32)"

/** The 32 bytes a key's text encodes, or undefined when it is not exactly that. */
export const decodeKey = (text: string): Buffer | undefined => {
  const trimmed = text.trim()
  if (!/^[A-Za-z0-9+/_-]{43}=?$/.test(trimmed)) return undefined
  const standard = trimmed.replace(/-/g, "+").replace(/_/g, "/").replace(/=$/, "")
  const bytes = Buffer.from(standard, "base64")
  // Node's decoder ignores what it cannot read: only a value that re-encodes to itself is a key.
  if (bytes.length !== KEY_BYTES || bytes.toString("base64").replace(/=$/, "") !== standard) return undefined
  return bytes
}

/** The id rows record for the key that sealed them: not the key, and not reversible to it. */
export const keyIdOf = (key: Uint8Array): string =>
  createHash("sha256").update("image-gateway/byok-key-id\u0000").update(key).digest("hex").slice(0, 16)

/** A problem with the old-keys list (which entry, never its value), or undefined when it is valid. */
export const oldKeysProblem = (text: string): string | undefined => {
  const entries = splitOld(text)
  for (const [i, entry] of entries.entries()) {
    if (entry.startsWith(PASSPHRASE)) {
      if (entry.length === PASSPHRASE.length) return `entry ${i + 1}: passphrase: with nothing after it`
    } else if (decodeKey(entry) === undefined) {
      return `entry ${i + 1} ${KEY_FORMAT} (or passphrase:<text> for rows sealed before key ids)`
    }
  }
  return undefined
}

const splitOld = (text: string) => text.split(",").map((s) => s.trim()).filter((s) => s.length > 0)

const legacyKeyOf = (text: string) => createHash("sha256").update(text, "utf8").digest()

export interface ByokKeyring {
  /** The id of the key new rows are sealed with. */
  readonly currentId: string
  readonly seal: (account: string, id: string, plaintext: string) => { readonly keyId: string; readonly ciphertext: Uint8Array }
  /** Opens a row; throws when no configured key opens it (a wrong key, a copied row, a tampered one). */
  readonly open: (account: string, id: string, keyId: string | null, sealed: Uint8Array) => string
  /** Whether a row sealed under `keyId` can be opened with the configured keys (not whether it will authenticate). */
  readonly knows: (keyId: string | null) => boolean
}

/**
 * The keyring from the configured current key and old keys; throws on a malformed key (start-up
 * validates both first, so this names no value).
 */
export const makeKeyring = (
  current: Redacted.Redacted<string>,
  old: Redacted.Redacted<string> | undefined = undefined
): ByokKeyring => {
  const currentText = Redacted.value(current).trim()
  const currentKey = decodeKey(currentText)
  if (currentKey === undefined) throw new Error(`BYOK_ENCRYPTION_KEY ${KEY_FORMAT}`)
  const oldText = old === undefined ? "" : Redacted.value(old)
  if (oldKeysProblem(oldText) !== undefined) throw new Error(`BYOK_ENCRYPTION_KEYS_OLD: ${oldKeysProblem(oldText)}`)

  const currentId = keyIdOf(currentKey)
  const byId = new Map<string, Buffer>([[currentId, currentKey]])
  const legacy: Array<Buffer> = [legacyKeyOf(currentText)]
  for (const entry of splitOld(oldText)) {
    if (entry.startsWith(PASSPHRASE)) {
      legacy.push(legacyKeyOf(entry.slice(PASSPHRASE.length)))
    } else {
      const key = decodeKey(entry)!
      byId.set(keyIdOf(key), key)
      legacy.push(legacyKeyOf(entry))
    }
  }

  // The additional data binds a ciphertext to its account and key id: copied onto another row, it fails to open.
  const aad = (account: string, id: string) => Buffer.from(`${account}\u0000${id}`, "utf8")
  const openWith = (key: Buffer, account: string, id: string, bytes: Buffer) => {
    const decipher = createDecipheriv("aes-256-gcm", key, bytes.subarray(0, IV_BYTES))
      .setAAD(aad(account, id))
      .setAuthTag(bytes.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
    return Buffer.concat([decipher.update(bytes.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString("utf8")
  }

  return {
    currentId,
    seal: (account, id, plaintext) => {
      const iv = randomBytes(IV_BYTES)
      const cipher = createCipheriv("aes-256-gcm", currentKey, iv).setAAD(aad(account, id))
      const body = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()])
      return { keyId: currentId, ciphertext: Buffer.concat([iv, cipher.getAuthTag(), body]) }
    },
    open: (account, id, keyId, sealed) => {
      const bytes = Buffer.from(sealed)
      if (keyId !== null) {
        const key = byId.get(keyId)
        if (key === undefined) {
          throw new Error(`BYOK key ${id} was sealed by encryption key ${keyId}, which is neither BYOK_ENCRYPTION_KEY nor in BYOK_ENCRYPTION_KEYS_OLD`)
        }
        return openWith(key, account, id, bytes)
      }
      for (const key of legacy) {
        try {
          return openWith(key, account, id, bytes)
        } catch {
          // not this one: the next configured key may have sealed it
        }
      }
      throw new Error(`BYOK key ${id} (sealed before key ids) opens with none of the configured encryption keys`)
    },
    knows: (keyId) => keyId === null || byId.has(keyId)
  }
}
