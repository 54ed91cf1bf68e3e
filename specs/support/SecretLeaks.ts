/**
 * What may be shown of a secret (an API key, a session token): at most its first 8 characters
 * (README "Errors", `publicPrefix`). Anything that shows 9 consecutive characters of it has
 * shown more than that, wherever in the secret they come from.
 */
export const SHOWN_CHARACTERS = 8

/** The first run of 9 consecutive characters of `secret` found in `text`, if any. */
export const leakedPart = (text: string, secret: string): string | undefined => {
  const width = SHOWN_CHARACTERS + 1
  for (let i = 0; i + width <= secret.length; i++) {
    const window = secret.slice(i, i + width)
    if (text.includes(window)) return window
  }
  return undefined
}

/** True when `shown` is a leading part of `secret` of at most 8 characters. */
export const isAllowedPrefix = (shown: string, secret: string): boolean =>
  shown.length <= SHOWN_CHARACTERS && secret.startsWith(shown)

/** A long secret no store knows, with the given leading characters (distinct per call). */
let unknownCounter = 0
export const unknownSecret = (prefix: string): string =>
  `${prefix}Zq7Wm2Xv9Lp4Rt6Yb1Nc8Hd3Kf5Gj0Ts${String(++unknownCounter).padStart(4, "0")}`
