import { Console, Data, Effect, Option, Redacted, Result, Schema, Stdio, Stream } from "effect"
import { Argument, Flag, GlobalFlag } from "effect/cli"
import { randomUUID } from "node:crypto"
import { userInfo } from "node:os"
import type { AdminCall } from "../../application/Administration.ts"
import { SCOPES, type Scope } from "../../domain/Entities.ts"
import { OrgId, ServiceName, UserId } from "../../domain/Ids.ts"
import { Tier } from "../../domain/Tier.ts"
import * as AdminJson from "../admin/AdminJson.ts"

/**
 * What every admin command shares: the global `--json` flag, `--idempotency-key`, the forms of
 * values (credits, dates, durations, ids) checked before anything runs, who is calling, secrets
 * read from stdin, and printing a result.
 */

/** A command line the CLI cannot run as given (exit 2): a missing or contradictory flag. */
export class UsageError extends Data.TaggedError("UsageError")<{ readonly message: string }> {}

/** `--json`: print the result as JSON (the admin API's rendering) instead of a table. */
export const Json = GlobalFlag.Setting("json")({
  flag: Flag.Boolean("json").pipe(
    Flag.withDefault(false),
    Flag.withDescription("Print the result as JSON (the admin API's shapes) instead of a table")
  )
})

/** Prints `json()` with `--json`, `text()` otherwise. */
export const emit = (json: () => unknown, text: () => string) =>
  Effect.gen(function*() {
    yield* Console.log((yield* Json) ? JSON.stringify(json(), null, 2) : text())
  })

export const idempotencyKey = Flag.String("idempotency-key").pipe(
  Flag.withDescription("Makes a retry safe: the same key with the same input answers the first result again"),
  Flag.optional
)

/** Who asks: the operating-system user, with a fresh request id for the audit log. */
export const adminCall = (key: Option.Option<string>): AdminCall => {
  let user: string
  try {
    user = userInfo().username
  } catch {
    user = process.env.USER ?? process.env.LOGNAME ?? "unknown"
  }
  return { actor: `cli:${user}`, requestId: `cli-${randomUUID()}`, idempotencyKey: Option.getOrUndefined(key) }
}

// --- forms of values ----------------------------------------------------------------------------

/** A flag or argument whose text `parse` turns into a value, or refuses with a sentence saying what is accepted. */
const parsed = <A>(parse: (text: string) => Result.Result<A, string>) => {
  const check = (text: string) => Result.getOrUndefined(parse(text))
  const why = (text: string) => Result.match(parse(text), { onSuccess: () => "", onFailure: (message) => message })
  return {
    flag: (name: string, description: string, metavar = "string") =>
      Flag.String(name).pipe(
        Flag.filterMap((s) => Option.fromNullishOr(check(s)), why),
        Flag.withMetavar(metavar),
        Flag.withDescription(description)
      ),
    argument: (name: string, description: string) =>
      Argument.String(name).pipe(
        Argument.filterMap((s) => Option.fromNullishOr(check(s)), why),
        Argument.withDescription(description)
      )
  }
}

/** Credits with up to 3 decimals (`48`, `0.5`) as exact millicredits: the admin API's own reading. */
const positiveCredits = parsed((text) => AdminJson.parseCredits(text))
const creditsOrZero = parsed((text) => AdminJson.parseCredits(text, { allowZero: true }))

export const creditsFlag = (name: string, description: string) => positiveCredits.flag(name, description, "credits")
export const creditsArgument = (name: string, description: string) => positiveCredits.argument(name, description)
export const priceArgument = (name: string, description: string) => creditsOrZero.argument(name, description)

/** An ISO 8601 date or time (`2026-03-01`, `2026-03-01T12:00:00Z`) or unix seconds, as epoch ms. */
export const timeFlag = (name: string, description: string) => parsed(AdminJson.parseTime).flag(name, description, "time")

const UNIT_MS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }

/** `24h`, `30m`, `7d`, `90s`, `0` as milliseconds. */
const parseDuration = (text: string): Result.Result<number, string> => {
  const match = /^(\d{1,9})(ms|s|m|h|d)?$/.exec(text.trim())
  const ms = match === null ? undefined : match[2] === undefined ? (Number(match[1]) === 0 ? 0 : undefined) : Number(match[1]) * UNIT_MS[match[2]]!
  return ms === undefined ? Result.fail(`'${text.slice(0, 40)}' is not a duration: expected e.g. 24h, 30m, 7d or 0.`) : Result.succeed(ms)
}

export const durationFlag = (name: string, description: string) => parsed(parseDuration).flag(name, description, "duration")

/** Text of a domain form (a name, an id, a tier), checked with the domain's schema. */
const schemaForm = <S extends Schema.Top>(schema: S, what: string) => {
  const is = Schema.is(schema)
  return parsed((text): Result.Result<S["Type"], string> =>
    is(text) ? Result.succeed(text) : Result.fail(`'${text.slice(0, 64)}' is not ${what}`))
}

export const serviceName = schemaForm(ServiceName, "a service name: lowercase letters, digits and '-', e.g. presenton-service")
export const orgId = schemaForm(OrgId, "an organization id: org_ then lowercase letters, digits and '_', e.g. org_acme")
export const userId = schemaForm(UserId, "a user UUID, e.g. 7a6bfd31-0120-4a30-9e21-0fc3b8006579")
export const tier = schemaForm(Tier, "a tier: lowercase letters, digits and '_', starting with a letter, e.g. managed")

export const policyFlag = Flag.Literals("policy", ["optional", "required", "forbidden"]).pipe(
  Flag.withDescription("Whether the service may, must or must not name a user to bill (X-User-ID)")
)

/** `--scope` repeated; none given: the owner's scopes (every scope for a service). */
export const scopesFlag = (description: string) =>
  Flag.Literals("scope", SCOPES).pipe(Flag.atLeast(0), Flag.withDescription(description))

export const someScopes = (scopes: ReadonlyArray<Scope>): ReadonlyArray<Scope> | undefined =>
  scopes.length === 0 ? undefined : scopes

// --- stdin ----------------------------------------------------------------------------------------

const STDIN_DEADLINE = "60 seconds"

/**
 * The first line of stdin as a secret, so that it lands in neither the shell's history nor the
 * process list. On a terminal, a prompt on stderr asks for it.
 */
export const secretFromStdin = (what: string) =>
  Effect.gen(function*() {
    const stdio = yield* Stdio.Stdio
    if (yield* stdio.stdinIsTerminal) yield* Console.error(`Enter ${what}, then press Enter:`)
    const line = yield* stdio.stdin.pipe(
      Stream.decodeText(),
      Stream.splitLines,
      Stream.runHead,
      Effect.timeoutOption(STDIN_DEADLINE),
      Effect.orElseSucceed(() => Option.none<Option.Option<string>>())
    )
    const text = Option.getOrUndefined(Option.flatten(line))?.trim() ?? ""
    if (text === "") {
      return yield* new UsageError({
        message: `expected ${what} on stdin (one line, within ${STDIN_DEADLINE}); pipe it in, e.g. printf '%s\\n' "$SECRET" | npm run admin -- …`
      })
    }
    return Redacted.make(text)
  })

// --- the store ------------------------------------------------------------------------------------

/**
 * Runs `effect` on the store, opened for it and closed after it (an embedded server started for
 * it stops). The store's modules are loaded here, so that --help and usage errors answer without
 * loading them.
 */
export const onStore = <A, E, R>(effect: Effect.Effect<A, E, R>) =>
  Effect.flatMap(Effect.promise(() => import("./AdminStore.ts")), (store) => Effect.provide(effect, store.AdminStore))
