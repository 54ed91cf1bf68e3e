import { Context, type Effect, type Option } from "effect"
import type { Organization, Service, Session, User } from "../../domain/Entities.ts"
import type { OrgId, ServiceName, UserId } from "../../domain/Ids.ts"

export class UserRepository extends Context.Service<UserRepository, {
  readonly find: (id: UserId) => Effect.Effect<Option.Option<User>>
  readonly save: (user: User) => Effect.Effect<void>
  /** Ordered by id; `after` is the previous page's last id. */
  readonly list: (page: { readonly after?: string | undefined; readonly limit: number }) => Effect.Effect<ReadonlyArray<User>>
}>()("image-gateway/UserRepository") {}

export class OrganizationRepository extends Context.Service<OrganizationRepository, {
  readonly find: (id: OrgId) => Effect.Effect<Option.Option<Organization>>
  readonly save: (org: Organization) => Effect.Effect<void>
  /** Ordered by id; `after` is the previous page's last id. */
  readonly list: (page: { readonly after?: string | undefined; readonly limit: number }) => Effect.Effect<
    ReadonlyArray<Organization>
  >
}>()("image-gateway/OrganizationRepository") {}

export class ServiceRegistry extends Context.Service<ServiceRegistry, {
  readonly find: (name: ServiceName) => Effect.Effect<Option.Option<Service>>
  readonly save: (service: Service) => Effect.Effect<void>
  readonly list: Effect.Effect<ReadonlyArray<Service>>
}>()("image-gateway/ServiceRegistry") {}

export class SessionStore extends Context.Service<SessionStore, {
  readonly find: (tokenHash: string) => Effect.Effect<Option.Option<Session>>
  readonly save: (session: Session) => Effect.Effect<void>
  readonly remove: (tokenHash: string) => Effect.Effect<void>
}>()("image-gateway/SessionStore") {}
