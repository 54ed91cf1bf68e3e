import type { Config } from "effect"

/** "PORT: Expected a value between 0 and 65535": the variable first, then what it must be. */
export const describeConfigError = (e: Config.ConfigError): string => {
  const text = e.cause.toString().replace(/^SchemaError\(|\)$/g, "")
  const variable = /at \["([^"]+)"\]/.exec(text)?.[1]
  const problem = text.replace(/\s*at \[.*\]\s*$/s, "").trim()
  return variable === undefined ? problem : `${variable}: ${problem}`
}
