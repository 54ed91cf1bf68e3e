import { Effect, Option } from "effect"
import { Command, Flag } from "effect/cli"
import { Administration, type ServicePatch } from "../../application/Administration.ts"
import * as AdminJson from "../admin/AdminJson.ts"
import { serviceText, servicesTable, issuedKeyText } from "./AdminText.ts"
import {
  adminCall,
  creditsFlag,
  emit,
  idempotencyKey,
  onStore,
  orgId,
  policyFlag,
  scopesFlag,
  secretFromStdin,
  serviceName,
  someScopes,
  tier,
  UsageError
} from "./CliSupport.ts"

const name = serviceName.argument("name", "The service's name, e.g. presenton-service")

/** A rate limit flag: a whole number, or `none` to remove the limit (the core checks the number). */
const rateLimitFlag = (flag: string, what: string) =>
  Flag.String(flag).pipe(Flag.withDescription(`${what}: a whole number from 1 to 1000000, or none to remove the limit`), Flag.optional)

const rateLimitOf = (value: Option.Option<string>): number | null | undefined =>
  Option.match(value, { onNone: () => undefined, onSome: (v) => (v.trim().toLowerCase() === "none" ? null : Number(v)) })

/** The three rate limit flags, as the core's patch (none given: no change). */
const rateLimitsOfFlags = (input: {
  readonly requestsPerMinute: Option.Option<string>
  readonly perKeyRequestsPerMinute: Option.Option<string>
  readonly concurrent: Option.Option<string>
}) =>
  [input.requestsPerMinute, input.perKeyRequestsPerMinute, input.concurrent].every(Option.isNone) ? undefined : {
    requestsPerMinute: rateLimitOf(input.requestsPerMinute),
    perKeyRequestsPerMinute: rateLimitOf(input.perKeyRequestsPerMinute),
    concurrent: rateLimitOf(input.concurrent)
  }

const rateLimitFlags = {
  requestsPerMinute: rateLimitFlag("requests-per-minute", "Requests per minute, all its credentials together"),
  perKeyRequestsPerMinute: rateLimitFlag("per-key-requests-per-minute", "Requests per minute for each of its credentials"),
  concurrent: rateLimitFlag("concurrent", "Generation requests in flight at once")
}

const create = Command.make("create", {
  name,
  org: orgId.flag("org", "The organization that pays when no user is named (created when it does not exist)").pipe(Flag.optional),
  orgName: Flag.String("org-name").pipe(Flag.withDescription("A new organization's name (default: the service's name)"), Flag.optional),
  tier: tier.flag("tier", "A new organization's tier (default: managed)").pipe(Flag.optional),
  policy: policyFlag.pipe(Flag.optional),
  scopes: scopesFlag("A scope the service may use (repeat the flag); none given: every scope"),
  jwtSecretStdin: Flag.Boolean("jwt-secret-stdin").pipe(
    Flag.withDescription("Read the HS256 secret the service signs its JWTs with from stdin (one line)"),
    Flag.withDefault(false)
  ),
  credits: creditsFlag("credits", "Credits granted to the organization at creation").pipe(Flag.optional),
  ...rateLimitFlags,
  idempotencyKey
}, (input) =>
  Effect.gen(function*() {
    const jwtSecret = input.jwtSecretStdin ? yield* secretFromStdin("the service's JWT secret") : undefined
    const created = yield* onStore(Administration.use((admin) =>
      admin.createService(adminCall(input.idempotencyKey), {
        name: input.name,
        org: Option.match(input.org, {
          onNone: () => undefined,
          onSome: (id) => ({ id, name: Option.getOrUndefined(input.orgName), tier: Option.getOrUndefined(input.tier) })
        }),
        userIdPolicy: Option.getOrUndefined(input.policy),
        scopes: someScopes(input.scopes),
        jwtSecret,
        initialCredits: Option.getOrUndefined(input.credits),
        rateLimits: rateLimitsOfFlags(input)
      })
    ))
    yield* emit(() => AdminJson.createdService(created), () =>
      [
        `${created.replayed === true ? "Already created (same idempotency key)" : "Created"} service ${created.service.name}.`,
        serviceText(created.service),
        "",
        "First key:",
        issuedKeyText(created.key)
      ].join("\n"))
  })).pipe(
    Command.withDescription("Create a service with its organization, policy, scopes, JWT secret, rate limits and first grant; prints its first key once"),
    Command.withExamples([
      { command: "admin services create acme-service --org org_acme --org-name Acme --credits 10000", description: "A service whose organization starts with 10,000 credits" },
      { command: "admin services create acme-service --org org_acme --requests-per-minute 600 --concurrent 8", description: "A service limited from the start" },
      { command: "printf '%s\\n' \"$JWT_SECRET\" | admin services create acme-service --org org_acme --jwt-secret-stdin --policy required", description: "A service that signs JWTs and must name a user" }
    ])
  )

const list = Command.make("list", {}, () =>
  Effect.gen(function*() {
    const services = yield* onStore(Administration.use((admin) => admin.listServices))
    yield* emit(() => AdminJson.services(services), () => servicesTable(services))
  })).pipe(Command.withDescription("List services with their organization, policy, balance and last use"))

const show = Command.make("show", { name }, (input) =>
  Effect.gen(function*() {
    const service = yield* onStore(Administration.use((admin) => admin.showService(input.name)))
    yield* emit(() => AdminJson.service(service), () => serviceText(service))
  })).pipe(Command.withDescription("Show a service: its organization's balance, policy, scopes and keys"))

const update = Command.make("update", {
  name,
  policy: policyFlag.pipe(Flag.optional),
  scopes: scopesFlag("Replace the service's scopes (repeat the flag)"),
  allScopes: Flag.Boolean("all-scopes").pipe(Flag.withDescription("Let the service use every scope"), Flag.withDefault(false)),
  jwtSecretStdin: Flag.Boolean("jwt-secret-stdin").pipe(
    Flag.withDescription("Replace the JWT secret with one read from stdin (one line)"),
    Flag.withDefault(false)
  ),
  noJwt: Flag.Boolean("remove-jwt-secret").pipe(
    Flag.withDescription("Remove the JWT secret: the service's JWTs stop working"),
    Flag.withDefault(false)
  ),
  org: orgId.flag("org", "Move the service to this (existing) organization").pipe(Flag.optional),
  activate: Flag.Boolean("activate").pipe(Flag.withDescription("Reactivate a deactivated service"), Flag.withDefault(false)),
  ...rateLimitFlags,
  idempotencyKey
}, (input) =>
  Effect.gen(function*() {
    if (input.allScopes && input.scopes.length > 0) {
      return yield* new UsageError({ message: "give --scope or --all-scopes, not both" })
    }
    if (input.jwtSecretStdin && input.noJwt) {
      return yield* new UsageError({ message: "give --jwt-secret-stdin or --remove-jwt-secret, not both" })
    }
    const patch: ServicePatch = {
      userIdPolicy: Option.getOrUndefined(input.policy),
      scopes: input.allScopes ? null : someScopes(input.scopes),
      jwtSecret: input.noJwt ? null : input.jwtSecretStdin ? yield* secretFromStdin("the service's new JWT secret") : undefined,
      org: Option.getOrUndefined(input.org),
      active: input.activate ? true : undefined,
      rateLimits: rateLimitsOfFlags(input)
    }
    if (Object.values(patch).every((v) => v === undefined)) {
      return yield* new UsageError({ message: "nothing to change: give at least one of --policy, --scope, --all-scopes, --jwt-secret-stdin, --remove-jwt-secret, --org, --activate, --requests-per-minute, --per-key-requests-per-minute, --concurrent" })
    }
    const service = yield* onStore(Administration.use((admin) => admin.updateService(adminCall(input.idempotencyKey), input.name, patch)))
    yield* emit(() => AdminJson.service(service), () => `Updated service ${service.name}.\n${serviceText(service)}`)
  })).pipe(
    Command.withDescription("Change a service's policy, scopes, JWT secret, organization or rate limits"),
    Command.withExamples([
      { command: "admin services update acme-service --policy required --scope images:generate --scope credits:read" },
      { command: "admin services update acme-service --requests-per-minute 600 --concurrent 8", description: "Rate limits (none removes one)" }
    ])
  )

const deactivate = Command.make("deactivate", { name, idempotencyKey }, (input) =>
  Effect.gen(function*() {
    const service = yield* onStore(Administration.use((admin) => admin.deactivateService(adminCall(input.idempotencyKey), input.name)))
    yield* emit(() => AdminJson.service(service), () => `Deactivated service ${service.name}: its keys and JWTs stop working now.\n${serviceText(service)}`)
  })).pipe(Command.withDescription("Deactivate a service: its keys and JWTs stop working at once (undo: update --activate)"))

export const ServiceCommands = Command.make("services").pipe(
  Command.withDescription("Services: the applications that call the gateway with service keys or JWTs"),
  Command.withSubcommands([create, list, show, update, deactivate])
)
