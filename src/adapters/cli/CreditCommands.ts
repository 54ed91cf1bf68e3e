import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { Administration } from "../../application/Administration.ts"
import type { TransferId } from "../../domain/Ids.ts"
import * as AdminJson from "../admin/AdminJson.ts"
import { accountText, historyText, transferText } from "./AdminText.ts"
import { adminCall, creditsArgument, creditsFlag, emit, idempotencyKey, onStore, UsageError } from "./CliSupport.ts"

const account = Argument.String("account").pipe(
  Argument.withDescription("A user UUID or an organization id (org_…)")
)
const reason = Flag.String("reason").pipe(Flag.withDescription("Why, for the ledger and the audit log (e.g. \"invoice 2026-117\")"))

const grant = Command.make("grant", {
  account,
  credits: creditsArgument("credits", "How many credits (up to 3 decimals)"),
  reason,
  idempotencyKey
}, (input) =>
  Effect.gen(function*() {
    const granted = yield* onStore(Administration.use((admin) =>
      admin.grant(adminCall(input.idempotencyKey), input.account, input.credits, input.reason)
    ))
    yield* emit(() => AdminJson.transfer(granted), () => transferText("Granted", granted))
  })).pipe(
    Command.withDescription("Grant credits to a user's or an organization's account"),
    Command.withExamples([
      { command: "admin credits grant org_acme 5000 --reason \"invoice 2026-117\" --idempotency-key inv-2026-117", description: "Safe to retry: the same key never grants twice" }
    ])
  )

const refund = Command.make("refund", {
  transfer: Argument.String("transfer").pipe(Argument.withDescription("The settled charge's transfer id (see credits history)")),
  credits: creditsFlag("credits", "How many credits to refund (default: all that is left)").pipe(Flag.optional),
  reason,
  idempotencyKey
}, (input) =>
  Effect.gen(function*() {
    const refunded = yield* onStore(Administration.use((admin) =>
      admin.refund(adminCall(input.idempotencyKey), input.transfer as TransferId, {
        millicredits: Option.getOrUndefined(input.credits),
        reason: input.reason
      })
    ))
    yield* emit(() => AdminJson.transfer(refunded), () => transferText("Refunded", refunded))
  })).pipe(
    Command.withDescription("Refund (part of) a settled charge to the account that paid it"),
    Command.withExamples([{ command: "admin credits refund settle:req_abc --credits 24 --reason \"blurry image\"" }])
  )

const balance = Command.make("balance", { account }, (input) =>
  Effect.gen(function*() {
    const found = yield* onStore(Administration.use((admin) => admin.account(input.account)))
    yield* emit(() => AdminJson.account(found), () => accountText(found))
  })).pipe(Command.withDescription("Show an account's balance (available, posted, pending) and this month's spend"))

const history = Command.make("history", {
  account,
  limit: Flag.Int("limit").pipe(Flag.withDescription("How many transfers (1 to 500)"), Flag.withDefault(50)),
  before: Flag.Int("before").pipe(Flag.withDescription("Only transfers before this sequence number (the previous page's last)"), Flag.optional)
}, (input) =>
  Effect.gen(function*() {
    if (input.limit < 1 || input.limit > 500) return yield* new UsageError({ message: "--limit is 1 to 500" })
    const page = yield* onStore(Administration.use((admin) =>
      admin.history(input.account, { limit: input.limit, beforeSeq: Option.getOrUndefined(input.before) })
    ))
    yield* emit(() => AdminJson.transfers(page), () => historyText(input.account.trim(), page))
  })).pipe(Command.withDescription("List an account's transfers, newest first: grants, charges and refunds"))

export const CreditCommands = Command.make("credits").pipe(
  Command.withDescription("Credits: grant, refund, balances and history"),
  Command.withSubcommands([grant, refund, balance, history])
)
