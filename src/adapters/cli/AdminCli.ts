import { Cause, Config, Console, Effect, Layer, Logger } from "effect"
import { CliConfig, CliError, CliOutput, Command, GlobalFlag } from "effect/cli"
import { readFileSync } from "node:fs"
import { describeError } from "../../domain/Errors.ts"
import type { AdminFailure } from "../../application/Administration.ts"
import type { StartupError } from "../../Layers.ts"
import { OrgCommands, UserCommands } from "./AccountCommands.ts"
import { AuditCommand, ReportCommands } from "./AuditCommands.ts"
import { ByokCommands } from "./ByokCommands.ts"
import { Json, type UsageError } from "./CliSupport.ts"
import { CreditCommands } from "./CreditCommands.ts"
import { AdminKeyCommands, KeyCommands } from "./KeyCommands.ts"
import { PricingCommands } from "./PricingCommands.ts"
import { ServiceCommands } from "./ServiceCommands.ts"
import { UsageCommands } from "./UsageCommands.ts"
import { describeConfigError } from "../config/ConfigErrors.ts"

/**
 * The admin CLI (`npm run admin -- <command>`): the operations of the admin API, in process on
 * the same core (`Administration`) and the store the gateway is configured with.
 */

/** What a script can rely on. */
export const ExitCode = {
  ok: 0,
  /** Refused by the gateway's rules: not found, already exists, an invalid value, an idempotency conflict. */
  refused: 1,
  /** The command line is wrong: an unknown command or flag, a missing or malformed value. */
  usage: 2,
  /** A failure the CLI did not expect (a bug). */
  software: 70,
  /** The configuration is invalid, or the store cannot be reached or started. */
  unavailable: 78,
  interrupted: 130
} as const

/** The root's help: what the CLI works on, and the exit codes (the formatter indents the first line only). */
const DESCRIPTION = [
  "Operate the Image Gateway: services, keys, users, organizations, credits, pricing, the audit log and usage reports.",
  "Run as npm run admin -- <command> [flags]; every command has --help; --json prints JSON for scripts.",
  "",
  "Store: the one the gateway is configured with, from the same variables: DATABASE_URL (with BYOK_ENCRYPTION_KEY;",
  "MIGRATE=1 applies pending migrations), or the embedded default under DATA_DIR, where a running gateway's PostgreSQL",
  "is used, or else it is started for the command and stopped after it. STORAGE=memory cannot be reached: use the admin API.",
  "",
  "Exit codes:",
  "   0  success",
  "   1  refused by the gateway's rules: not found, already exists, an invalid value, an idempotency conflict",
  "   2  usage error: unknown command or flag, a missing or malformed value",
  "  70  unexpected failure",
  "  78  configuration invalid, or the store unavailable (STORAGE=memory included)",
  " 130  interrupted"
].join("\n  ")

export const AdminCli = Command.make("admin").pipe(
  Command.withDescription(DESCRIPTION),
  Command.withSubcommands([
    ServiceCommands,
    KeyCommands,
    AdminKeyCommands,
    UserCommands,
    OrgCommands,
    CreditCommands,
    PricingCommands,
    AuditCommand,
    ReportCommands,
    UsageCommands,
    ByokCommands
  ]),
  Command.withGlobalFlags([Json])
)

/** A message of several lines (a suggestion under it, say) as one sentence per line, on one line. */
const oneLine = (message: string) =>
  message
    .split("\n")
    .map((line) => line.trim())
    .filter((line) => line.length > 0)
    .reduce((text, line) => (text === "" ? line : `${text}${/[.?!:]$/.test(text) ? "" : "."} ${line}`), "")

/** Help on stdout; a usage error as one line on stderr, pointing at the command's help. */
const presenter: CliOutput.Presenter = {
  present: (event) => {
    switch (event._tag) {
      case "Help":
        return Console.log(CliOutput.defaultFormatter().formatHelpDoc(event.helpDoc))
      case "Version":
        return Console.log(`${event.name} ${event.version}`)
      case "InvalidInvocation":
        return Console.error(
          `admin: ${event.errors.map((e) => oneLine(e.message)).join("; ")} (see: npm run admin -- ${[...event.commandPath.slice(1), "--help"].join(" ")})`
        )
    }
  }
}


type Failure = AdminFailure | UsageError | StartupError | Config.ConfigError | CliError.CliError

const fail = (code: number, message: string) => Effect.as(Console.error(message), code)

/** One line on stderr naming what to fix, and the exit code for it; never a stack trace. */
const report = (e: Failure): Effect.Effect<number> => {
  if (CliError.isCliError(e)) {
    // ShowHelp: the presenter has shown the help, or the usage error (a group with no subcommand is one too).
    return e._tag === "ShowHelp" ? Effect.succeed(ExitCode.usage) : fail(ExitCode.usage, `admin: ${oneLine(e.message)}`)
  }
  switch (e._tag) {
    case "UsageError":
      return fail(ExitCode.usage, `admin: ${e.message}`)
    case "StartupError":
      return fail(ExitCode.unavailable, `admin: ${e.message}`)
    case "ConfigError":
      return fail(ExitCode.unavailable, `admin: invalid configuration: ${describeConfigError(e)}`)
    default:
      // Refused by the gateway's rules: not found, already exists, an invalid value, a conflict.
      return fail(ExitCode.refused, `admin: ${describeError(e)}`)
  }
}

/** A defect: the store failing mid-command is "unavailable"; anything else is a bug, told in one line. */
const reportDefect = (cause: Cause.Cause<never>): Effect.Effect<number> => {
  if (Cause.hasInterruptsOnly(cause)) return Effect.succeed(ExitCode.interrupted)
  const error: any = Cause.squash(cause)
  const message = [error?.message, error?.reason?.cause?.message ?? error?.cause?.message]
    .filter((part): part is string => typeof part === "string" && part.length > 0)
    .join(": ") || String(error)
  return error?._tag === "SqlError"
    ? fail(ExitCode.unavailable, `admin: the store failed: ${message}`)
    : fail(ExitCode.software, `admin: unexpected failure: ${message}`)
}

const version = (() => {
  try {
    return (JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8")) as { version: string }).version
  } catch {
    return "unknown"
  }
})()

/** Runs the command line `args` and answers the process's exit code. */
export const runAdminCli = (args: ReadonlyArray<string>) =>
  Command.runWith(AdminCli, { version })(args).pipe(
    Effect.as(ExitCode.ok as number),
    Effect.catch(report),
    Effect.catchCause(reportDefect),
    Effect.provide(Layer.mergeAll(
      CliConfig.layer({ builtIns: [GlobalFlag.Help, GlobalFlag.Version] }),
      CliOutput.layerPresenter(presenter)
    )),
    // Logs go to stderr: stdout holds the result only (a table, or JSON for scripts).
    Effect.provideService(Logger.LogToStderr, true)
  )
