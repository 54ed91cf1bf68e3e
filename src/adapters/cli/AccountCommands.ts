import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { Administration, type OrganizationPatch, type UserPatch } from "../../application/Administration.ts"
import type { UserId } from "../../domain/Ids.ts"
import * as AdminJson from "../admin/AdminJson.ts"
import { orgsTable, orgText, usersTable, userText } from "./AdminText.ts"
import { adminCall, creditsFlag, emit, idempotencyKey, onStore, orgId, tier, UsageError, userId } from "./CliSupport.ts"

const capFlag = creditsFlag("cap", "A monthly spending cap, in credits").pipe(Flag.optional)
const removeCap = Flag.Boolean("remove-cap").pipe(Flag.withDescription("Remove the monthly cap"), Flag.withDefault(false))
const initialCredits = creditsFlag("credits", "Credits granted at creation").pipe(Flag.optional)
const tierFlag = tier.flag("tier", "The pricing tier, e.g. free, professional, managed").pipe(Flag.optional)
const limit = Flag.Int("limit").pipe(Flag.withDescription("How many to list (1 to 500)"), Flag.withDefault(50))
const after = Flag.String("after").pipe(Flag.withDescription("Continue a listing after this id"), Flag.optional)

const pageOf = (input: { readonly limit: number; readonly after: Option.Option<string> }) =>
  input.limit < 1 || input.limit > 500
    ? Effect.fail(new UsageError({ message: "--limit is 1 to 500" }))
    : Effect.succeed({ limit: input.limit, after: Option.getOrUndefined(input.after) })

const more = (ids: ReadonlyArray<string>, limit: number) =>
  ids.length === limit ? `\nMore: repeat with --after ${ids.at(-1)}` : ""

const capPatch = (cap: Option.Option<number>, remove: boolean) =>
  remove && Option.isSome(cap)
    ? Effect.fail(new UsageError({ message: "give --cap or --remove-cap, not both" }))
    : Effect.succeed(remove ? null : Option.getOrUndefined(cap))

// --- users ------------------------------------------------------------------------------------------

const user = userId.argument("id", "The user's UUID")

const userCreate = Command.make("create", {
  id: userId.flag("id", "The user's UUID (default: a new one)").pipe(Flag.optional),
  tier: tierFlag,
  billingOrg: orgId.flag("billing-org", "The organization that may bill the user").pipe(Flag.optional),
  cap: capFlag,
  credits: initialCredits,
  idempotencyKey
}, (input) =>
  Effect.gen(function*() {
    const created = yield* onStore(Administration.use((admin) =>
      admin.createUser(adminCall(input.idempotencyKey), {
        id: Option.getOrUndefined(input.id),
        tier: Option.getOrUndefined(input.tier),
        billingOrg: Option.getOrUndefined(input.billingOrg),
        monthlyCap: Option.getOrUndefined(input.cap),
        initialCredits: Option.getOrUndefined(input.credits)
      })
    ))
    yield* emit(() => AdminJson.user(created), () =>
      `${created.replayed === true ? "Already created (same idempotency key)" : "Created"} user ${created.id}.\n${userText(created)}`)
  })).pipe(
    Command.withDescription("Create a user, with a tier, a billing organization, a monthly cap and a first grant"),
    Command.withExamples([{ command: "admin users create --tier professional --credits 1000 --cap 500" }])
  )

const userShow = Command.make("show", { id: user }, (input) =>
  Effect.gen(function*() {
    const found = yield* onStore(Administration.use((admin) => admin.showUser(input.id)))
    yield* emit(() => AdminJson.user(found), () => userText(found))
  })).pipe(Command.withDescription("Show a user: status, tier, billing organization, cap and balance"))

const userList = Command.make("list", { limit, after }, (input) =>
  Effect.gen(function*() {
    const page = yield* pageOf(input)
    const users = yield* onStore(Administration.use((admin) => admin.listUsers(page)))
    yield* emit(() => AdminJson.users(users, page.limit), () => usersTable(users) + more(users.map((u) => u.id), page.limit))
  })).pipe(Command.withDescription("List users with their tier and balance"))

const changeUser = (id: UserId, patch: UserPatch, key: Option.Option<string>, done: string) =>
  Effect.gen(function*() {
    const changed = yield* onStore(Administration.use((admin) => admin.updateUser(adminCall(key), id, patch)))
    yield* emit(() => AdminJson.user(changed), () => `${done} user ${changed.id}.\n${userText(changed)}`)
  })

const userUpdate = Command.make("update", {
  id: user,
  tier: tierFlag,
  cap: capFlag,
  removeCap,
  billingOrg: orgId.flag("billing-org", "Make the user a member this organization may bill").pipe(Flag.optional),
  removeBillingOrg: Flag.Boolean("remove-billing-org").pipe(
    Flag.withDescription("End the user's membership: the user pays for itself"),
    Flag.withDefault(false)
  ),
  idempotencyKey
}, (input) =>
  Effect.gen(function*() {
    if (input.removeBillingOrg && Option.isSome(input.billingOrg)) {
      return yield* new UsageError({ message: "give --billing-org or --remove-billing-org, not both" })
    }
    const patch: UserPatch = {
      tier: Option.getOrUndefined(input.tier),
      monthlyCap: yield* capPatch(input.cap, input.removeCap),
      billingOrg: input.removeBillingOrg ? null : Option.getOrUndefined(input.billingOrg)
    }
    if (Object.values(patch).every((v) => v === undefined)) {
      return yield* new UsageError({ message: "nothing to change: give --tier, --cap, --remove-cap, --billing-org or --remove-billing-org" })
    }
    yield* changeUser(input.id, patch, input.idempotencyKey, "Updated")
  })).pipe(
    Command.withDescription("Change a user's tier, monthly cap or billing organization"),
    Command.withExamples([{ command: "admin users update 7a6bfd31-0120-4a30-9e21-0fc3b8006579 --tier enterprise --remove-cap" }])
  )

const userSuspend = Command.make("suspend", { id: user, idempotencyKey }, (input) =>
  changeUser(input.id, { status: "suspended" }, input.idempotencyKey, "Suspended")).pipe(
    Command.withDescription("Suspend a user: its requests are refused until it is activated")
  )

const userActivate = Command.make("activate", { id: user, idempotencyKey }, (input) =>
  changeUser(input.id, { status: "active" }, input.idempotencyKey, "Activated")).pipe(
    Command.withDescription("Activate a suspended user")
  )

export const UserCommands = Command.make("users").pipe(
  Command.withDescription("Users: their tier, cap, billing organization and status"),
  Command.withSubcommands([userCreate, userShow, userList, userUpdate, userSuspend, userActivate])
)

// --- organizations ----------------------------------------------------------------------------------

const org = orgId.argument("id", "The organization's id, e.g. org_acme")

const orgCreate = Command.make("create", {
  id: org,
  name: Flag.String("name").pipe(Flag.withDescription("The organization's name")),
  tier: tierFlag,
  billsMembers: Flag.Boolean("bills-members").pipe(
    Flag.withDescription("Bill the organization for its members' requests"),
    Flag.withDefault(false)
  ),
  cap: capFlag,
  credits: initialCredits,
  idempotencyKey
}, (input) =>
  Effect.gen(function*() {
    const created = yield* onStore(Administration.use((admin) =>
      admin.createOrganization(adminCall(input.idempotencyKey), {
        id: input.id,
        name: input.name,
        tier: Option.getOrUndefined(input.tier),
        billsMembers: input.billsMembers,
        monthlyCap: Option.getOrUndefined(input.cap),
        initialCredits: Option.getOrUndefined(input.credits)
      })
    ))
    yield* emit(() => AdminJson.organization(created), () =>
      `${created.replayed === true ? "Already created (same idempotency key)" : "Created"} organization ${created.id}.\n${orgText(created)}`)
  })).pipe(
    Command.withDescription("Create an organization, with a tier, a monthly cap and a first grant"),
    Command.withExamples([{ command: "admin orgs create org_acme --name \"Acme Inc\" --tier enterprise --bills-members --credits 50000" }])
  )

const orgShow = Command.make("show", { id: org }, (input) =>
  Effect.gen(function*() {
    const found = yield* onStore(Administration.use((admin) => admin.showOrganization(input.id)))
    yield* emit(() => AdminJson.organization(found), () => orgText(found))
  })).pipe(Command.withDescription("Show an organization: tier, cap and balance"))

const orgList = Command.make("list", { limit, after }, (input) =>
  Effect.gen(function*() {
    const page = yield* pageOf(input)
    const orgs = yield* onStore(Administration.use((admin) => admin.listOrganizations(page)))
    yield* emit(() => AdminJson.organizations(orgs, page.limit), () => orgsTable(orgs) + more(orgs.map((o) => o.id), page.limit))
  })).pipe(Command.withDescription("List organizations with their tier and balance"))

const orgUpdate = Command.make("update", {
  id: org,
  name: Flag.String("name").pipe(Flag.withDescription("A new name"), Flag.optional),
  tier: tierFlag,
  billsMembers: Flag.Boolean("bills-members").pipe(
    Flag.withDescription("Bill (--bills-members) or stop billing (--no-bills-members) the organization for its members"),
    Flag.optional
  ),
  cap: capFlag,
  removeCap,
  idempotencyKey
}, (input) =>
  Effect.gen(function*() {
    const patch: OrganizationPatch = {
      name: Option.getOrUndefined(input.name),
      tier: Option.getOrUndefined(input.tier),
      billsMembers: Option.getOrUndefined(input.billsMembers),
      monthlyCap: yield* capPatch(input.cap, input.removeCap)
    }
    if (Object.values(patch).every((v) => v === undefined)) {
      return yield* new UsageError({ message: "nothing to change: give --name, --tier, --bills-members, --no-bills-members, --cap or --remove-cap" })
    }
    const changed = yield* onStore(Administration.use((admin) => admin.updateOrganization(adminCall(input.idempotencyKey), input.id, patch)))
    yield* emit(() => AdminJson.organization(changed), () => `Updated organization ${changed.id}.\n${orgText(changed)}`)
  })).pipe(
    Command.withDescription("Change an organization's name, tier, member billing or monthly cap"),
    Command.withExamples([{ command: "admin orgs update org_acme --tier managed --cap 20000" }])
  )

export const OrgCommands = Command.make("orgs").pipe(
  Command.withDescription("Organizations: the accounts services and members bill to"),
  Command.withSubcommands([orgCreate, orgShow, orgList, orgUpdate])
)
