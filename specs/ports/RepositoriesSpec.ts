import { describe, expect } from "@effect/vitest"
import { Effect, Option, Redacted } from "effect"
import {
  OrganizationRepository,
  ServiceRegistry,
  SessionStore,
  UserRepository
} from "../../src/application/ports/Repositories.ts"
import type { Organization, Service, Session, User } from "../../src/domain/Entities.ts"
import type { OrgId, ServiceName, UserId } from "../../src/domain/Ids.ts"
import type { Tier } from "../../src/domain/Tier.ts"
import { type PortAdapter, portTest } from "./PortAdapter.ts"

/** Epoch ms in 2100: beyond 32 bits, and still ahead of any clock an adapter might read (TestClock or real). */
const T0 = 4_102_444_800_000
const aliceId = "7a6bfd31-0120-4a30-9e21-0fc3b8006579" as UserId
const bobId = "2f1c6a53-5d8e-4b7a-9a51-3c9e8f0b1d24" as UserId
const acmeId = "org_acme" as OrgId
const tier = (t: string) => t as Tier

/** The four directory ports of Repositories.ts: find by id (none when absent), save as an upsert. */
export const repositoriesSuite = (
  adapter: PortAdapter<UserRepository | OrganizationRepository | ServiceRegistry | SessionStore>
) => {
  describe(`UserRepository [${adapter.name}]`, () => {
    const test = portTest(UserRepository, adapter)

    const alice: User = { id: aliceId, status: "active", tier: tier("professional") }
    const member: User = {
      id: bobId,
      status: "suspended",
      tier: tier("vip_founder"),
      billingOrg: acmeId,
      // Beyond 32 bits: caps are millicredits.
      monthlyCap: 9_000_000_000
    }

    test("finds no user it never saved", (users) =>
      Effect.gen(function*() {
        expect(yield* users.find(aliceId)).toEqual(Option.none())
      }))

    test("finds a saved user with every field as saved, optional ones absent when unset", (users) =>
      Effect.gen(function*() {
        yield* users.save(alice)
        yield* users.save(member)
        expect(yield* users.find(aliceId)).toStrictEqual(Option.some(alice))
        expect(yield* users.find(bobId)).toStrictEqual(Option.some(member))
      }))

    test("replaces a user on a second save, clearing the fields left unset", (users) =>
      Effect.gen(function*() {
        yield* users.save(member)
        const reinstated: User = { id: bobId, status: "active", tier: tier("free") }
        yield* users.save(reinstated)
        expect(yield* users.find(bobId)).toEqual(Option.some(reinstated))
        expect(Option.map(yield* users.find(bobId), (u) => [u.billingOrg, u.monthlyCap])).toEqual(
          Option.some([undefined, undefined])
        )
        yield* users.save({ ...reinstated, status: "suspended" })
        expect(Option.map(yield* users.find(bobId), (u) => u.status)).toEqual(Option.some("suspended"))
        expect(yield* users.find(aliceId)).toEqual(Option.none())
      }))

    test("lists users by id a page at a time, each page starting after the previous page's last id", (users) =>
      Effect.gen(function*() {
        expect(yield* users.list({ limit: 10 })).toEqual([])
        // Saved out of order; ids that differ in their leading hex digit order alike in any collation.
        const ids = ["c0000000", "10000000", "a0000000", "50000000", "e0000000"].map((p) =>
          `${p}-0000-4000-8000-000000000000` as UserId
        )
        for (const id of ids) yield* users.save({ id, status: "active", tier: tier("free") })
        yield* users.save({ ...member, id: ids[2]! })
        const sorted = [...ids].sort()

        const first = yield* users.list({ limit: 2 })
        expect(first.map((u) => u.id)).toEqual(sorted.slice(0, 2))
        const second = yield* users.list({ after: first[1]!.id, limit: 2 })
        expect(second.map((u) => u.id)).toEqual(sorted.slice(2, 4))
        // Each user once, as last saved.
        expect(second[0]).toStrictEqual({ ...member, id: ids[2]! })
        const last = yield* users.list({ after: second[1]!.id, limit: 2 })
        expect(last.map((u) => u.id)).toEqual(sorted.slice(4))
        expect(yield* users.list({ after: last[0]!.id, limit: 2 })).toEqual([])

        expect((yield* users.list({ limit: 100 })).map((u) => u.id)).toEqual(sorted)
        expect((yield* users.list({ after: undefined, limit: 1 })).map((u) => u.id)).toEqual(sorted.slice(0, 1))
        // A cursor that is no stored id still cuts at its place in the order.
        expect((yield* users.list({ after: "60000000", limit: 10 })).map((u) => u.id)).toEqual(sorted.slice(2))
        expect(yield* users.list({ limit: 0 })).toEqual([])
      }))
  })

  describe(`OrganizationRepository [${adapter.name}]`, () => {
    const test = portTest(OrganizationRepository, adapter)

    const acme: Organization = { id: acmeId, name: "Acme Corp", tier: tier("enterprise"), billsMembers: true, monthlyCap: 5_000_000_000 }
    const presenton: Organization = {
      id: "org_presenton_service" as OrgId,
      name: "presenton-service",
      tier: tier("managed"),
      billsMembers: false
    }

    test("finds no organization it never saved", (orgs) =>
      Effect.gen(function*() {
        expect(yield* orgs.find(acmeId)).toEqual(Option.none())
      }))

    test("lists organizations by id a page at a time, each page starting after the previous page's last id", (orgs) =>
      Effect.gen(function*() {
        expect(yield* orgs.list({ limit: 10 })).toEqual([])
        const names = ["presenton", "acme", "zeta", "bolt", "centerdeep"]
        for (const name of names) {
          yield* orgs.save({ id: `org_${name}` as OrgId, name, tier: tier("managed"), billsMembers: false })
        }
        yield* orgs.save(acme)
        const sorted = names.map((n) => `org_${n}`).sort()

        const first = yield* orgs.list({ limit: 3 })
        expect(first.map((o) => o.id)).toEqual(sorted.slice(0, 3))
        expect(first[0]).toStrictEqual(acme)
        const rest = yield* orgs.list({ after: first[2]!.id, limit: 3 })
        expect(rest.map((o) => o.id)).toEqual(sorted.slice(3))
        expect(yield* orgs.list({ after: rest[1]!.id, limit: 3 })).toEqual([])
        expect(yield* orgs.list({ limit: 0 })).toEqual([])
      }))

    test("finds a saved organization with every field as saved, optional ones absent when unset", (orgs) =>
      Effect.gen(function*() {
        yield* orgs.save(acme)
        yield* orgs.save(presenton)
        expect(yield* orgs.find(acmeId)).toStrictEqual(Option.some(acme))
        expect(yield* orgs.find(presenton.id)).toStrictEqual(Option.some(presenton))
      }))

    test("replaces an organization on a second save, clearing the fields left unset", (orgs) =>
      Effect.gen(function*() {
        yield* orgs.save(acme)
        const renamed: Organization = { id: acmeId, name: "Acme Holdings", tier: tier("starter"), billsMembers: false }
        yield* orgs.save(renamed)
        expect(yield* orgs.find(acmeId)).toEqual(Option.some(renamed))
        expect(Option.map(yield* orgs.find(acmeId), (o) => o.monthlyCap)).toEqual(Option.some(undefined))
      }))
  })

  describe(`ServiceRegistry [${adapter.name}]`, () => {
    const test = portTest(ServiceRegistry, adapter)

    const presenton: Service = {
      name: "presenton-service" as ServiceName,
      org: "org_presenton_service" as OrgId,
      userIdPolicy: "optional",
      scopes: ["images:generate", "credits:read"],
      jwtSecret: Redacted.make("demo-presenton-jwt-secret"),
      active: true
    }
    const orphan: Service = { name: "orphan-service" as ServiceName, userIdPolicy: "required", active: false }
    const closed: Service = { name: "closed-service" as ServiceName, userIdPolicy: "forbidden", scopes: [], active: true }

    /** A service with its JWT secret opened: Redacted values never compare equal to each other. */
    const opened = (s: Service) => ({ ...s, jwtSecret: s.jwtSecret === undefined ? undefined : Redacted.value(s.jwtSecret) })
    const openedFound = (found: Option.Option<Service>) => Option.map(found, opened)

    test("finds no service it never registered, and lists none", (services) =>
      Effect.gen(function*() {
        expect(yield* services.find(presenton.name)).toEqual(Option.none())
        expect(yield* services.list).toEqual([])
      }))

    test("finds a registered service with every field as saved, its JWT secret still redacted", (services) =>
      Effect.gen(function*() {
        yield* services.save(presenton)
        yield* services.save(orphan)
        const found = Option.getOrThrow(yield* services.find(presenton.name))
        expect(Redacted.isRedacted(found.jwtSecret)).toBe(true)
        expect(String(found.jwtSecret)).not.toContain("demo-presenton")
        expect(opened(found)).toEqual(opened(presenton))
        expect(yield* services.find(orphan.name)).toStrictEqual(Option.some(orphan))
      }))

    test("keeps an empty scope list (no scope) apart from none (every scope)", (services) =>
      Effect.gen(function*() {
        yield* services.save(closed)
        yield* services.save(orphan)
        expect(Option.map(yield* services.find(closed.name), (s) => s.scopes)).toEqual(Option.some([]))
        expect(Option.getOrThrow(yield* services.find(orphan.name)).scopes).toBeUndefined()
      }))

    test("replaces a service on a second save: policy, org, scopes, secret and active flag", (services) =>
      Effect.gen(function*() {
        yield* services.save(presenton)
        const changed: Service = {
          name: presenton.name,
          userIdPolicy: "forbidden",
          scopes: ["models:read"],
          jwtSecret: Redacted.make("rotated-jwt-secret"),
          active: false
        }
        yield* services.save(changed)
        expect(openedFound(yield* services.find(presenton.name))).toEqual(Option.some(opened(changed)))
        expect(Option.map(yield* services.find(presenton.name), (s) => s.org)).toEqual(Option.some(undefined))
        yield* services.save({ ...changed, jwtSecret: undefined, active: true })
        expect(Option.map(yield* services.find(presenton.name), (s) => [s.jwtSecret, s.active])).toEqual(
          Option.some([undefined, true])
        )
      }))

    test("keeps a service's rate limits as saved, each absent one unlimited, and removes them all on a save without", (services) =>
      Effect.gen(function*() {
        const limited: Service = { ...orphan, rateLimits: { requestsPerMinute: 600, concurrent: 4 } }
        yield* services.save(limited)
        expect(Option.getOrThrow(yield* services.find(orphan.name)).rateLimits).toEqual({ requestsPerMinute: 600, concurrent: 4 })
        const perKey: Service = { ...orphan, rateLimits: { perKeyRequestsPerMinute: 1_000_000 } }
        yield* services.save(perKey)
        expect((yield* services.list).map((s) => s.rateLimits)).toEqual([{ perKeyRequestsPerMinute: 1_000_000 }])
        yield* services.save(orphan)
        expect(Option.getOrThrow(yield* services.find(orphan.name)).rateLimits).toBeUndefined()
      }))

    test("lists every service in registration order, a re-saved one keeping its place", (services) =>
      Effect.gen(function*() {
        yield* services.save(presenton)
        yield* services.save(orphan)
        yield* services.save(closed)
        yield* services.save({ ...presenton, active: false })
        const listed = yield* services.list
        expect(listed.map((s) => [s.name, s.active])).toEqual([
          ["presenton-service", false],
          ["orphan-service", false],
          ["closed-service", true]
        ])
        expect(opened(listed[0]!)).toEqual(opened({ ...presenton, active: false }))
      }))
  })

  describe(`SessionStore [${adapter.name}]`, () => {
    const test = portTest(SessionStore, adapter)

    const hashA = "a".repeat(64)
    const hashB = "b".repeat(64)
    const session: Session = { tokenHash: hashA, user: aliceId, expiresAt: T0 + 86_400_000 }

    test("finds no session under a token hash it never saved", (sessions) =>
      Effect.gen(function*() {
        expect(yield* sessions.find(hashA)).toEqual(Option.none())
      }))

    test("finds a saved session by its token hash, user and expiry as saved", (sessions) =>
      Effect.gen(function*() {
        yield* sessions.save(session)
        yield* sessions.save({ tokenHash: hashB, user: bobId, expiresAt: T0 + 1 })
        expect(yield* sessions.find(hashA)).toStrictEqual(Option.some(session))
        expect(yield* sessions.find(hashB)).toStrictEqual(Option.some({ tokenHash: hashB, user: bobId, expiresAt: T0 + 1 }))
      }))

    test("replaces a session saved again under the same token hash", (sessions) =>
      Effect.gen(function*() {
        yield* sessions.save(session)
        yield* sessions.save({ tokenHash: hashA, user: bobId, expiresAt: T0 + 5 })
        expect(yield* sessions.find(hashA)).toStrictEqual(Option.some({ tokenHash: hashA, user: bobId, expiresAt: T0 + 5 }))
      }))

    test("forgets a removed session and only that one; removing an unknown one is harmless", (sessions) =>
      Effect.gen(function*() {
        yield* sessions.save(session)
        yield* sessions.save({ tokenHash: hashB, user: bobId, expiresAt: T0 + 1 })
        yield* sessions.remove(hashA)
        expect(yield* sessions.find(hashA)).toEqual(Option.none())
        expect(Option.map(yield* sessions.find(hashB), (s) => s.user)).toEqual(Option.some(bobId))
        yield* sessions.remove(hashA)
        yield* sessions.remove("c".repeat(64))
        expect(Option.isSome(yield* sessions.find(hashB))).toBe(true)
      }))
  })
}
