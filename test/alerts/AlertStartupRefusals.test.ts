/**
 * The alert settings a gateway process refuses to start with: one line naming the variable,
 * exit status 78 (EX_CONFIG), and never the webhook secret, whatever was wrong with it.
 */
import { ConfigProvider, Effect } from "effect"
import { describe, expect, it } from "vitest"
import { alertConfigProblem } from "../../src/adapters/alerts/AlertSettings.ts"
import { describeConfigError } from "../../src/adapters/config/ConfigErrors.ts"
import { GatewayConfig } from "../../src/Layers.ts"
import { exec, ROOT } from "../http/support/Processes.ts"

const URL_SET = { ALERT_WEBHOOK_URL: "https://alerts.example.com/hooks/gateway" }
/** 31 characters: one short of the minimum; distinctive enough to find anywhere in the output. */
const SHORT_SECRET = "whsec-TooShortToSignAnything-31"
const GOOD_SECRET = "whsec-LongEnoughSecretForSigning-0123456789"

const refusal = async (env: Record<string, string>) => {
  const failure = await exec(process.execPath, ["src/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, STORAGE: "memory", HOST: "127.0.0.1", PORT: "0", ...env },
    timeout: 30_000
  }).then(
    () => undefined,
    (e: { code: number | null; stdout: string; stderr: string }) => e
  )
  expect(failure, "the process refused to start").toBeDefined()
  return failure!
}

/**
 * The line the gateway stops with for `env`, worked out in process as `src/Program.ts` does: a
 * configuration error, else the alert settings' own problem. Two cases below run the real
 * process, so that this stays the line the process prints.
 */
const refusalLine = (env: Record<string, string>): Promise<string | undefined> =>
  Effect.runPromise(GatewayConfig.parse(ConfigProvider.fromEnv({ env: { STORAGE: "memory", ...env } })).pipe(
    Effect.map((config) => alertConfigProblem(config.alerts)),
    Effect.catchTag("ConfigError", (e) => Effect.succeed(`Invalid configuration: ${describeConfigError(e)}`))
  ))

describe("start-up refusals of the alert settings", () => {
  it.each([
    ["a secret under 32 characters", { ...URL_SET, ALERT_WEBHOOK_SECRET: SHORT_SECRET }, /^Invalid configuration: ALERT_WEBHOOK_SECRET: .*at least 32 characters/],
    ["a webhook URL without its secret", URL_SET, /^ALERT_WEBHOOK_SECRET must be set with ALERT_WEBHOOK_URL/],
    ["a secret without a webhook URL", { ALERT_WEBHOOK_SECRET: GOOD_SECRET }, /^ALERT_WEBHOOK_URL: not set, but ALERT_WEBHOOK_SECRET is/],
    ["a short secret without a webhook URL", { ALERT_WEBHOOK_SECRET: SHORT_SECRET }, /^Invalid configuration: ALERT_WEBHOOK_SECRET: /],
    ["a webhook URL that is not a URL", { ALERT_WEBHOOK_URL: "alerts example com", ALERT_WEBHOOK_SECRET: GOOD_SECRET }, /^Invalid configuration: ALERT_WEBHOOK_URL: /],
    ["a negative default threshold", { ALERT_LOW_BALANCE_CREDITS: "-5" }, /^Invalid configuration: ALERT_LOW_BALANCE_CREDITS: /],
    ["a default threshold that is not a number", { ALERT_LOW_BALANCE_CREDITS: "lots" }, /^Invalid configuration: ALERT_LOW_BALANCE_CREDITS: /],
    ["a negative rate threshold", { ALERT_SERVICE_AUTH_FAILURES_PER_HOUR: "-1" }, /^Invalid configuration: ALERT_SERVICE_AUTH_FAILURES_PER_HOUR: /],
    ["a rate threshold that is not a whole number", { ALERT_GENERATION_401_PER_HOUR: "5.5" }, /^Invalid configuration: ALERT_GENERATION_401_PER_HOUR: /]
  ])("%s: one line naming the variable, the secret nowhere", async (_, env, message) => {
    const line = await refusalLine(env)
    expect(line).toMatch(message)
    expect(line!.split("\n")).toHaveLength(1)
    for (const secret of [SHORT_SECRET, GOOD_SECRET]) expect(line).not.toContain(secret)
  })

  it.each([
    ["a secret under 32 characters", { ...URL_SET, ALERT_WEBHOOK_SECRET: SHORT_SECRET }, /^Invalid configuration: ALERT_WEBHOOK_SECRET: .*at least 32 characters/],
    ["a webhook URL without its secret", URL_SET, /^ALERT_WEBHOOK_SECRET must be set with ALERT_WEBHOOK_URL/]
  ])("as a process, %s: that line on stderr alone, exit 78, the secret nowhere", async (_, env, message) => {
    const failure = await refusal(env)
    expect(failure.code).toBe(78)
    const line = failure.stderr.trim()
    expect(line).toMatch(message)
    expect(line.split("\n")).toHaveLength(1)
    expect(failure.stdout.trim()).toBe("")
    for (const secret of [SHORT_SECRET, GOOD_SECRET]) {
      expect(failure.stderr).not.toContain(secret)
      expect(failure.stdout).not.toContain(secret)
    }
  })
})
