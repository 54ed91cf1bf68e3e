import { Effect, Layer, Option, Redacted } from "effect"
import * as SqlClient from "effect/sql/SqlClient"
import { OrganizationRepository, ServiceRegistry, SessionStore, UserRepository } from "../../application/ports/Repositories.ts"
import type {
  Organization,
  Scope,
  Service,
  ServiceRateLimits,
  Session,
  User,
  UserIdPolicy,
  UserStatus
} from "../../domain/Entities.ts"
import type { OrgId, ServiceName, UserId } from "../../domain/Ids.ts"
import type { Tier } from "../../domain/Tier.ts"
import { optional, orDie } from "./PgSql.ts"

const first = <R, A>(rows: ReadonlyArray<R>, f: (row: R) => A): Option.Option<A> =>
  rows.length === 0 ? Option.none() : Option.some(f(rows[0]!))

/**
 * A page ordered by id, after `after`: a walk along the primary key. The order is the database's
 * collation of `id` (code-point order on the embedded server, initialised with the C locale, as
 * the in-memory adapters order); any collation gives consistent pages, since the comparison and
 * the order use the same one.
 */
const pageWhere = (sql: SqlClient.SqlClient, page: { readonly after?: string | undefined; readonly limit: number }) =>
  sql`${page.after === undefined ? sql.literal("") : sql`WHERE id > ${page.after}`}
    ORDER BY id LIMIT ${Math.max(0, page.limit)}`

interface UserRow {
  readonly id: string
  readonly status: UserStatus
  readonly tier: string
  readonly billing_org: string | null
  readonly monthly_cap: number | null
}

const toUser = (r: UserRow): User => ({
  id: r.id as UserId,
  status: r.status,
  tier: r.tier as Tier,
  ...optional("billingOrg", r.billing_org as OrgId | null),
  ...optional("monthlyCap", r.monthly_cap)
})

export const PgUserRepository = Layer.effect(
  UserRepository,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return UserRepository.of({
      find: (id) => orDie(Effect.map(sql<UserRow>`SELECT * FROM users WHERE id = ${id}`, (rows) => first(rows, toUser))),
      save: (u) =>
        orDie(Effect.asVoid(sql`
          INSERT INTO users (id, status, tier, billing_org, monthly_cap)
          VALUES (${u.id}, ${u.status}, ${u.tier}, ${u.billingOrg ?? null}, ${u.monthlyCap ?? null})
          ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, tier = EXCLUDED.tier,
            billing_org = EXCLUDED.billing_org, monthly_cap = EXCLUDED.monthly_cap`)),
      list: (page) =>
        orDie(Effect.map(sql<UserRow>`SELECT * FROM users ${pageWhere(sql, page)}`, (rows) => rows.map(toUser)))
    })
  })
)

interface OrganizationRow {
  readonly id: string
  readonly name: string
  readonly tier: string
  readonly bills_members: boolean
  readonly monthly_cap: number | null
}

const toOrganization = (r: OrganizationRow): Organization => ({
  id: r.id as OrgId,
  name: r.name,
  tier: r.tier as Tier,
  billsMembers: r.bills_members,
  ...optional("monthlyCap", r.monthly_cap)
})

export const PgOrganizationRepository = Layer.effect(
  OrganizationRepository,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return OrganizationRepository.of({
      find: (id) =>
        orDie(Effect.map(sql<OrganizationRow>`SELECT * FROM organizations WHERE id = ${id}`, (rows) =>
          first(rows, toOrganization))),
      save: (o) =>
        orDie(Effect.asVoid(sql`
          INSERT INTO organizations (id, name, tier, bills_members, monthly_cap)
          VALUES (${o.id}, ${o.name}, ${o.tier}, ${o.billsMembers}, ${o.monthlyCap ?? null})
          ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, tier = EXCLUDED.tier,
            bills_members = EXCLUDED.bills_members, monthly_cap = EXCLUDED.monthly_cap`)),
      list: (page) =>
        orDie(Effect.map(sql<OrganizationRow>`SELECT * FROM organizations ${pageWhere(sql, page)}`, (rows) =>
          rows.map(toOrganization)))
    })
  })
)

interface ServiceRow {
  readonly name: string
  readonly org: string | null
  readonly user_id_policy: UserIdPolicy
  readonly scopes: ReadonlyArray<string> | null
  readonly jwt_secret: string | null
  readonly active: boolean
  readonly requests_per_minute: number | null
  readonly per_key_requests_per_minute: number | null
  readonly concurrent_requests: number | null
}

const toRateLimits = (r: ServiceRow): ServiceRateLimits | null =>
  r.requests_per_minute === null && r.per_key_requests_per_minute === null && r.concurrent_requests === null
    ? null
    : {
      ...optional("requestsPerMinute", r.requests_per_minute),
      ...optional("perKeyRequestsPerMinute", r.per_key_requests_per_minute),
      ...optional("concurrent", r.concurrent_requests)
    }

const toService = (r: ServiceRow): Service => ({
  name: r.name as ServiceName,
  userIdPolicy: r.user_id_policy,
  active: r.active,
  ...optional("org", r.org as OrgId | null),
  ...optional("scopes", r.scopes as ReadonlyArray<Scope> | null),
  ...optional("jwtSecret", r.jwt_secret === null ? null : Redacted.make(r.jwt_secret)),
  ...optional("rateLimits", toRateLimits(r))
})

const SERVICE =
  "name, org, user_id_policy, scopes, jwt_secret, active, requests_per_minute, per_key_requests_per_minute, concurrent_requests"

export const PgServiceRegistry = Layer.effect(
  ServiceRegistry,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    const columns = sql.literal(SERVICE)
    return ServiceRegistry.of({
      find: (name) =>
        orDie(Effect.map(sql<ServiceRow>`SELECT ${columns} FROM services WHERE name = ${name}`, (rows) =>
          first(rows, toService))),
      save: (s) =>
        orDie(Effect.asVoid(sql`
          INSERT INTO services (name, org, user_id_policy, scopes, jwt_secret, active,
            requests_per_minute, per_key_requests_per_minute, concurrent_requests)
          VALUES (${s.name}, ${s.org ?? null}, ${s.userIdPolicy}, ${s.scopes === undefined ? null : [...s.scopes]},
            ${s.jwtSecret === undefined ? null : Redacted.value(s.jwtSecret)}, ${s.active},
            ${s.rateLimits?.requestsPerMinute ?? null}, ${s.rateLimits?.perKeyRequestsPerMinute ?? null},
            ${s.rateLimits?.concurrent ?? null})
          ON CONFLICT (name) DO UPDATE SET org = EXCLUDED.org, user_id_policy = EXCLUDED.user_id_policy,
            scopes = EXCLUDED.scopes, jwt_secret = EXCLUDED.jwt_secret, active = EXCLUDED.active,
            requests_per_minute = EXCLUDED.requests_per_minute,
            per_key_requests_per_minute = EXCLUDED.per_key_requests_per_minute,
            concurrent_requests = EXCLUDED.concurrent_requests`)),
      // Registration order, as the in-memory registry lists them.
      list: orDie(Effect.map(sql<ServiceRow>`SELECT ${columns} FROM services ORDER BY seq`, (rows) => rows.map(toService)))
    })
  })
)

interface SessionRow {
  readonly token_hash: string
  readonly user_id: string
  readonly expires_at: number
}

const toSession = (r: SessionRow): Session => ({
  tokenHash: r.token_hash,
  user: r.user_id as UserId,
  expiresAt: r.expires_at
})

export const PgSessionStore = Layer.effect(
  SessionStore,
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    return SessionStore.of({
      find: (tokenHash) =>
        orDie(Effect.map(sql<SessionRow>`SELECT * FROM sessions WHERE token_hash = ${tokenHash}`, (rows) =>
          first(rows, toSession))),
      save: (s) =>
        orDie(Effect.asVoid(sql`
          INSERT INTO sessions (token_hash, user_id, expires_at) VALUES (${s.tokenHash}, ${s.user}, ${s.expiresAt})
          ON CONFLICT (token_hash) DO UPDATE SET user_id = EXCLUDED.user_id, expires_at = EXCLUDED.expires_at`)),
      remove: (tokenHash) => orDie(Effect.asVoid(sql`DELETE FROM sessions WHERE token_hash = ${tokenHash}`))
    })
  })
)
