import { Effect, Option } from "effect"
import { Argument, Command, Flag } from "effect/cli"
import { Administration } from "../../application/Administration.ts"
import type { KeyOwner } from "../../domain/Entities.ts"
import type { KeyId, ServiceName, UserId } from "../../domain/Ids.ts"
import * as AdminJson from "../admin/AdminJson.ts"
import { issuedKeyText, keysTable, keyText } from "./AdminText.ts"
import {
  adminCall,
  durationFlag,
  emit,
  idempotencyKey,
  onStore,
  scopesFlag,
  secretFromStdin,
  serviceName,
  someScopes,
  timeFlag,
  UsageError,
  userId
} from "./CliSupport.ts"
import { time } from "./TextOutput.ts"

const keyId = Argument.String("id").pipe(Argument.withDescription("The key's id (see keys list)"))
const serviceOwner = serviceName.flag("service", "A service's key").pipe(Flag.optional)
const userOwner = userId.flag("user", "A user's key").pipe(Flag.optional)
const expires = timeFlag("expires", "When the key stops working (default: never)").pipe(Flag.optional)
const scopes = scopesFlag("Narrow the key to this scope (repeat the flag); none given: the owner's scopes")

/** Exactly one owner among the flags given. */
const ownerOf = (given: ReadonlyArray<Option.Option<KeyOwner>>, flags: string) => {
  const owners = given.flatMap((o) => (Option.isSome(o) ? [o.value] : []))
  return owners.length === 1 ? Effect.succeed(owners[0]!) : Effect.fail(new UsageError({ message: `give exactly one of ${flags}` }))
}

const asService = (o: Option.Option<ServiceName>) => Option.map(o, (service): KeyOwner => ({ _tag: "Service", service }))
const asUser = (o: Option.Option<UserId>) => Option.map(o, (user): KeyOwner => ({ _tag: "User", user }))

const issue = Command.make("issue", { service: serviceOwner, user: userOwner, scopes, expires, idempotencyKey }, (input) =>
  Effect.gen(function*() {
    const owner = yield* ownerOf([asService(input.service), asUser(input.user)], "--service or --user")
    const issued = yield* onStore(Administration.use((admin) =>
      admin.issueKey(adminCall(input.idempotencyKey), owner, {
        scopes: someScopes(input.scopes),
        expiresAt: Option.getOrUndefined(input.expires)
      })
    ))
    yield* emit(() => AdminJson.issuedKey(issued), () => issuedKeyText(issued))
  })).pipe(
    Command.withDescription("Issue a new key to a service or a user; its secret is printed once"),
    Command.withExamples([
      { command: "admin keys issue --service acme-service" },
      { command: "admin keys issue --user 7a6bfd31-0120-4a30-9e21-0fc3b8006579 --scope images:generate --expires 2026-12-31" }
    ])
  )

const rotate = Command.make("rotate", {
  service: serviceName.argument("service", "The service whose keys are rotated"),
  overlap: durationFlag("overlap", "How long the service's other active keys keep working, deprecated (default 24h)").pipe(
    Flag.withDefault(24 * 3_600_000)
  ),
  idempotencyKey
}, (input) =>
  Effect.gen(function*() {
    const rotated = yield* onStore(Administration.use((admin) =>
      admin.rotateServiceKeys(adminCall(input.idempotencyKey), input.service, input.overlap)
    ))
    yield* emit(() => AdminJson.rotatedKeys(rotated), () =>
      [
        issuedKeyText(rotated),
        "",
        rotated.retiring.length === 0
          ? "No other active key to retire."
          : `Retiring (they keep working until their expiry, with Deprecation and Sunset headers):\n${keysTable(rotated.retiring)}`
      ].join("\n"))
  })).pipe(
    Command.withDescription("Issue a service a new key; its other active keys keep working for the overlap, deprecated"),
    Command.withExamples([{ command: "admin keys rotate acme-service --overlap 48h" }])
  )

const revoke = Command.make("revoke", { id: keyId, idempotencyKey }, (input) =>
  Effect.gen(function*() {
    const key = yield* onStore(Administration.use((admin) => admin.revokeKey(adminCall(input.idempotencyKey), input.id as KeyId)))
    yield* emit(() => AdminJson.key(key), () => `Revoked key ${key.id}: it stops working now.\n${keyText(key)}`)
  })).pipe(Command.withDescription("Revoke a key: it stops working at once"))

const importKey = Command.make("import", {
  service: serviceOwner,
  user: userOwner,
  admin: Flag.String("admin").pipe(Flag.withDescription("An admin key, under this operator's name"), Flag.optional),
  scopes,
  expires,
  idempotencyKey
}, (input) =>
  Effect.gen(function*() {
    const owner = yield* ownerOf(
      [asService(input.service), asUser(input.user), Option.map(input.admin, (admin): KeyOwner => ({ _tag: "Admin", admin }))],
      "--service, --user or --admin"
    )
    const literal = yield* secretFromStdin("the key to import")
    const key = yield* onStore(Administration.use((admin) =>
      admin.importKey(adminCall(input.idempotencyKey), owner, literal, {
        scopes: someScopes(input.scopes),
        expiresAt: Option.getOrUndefined(input.expires)
      })
    ))
    yield* emit(() => AdminJson.key(key), () => `Imported the key as ${key.id} (stored hashed; the literal keeps working).\n${keyText(key)}`)
  })).pipe(
    Command.withDescription("Import an existing (legacy) key, read from stdin, never from the command line"),
    Command.withExamples([
      { command: "printf '%s\\n' \"$OLD_KEY\" | admin keys import --service acme-service", description: "The key never appears in the shell's history or the process list" }
    ])
  )

const deprecate = Command.make("deprecate", {
  id: keyId,
  sunset: timeFlag("sunset", "When the key will stop working, announced in the Sunset header"),
  idempotencyKey
}, (input) =>
  Effect.gen(function*() {
    const key = yield* onStore(Administration.use((admin) =>
      admin.deprecateKey(adminCall(input.idempotencyKey), input.id as KeyId, input.sunset)
    ))
    yield* emit(() => AdminJson.key(key), () =>
      `Deprecated key ${key.id}: responses carry Deprecation and Sunset (${time(key.deprecatedSunset)}) headers.\n${keyText(key)}`)
  })).pipe(
    Command.withDescription("Mark a key deprecated: responses made with it carry Deprecation and Sunset headers"),
    Command.withExamples([{ command: "admin keys deprecate key_123 --sunset 2026-06-30" }])
  )

const list = Command.make("list", {
  service: serviceOwner,
  user: userOwner,
  kind: Flag.Literals("kind", ["service", "user", "admin"]).pipe(Flag.withDescription("Only keys of this kind of owner"), Flag.optional)
}, (input) =>
  Effect.gen(function*() {
    const owners = [asService(input.service), asUser(input.user)].filter(Option.isSome)
    if (owners.length + (Option.isSome(input.kind) ? 1 : 0) > 1) {
      return yield* new UsageError({ message: "give at most one of --service, --user or --kind" })
    }
    const ownerKind = Option.map(input.kind, (k) => (k === "service" ? "Service" : k === "user" ? "User" : "Admin") as KeyOwner["_tag"])
    const keys = yield* onStore(Administration.use((admin) =>
      admin.listKeys({ owner: owners[0]?.value, ownerKind: Option.getOrUndefined(ownerKind) })
    ))
    yield* emit(() => AdminJson.keys(keys), () => keysTable(keys))
  })).pipe(Command.withDescription("List keys (never their secrets), of one owner or one kind of owner"))

export const KeyCommands = Command.make("keys").pipe(
  Command.withDescription("API keys of services and users: issue, rotate, revoke, import, deprecate, list"),
  Command.withSubcommands([issue, rotate, revoke, importKey, deprecate, list])
)

const adminCreate = Command.make("create", {
  name: Argument.String("name").pipe(Argument.withDescription("The operator's name, e.g. ops or jane@example.com")),
  expires,
  idempotencyKey
}, (input) =>
  Effect.gen(function*() {
    const issued = yield* onStore(Administration.use((admin) =>
      admin.issueKey(adminCall(input.idempotencyKey), { _tag: "Admin", admin: input.name }, {
        expiresAt: Option.getOrUndefined(input.expires)
      })
    ))
    yield* emit(() => AdminJson.issuedKey(issued), () =>
      `${issuedKeyText(issued)}\nUse it on the admin API: Authorization: Bearer <secret> on /api/v1/admin/…`)
  })).pipe(
    Command.withDescription("Create an admin key (adm_…) for the admin API; an operator's first comes from here or ADMIN_API_KEY"),
    Command.withExamples([{ command: "admin admin-keys create ops" }])
  )

const adminList = Command.make("list", {}, () =>
  Effect.gen(function*() {
    const keys = yield* onStore(Administration.use((admin) => admin.listKeys({ ownerKind: "Admin" })))
    yield* emit(() => AdminJson.keys(keys), () => keysTable(keys))
  })).pipe(Command.withDescription("List admin keys (revoke one with keys revoke <id>)"))

export const AdminKeyCommands = Command.make("admin-keys").pipe(
  Command.withDescription("Admin keys: the credentials of the admin API"),
  Command.withSubcommands([adminCreate, adminList])
)
