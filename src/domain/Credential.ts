import { Redacted } from "effect"

/**
 * A credential as the caller presented it, already taken out of its transport (an HTTP header,
 * a cookie, a CLI flag) but not yet checked: its kind is read from its form alone. Every secret
 * stays `Redacted`, so that printing a credential never prints the secret.
 */
export type Credential =
  /** `sk-…`: a service's API key. */
  | { readonly _tag: "ServiceKey"; readonly secret: Redacted.Redacted<string> }
  /** `uc_…`: a user's API key. */
  | { readonly _tag: "UserKey"; readonly secret: Redacted.Redacted<string> }
  /** Three dot-separated parts: a service's signed JWT. */
  | { readonly _tag: "ServiceJwt"; readonly token: Redacted.Redacted<string> }
  /** `adm_…` (or a legacy `admin_…` literal): an operator's key, for the admin API only. */
  | { readonly _tag: "AdminKey"; readonly secret: Redacted.Redacted<string> }
  /** A browser session's token. */
  | { readonly _tag: "Session"; readonly token: Redacted.Redacted<string> }
  /** A bearer token of no known form: it matches no key. */
  | { readonly _tag: "UnknownToken"; readonly secret: Redacted.Redacted<string> }

/** The credential a bearer token is, by its form. */
export const credentialOfToken = (token: string): Credential => {
  const secret = Redacted.make(token)
  if (token.startsWith("sk-")) return { _tag: "ServiceKey", secret }
  if (token.startsWith("uc_")) return { _tag: "UserKey", secret }
  if (token.startsWith("adm_") || token.startsWith("admin_")) return { _tag: "AdminKey", secret }
  if (token.split(".").length === 3) return { _tag: "ServiceJwt", token: secret }
  return { _tag: "UnknownToken", secret }
}

/** A browser session's token. */
export const sessionCredential = (token: string): Credential => ({ _tag: "Session", token: Redacted.make(token) })
