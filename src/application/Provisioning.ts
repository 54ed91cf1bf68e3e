import { Clock, Context, Effect, Layer, Option, Redacted } from "effect"
import type { Digest, SecureRandom } from "effect/crypto"
import type { ApiKeyRecord, KeyOwner, Organization, Scope, Service, User, UserIdPolicy } from "../domain/Entities.ts"
import type { IdempotencyConflict, InvalidAmount } from "../domain/Errors.ts"
import { type AccountId, accountOfOrg, type KeyId, type OrgId, type ServiceName, type TransferId, type UserId } from "../domain/Ids.ts"
import type { ProviderName } from "../domain/Models.ts"
import { SERVICE_ORG_DEFAULT_TIER, type Tier } from "../domain/Tier.ts"
import { CreditLedger } from "./CreditLedger.ts"
import { ByokStore } from "./ports/ByokStore.ts"
import { KeyStore } from "./ports/KeyStore.ts"
import { OrganizationRepository, ServiceRegistry, SessionStore, UserRepository } from "./ports/Repositories.ts"
import { hashSecret, publicPrefix, randomSecret } from "./Secrets.ts"

/** Each kind of key has its own form, so that a token's kind is known before it is looked up. */
const KEY_PREFIX: Record<KeyOwner["_tag"], string> = { Service: "sk-", User: "uc_", Admin: "adm_" }

export interface IssuedKey {
  /** Shown once; only its hash is stored. */
  readonly secret: Redacted.Redacted<string>
  readonly record: ApiKeyRecord
}

export interface NewService {
  readonly name: ServiceName
  readonly org?: { readonly id: OrgId; readonly name: string; readonly tier?: Tier | undefined } | undefined
  readonly userIdPolicy?: UserIdPolicy | undefined
  readonly scopes?: ReadonlyArray<Scope> | undefined
  readonly jwtSecret?: Redacted.Redacted<string> | undefined
  /** Millicredits granted to the service's organization once (idempotent by service name). */
  readonly initialGrant?: number | undefined
}

/** What operators do: services, organizations, users, keys, sessions, grants and own keys. */
export class Provisioning extends Context.Service<Provisioning, {
  readonly saveOrganization: (org: Organization) => Effect.Effect<void>
  readonly createService: (input: NewService) => Effect.Effect<Service, InvalidAmount | IdempotencyConflict>
  readonly saveUser: (user: User) => Effect.Effect<void>
  readonly issueKey: (owner: KeyOwner, options?: {
    readonly scopes?: ReadonlyArray<Scope> | undefined
    readonly expiresAt?: number | undefined
  }) => Effect.Effect<IssuedKey>
  /** Stores a legacy literal key (hashed, like any other); importing it again is a no-op. */
  readonly importKey: (owner: KeyOwner, literal: Redacted.Redacted<string>, options?: {
    readonly scopes?: ReadonlyArray<Scope> | undefined
  }) => Effect.Effect<ApiKeyRecord>
  readonly revokeKey: (id: KeyId) => Effect.Effect<boolean>
  /** Issues a new service key; the service's other active keys expire after `overlapMs`. */
  readonly rotateServiceKey: (service: ServiceName, overlapMs: number) => Effect.Effect<IssuedKey>
  readonly createSession: (user: UserId, ttlMs: number) => Effect.Effect<Redacted.Redacted<string>>
  readonly grant: (account: AccountId, amount: number, reason: string, id: TransferId) => Effect.Effect<
    void,
    InvalidAmount | IdempotencyConflict
  >
  readonly addOwnKey: (account: AccountId, provider: ProviderName, secret: Redacted.Redacted<string>, id?: string) => Effect.Effect<string>
}>()("image-gateway/Provisioning") {
  static readonly layer: Layer.Layer<
    Provisioning,
    never,
    | KeyStore
    | UserRepository
    | OrganizationRepository
    | ServiceRegistry
    | SessionStore
    | ByokStore
    | CreditLedger
    | Digest.Digest
    | SecureRandom.SecureRandom
  > = Layer.effect(
    Provisioning,
    Effect.gen(function*() {
      const keys = yield* KeyStore
      const users = yield* UserRepository
      const orgs = yield* OrganizationRepository
      const services = yield* ServiceRegistry
      const sessions = yield* SessionStore
      const byok = yield* ByokStore
      const ledger = yield* CreditLedger
      const context = yield* Effect.context<Digest.Digest | SecureRandom.SecureRandom>()
      const withCrypto = <A, E>(e: Effect.Effect<A, E, Digest.Digest | SecureRandom.SecureRandom>) =>
        Effect.provideContext(e, context)

      const storeKey = (owner: KeyOwner, secret: string, legacy: boolean, options: {
        readonly scopes?: ReadonlyArray<Scope> | undefined
        readonly expiresAt?: number | undefined
      } = {}) =>
        Effect.gen(function*() {
          const hash = yield* withCrypto(hashSecret(secret))
          return yield* keys.insert({
            id: `key_${hash.slice(0, 16)}` as KeyId,
            prefix: publicPrefix(secret),
            hash,
            owner,
            status: "active",
            createdAt: yield* Clock.currentTimeMillis,
            expiresAt: options.expiresAt,
            scopes: options.scopes,
            legacy
          })
        })

      const issueKey = (owner: KeyOwner, options: {
        readonly scopes?: ReadonlyArray<Scope> | undefined
        readonly expiresAt?: number | undefined
      } = {}) =>
        Effect.gen(function*() {
          const secret = yield* withCrypto(randomSecret(KEY_PREFIX[owner._tag]))
          const record = yield* storeKey(owner, secret, false, options)
          return { secret: Redacted.make(secret), record }
        })

      const grant = (account: AccountId, amount: number, reason: string, id: TransferId) =>
        Effect.asVoid(ledger.grant({ id, account, amount, reason }))

      return Provisioning.of({
        saveOrganization: orgs.save,
        createService: Effect.fn("Provisioning.createService")(function*(input) {
          if (input.org !== undefined) {
            const existing = yield* orgs.find(input.org.id)
            if (Option.isNone(existing)) {
              yield* orgs.save({
                id: input.org.id,
                name: input.org.name,
                tier: input.org.tier ?? SERVICE_ORG_DEFAULT_TIER,
                billsMembers: false
              })
            }
          }
          const service: Service = {
            name: input.name,
            org: input.org?.id,
            userIdPolicy: input.userIdPolicy ?? "optional",
            scopes: input.scopes,
            jwtSecret: input.jwtSecret,
            active: true
          }
          yield* services.save(service)
          if (input.org !== undefined && input.initialGrant !== undefined) {
            yield* grant(accountOfOrg(input.org.id), input.initialGrant, `initial allocation for ${input.name}`, `initial:${input.name}` as TransferId)
          }
          return service
        }),
        saveUser: users.save,
        issueKey,
        importKey: (owner, literal, options) => storeKey(owner, Redacted.value(literal), true, options),
        revokeKey: (id) => Effect.map(keys.setStatus(id, "revoked"), Option.isSome),
        rotateServiceKey: Effect.fn("Provisioning.rotateServiceKey")(function*(service, overlapMs) {
          const now = yield* Clock.currentTimeMillis
          const current = yield* keys.listByOwner({ _tag: "Service", service })
          const issued = yield* issueKey({ _tag: "Service", service })
          for (const key of current) {
            if (key.status === "active" && (key.expiresAt === undefined || key.expiresAt > now + overlapMs)) {
              yield* keys.setExpiry(key.id, now + overlapMs)
              yield* keys.setDeprecated(key.id, now + overlapMs)
            }
          }
          return issued
        }),
        createSession: Effect.fn("Provisioning.createSession")(function*(user, ttlMs) {
          const token = yield* withCrypto(randomSecret("sess_"))
          yield* sessions.save({
            tokenHash: yield* withCrypto(hashSecret(token)),
            user,
            expiresAt: (yield* Clock.currentTimeMillis) + ttlMs
          })
          return Redacted.make(token)
        }),
        grant,
        addOwnKey: Effect.fn("Provisioning.addOwnKey")(function*(account, provider, secret, id) {
          const keyId = id ?? `byok_${(yield* withCrypto(hashSecret(Redacted.value(secret)))).slice(0, 16)}`
          const plain = Redacted.value(secret)
          yield* byok.add({
            id: keyId,
            account,
            provider,
            secret,
            last4: plain.slice(-4),
            enabled: true,
            createdAt: yield* Clock.currentTimeMillis
          })
          return keyId
        })
      })
    })
  )
}
