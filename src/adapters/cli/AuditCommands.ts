import { Clock, Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { Administration } from "../../application/Administration.ts"
import * as AdminJson from "../admin/AdminJson.ts"
import { auditText, reportText } from "./AdminText.ts"
import { emit, onStore, timeFlag, UsageError } from "./CliSupport.ts"

const text = (name: string, description: string) => Flag.String(name).pipe(Flag.withDescription(description), Flag.optional)

export const AuditCommand = Command.make("audit", {
  kind: Flag.Literals("kind", ["admin", "credential"]).pipe(
    Flag.withDescription("admin: operators' actions; credential: uses of service credentials"),
    Flag.optional
  ),
  actor: text("actor", "Who: cli:<user>, key:<admin key id>, or a service's name"),
  action: text("action", "What, e.g. service.create, key.revoke, credits.grant, pricing.update, credential.use"),
  target: text("target", "On what, e.g. service:acme-service, account:org_acme"),
  since: timeFlag("since", "From this time (inclusive)").pipe(Flag.optional),
  until: timeFlag("until", "Up to this time (exclusive)").pipe(Flag.optional),
  limit: Flag.Int("limit").pipe(Flag.withDescription("How many entries (1 to 500)"), Flag.withDefault(50)),
  before: Flag.Int("before").pipe(Flag.withDescription("Only entries before this sequence number (the previous page's last)"), Flag.optional)
}, (input) =>
  Effect.gen(function*() {
    if (input.limit < 1 || input.limit > 500) return yield* new UsageError({ message: "--limit is 1 to 500" })
    const page = yield* onStore(Administration.use((admin) =>
      admin.audit({
        kind: Option.getOrUndefined(input.kind),
        actor: Option.getOrUndefined(input.actor),
        action: Option.getOrUndefined(input.action),
        target: Option.getOrUndefined(input.target),
        since: Option.getOrUndefined(input.since),
        until: Option.getOrUndefined(input.until),
        beforeSeq: Option.getOrUndefined(input.before),
        limit: input.limit
      })
    ))
    yield* emit(() => AdminJson.auditPage(page), () => auditText(page))
  })).pipe(
    Command.withDescription("List the audit log, newest first: every admin action and every use of a service credential"),
    Command.withExamples([
      { command: "admin audit --kind admin --since 2026-03-01" },
      { command: "admin audit --target service:acme-service --limit 20" }
    ])
  )

const WEEK_MS = 7 * 24 * 60 * 60_000

const weekly = Command.make("weekly", {
  since: timeFlag("since", "Start of the period (default: 7 days before --until)").pipe(Flag.optional),
  until: timeFlag("until", "End of the period, exclusive (default: now)").pipe(Flag.optional),
  top: Flag.Int("top").pipe(Flag.withDescription("Groups per list, the largest first (1 to 1000)"), Flag.withDefault(20))
}, (input) =>
  Effect.gen(function*() {
    const now = yield* Clock.currentTimeMillis
    const until = Option.getOrElse(input.until, () => now)
    const since = Option.getOrElse(input.since, () => until - WEEK_MS)
    const report = yield* onStore(Administration.use((admin) => admin.usageReport({ since, until, top: input.top })))
    yield* emit(() => AdminJson.usageReport(report), () => reportText(report))
  })).pipe(
    Command.withDescription("The weekly usage report: requests, images and credits per service, per payer and per credential kind"),
    Command.withExamples([{ command: "admin report weekly" }, { command: "admin report weekly --since 2026-03-01 --until 2026-03-08" }])
  )

export const ReportCommands = Command.make("report").pipe(
  Command.withDescription("Usage reports"),
  Command.withSubcommands([weekly])
)
