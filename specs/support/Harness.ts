import { Effect, Layer, Redacted } from "effect"
import { SignJWT } from "jose"
import { Core, makeCore } from "../../src/application/Core.ts"
import { NodePlatform } from "../../src/adapters/node/NodePlatform.ts"
import { GatewayPolicy, type GatewayPolicyShape } from "../../src/application/GatewayPolicy.ts"
import { Provisioning } from "../../src/application/Provisioning.ts"
import type { ImageProvider } from "../../src/application/ports/ImageProvider.ts"
import { DEMO, demoOrgOf, seedDemo } from "../../src/DemoData.ts"
import { accountOfOrg, accountOfUser, type OrgId, type ServiceName, type TransferId, type UserId } from "../../src/domain/Ids.ts"
import { credits } from "../../src/domain/Money.ts"
import type { Tier } from "../../src/domain/Tier.ts"
import type { AdapterSet } from "./AdapterSet.ts"
import { makeScriptedProvider } from "./ScriptedProvider.ts"

/** The core as the server runs it (node:crypto's synchronous SHA-256, pooled random bytes). */
const NodeCore = makeCore(NodePlatform)

/** The whole core on one adapter set, with a scripted provider. A new, empty world each call. */
export const makeGateway = (adapters: AdapterSet, options: {
  readonly policy?: Partial<GatewayPolicyShape>
  readonly tinyImages?: boolean
  /** Replaces the scripted provider (e.g. one whose answers a scheduler orders). */
  readonly provider?: Layer.Layer<ImageProvider>
  /** The core on portable crypto (WebCrypto) instead of the server's (node:crypto). */
  readonly portable?: boolean
} = {}) => {
  const provider = makeScriptedProvider({ tiny: options.tinyImages ?? false })
  const layer = (options.portable === true ? Core : NodeCore).pipe(
    Layer.provideMerge(Layer.mergeAll(adapters.fresh(), GatewayPolicy.layer(options.policy), options.provider ?? provider.layer))
  )
  return { layer, calls: provider.calls }
}

/** Ids of the fixture world beyond the demo data: one of each row of the decision table. */
export const WORLD = {
  ...DEMO,
  presenton: "presenton-service" as ServiceName,
  presentonOrg: demoOrgOf("presenton-service"),
  presentonKey: "sk-presenton-service-key-2025",
  boltKey: "sk-bolt-diy-service-key-2025",
  strict: { name: "strict-service" as ServiceName, org: "org_strict_service" as OrgId, key: "sk-strict-fixture-key-0001" },
  closed: { name: "closed-service" as ServiceName, org: "org_closed_service" as OrgId, key: "sk-closed-fixture-key-0001" },
  orphan: { name: "orphan-service" as ServiceName, key: "sk-orphan-fixture-key-0001" },
  scoped: { name: "scoped-service" as ServiceName, org: "org_scoped_service" as OrgId, key: "sk-scoped-fixture-key-0001" },
  carol: { id: "5d0f3c1e-8b2a-4c47-9f0e-6a1b2c3d4e5f" as UserId, key: "uc_fixture_carol", tier: "starter" as Tier },
  suspended: { id: "0b7e8f90-1c2d-4e3f-8a9b-0c1d2e3f4a5b" as UserId, key: "uc_fixture_suspended" },
  member: { id: "9c8b7a65-4321-4fed-8cba-987654321012" as UserId, key: "uc_fixture_member" },
  acme: { id: "org_acme" as OrgId },
  vip: { id: "3e4f5a6b-7c8d-4e9f-a0b1-c2d3e4f5a6b7" as UserId, key: "uc_fixture_vip" },
  capped: { id: "4a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d" as UserId, key: "uc_fixture_capped" },
  ghost: "11111111-2222-4333-8444-555555555555" as UserId
} as const

export const accounts = {
  presentonOrg: accountOfOrg(WORLD.presentonOrg),
  alice: accountOfUser(WORLD.alice.id),
  bob: accountOfUser(WORLD.bob.id),
  carol: accountOfUser(WORLD.carol.id),
  member: accountOfUser(WORLD.member.id),
  acme: accountOfOrg(WORLD.acme.id),
  vip: accountOfUser(WORLD.vip.id),
  capped: accountOfUser(WORLD.capped.id),
  strictOrg: accountOfOrg(WORLD.strict.org),
  closedOrg: accountOfOrg(WORLD.closed.org)
}

/** Demo data plus fixtures: a `required` and a `forbidden` service, a service without an org, … */
export const seedWorld = Effect.gen(function*() {
  yield* seedDemo
  const p = yield* Provisioning
  const importService = (name: ServiceName, key: string) => p.importKey({ _tag: "Service", service: name }, Redacted.make(key))
  const importUser = (user: UserId, key: string) => p.importKey({ _tag: "User", user }, Redacted.make(key))

  yield* p.createService({ name: WORLD.strict.name, org: { id: WORLD.strict.org, name: "strict" }, userIdPolicy: "required", initialGrant: credits(1000) })
  yield* importService(WORLD.strict.name, WORLD.strict.key)
  yield* p.createService({ name: WORLD.closed.name, org: { id: WORLD.closed.org, name: "closed" }, userIdPolicy: "forbidden", initialGrant: credits(1000) })
  yield* importService(WORLD.closed.name, WORLD.closed.key)
  yield* p.createService({ name: WORLD.orphan.name, userIdPolicy: "optional" })
  yield* importService(WORLD.orphan.name, WORLD.orphan.key)
  yield* p.createService({ name: WORLD.scoped.name, org: { id: WORLD.scoped.org, name: "scoped" }, scopes: ["credits:read"], initialGrant: credits(1000) })
  yield* importService(WORLD.scoped.name, WORLD.scoped.key)

  yield* p.saveUser({ id: WORLD.carol.id, status: "active", tier: WORLD.carol.tier })
  yield* importUser(WORLD.carol.id, WORLD.carol.key)
  yield* p.grant(accounts.carol, credits(500), "fixture", "fixture:carol" as TransferId)
  yield* p.saveUser({ id: WORLD.suspended.id, status: "suspended", tier: "free" as Tier })
  yield* importUser(WORLD.suspended.id, WORLD.suspended.key)
  yield* p.saveOrganization({ id: WORLD.acme.id, name: "Acme", tier: "enterprise" as Tier, billsMembers: true })
  yield* p.grant(accounts.acme, credits(2000), "fixture", "fixture:acme" as TransferId)
  yield* p.saveUser({ id: WORLD.member.id, status: "active", tier: "starter" as Tier, billingOrg: WORLD.acme.id })
  yield* importUser(WORLD.member.id, WORLD.member.key)
  yield* p.saveUser({ id: WORLD.vip.id, status: "active", tier: "vip_founder" as Tier })
  yield* importUser(WORLD.vip.id, WORLD.vip.key)
  yield* p.saveUser({ id: WORLD.capped.id, status: "active", tier: "professional" as Tier, monthlyCap: credits(100) })
  yield* importUser(WORLD.capped.id, WORLD.capped.key)
  yield* p.grant(accounts.capped, credits(1000), "fixture", "fixture:capped" as TransferId)
})

/** A service JWT signed like a real caller would (HS256 with the service's secret). */
export const serviceJwt = (claims: Record<string, unknown>, options: {
  readonly secret?: string
  readonly alg?: string
  readonly iat?: number
  readonly exp?: number | null
} = {}) =>
  Effect.promise(() => {
    const now = Math.floor(Date.now() / 1000)
    const jwt = new SignJWT({ service: "presenton-service", ...claims })
      .setProtectedHeader({ alg: options.alg ?? "HS256" })
      .setIssuedAt(options.iat ?? now)
    if (options.exp !== null) jwt.setExpirationTime(options.exp ?? now + 600)
    return jwt.sign(new TextEncoder().encode(options.secret ?? DEMO.presentonJwtSecret))
  })

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

/** Runs an effect in a fresh, seeded world of this adapter set. */
export const inWorld = (adapters: AdapterSet, options: Parameters<typeof makeGateway>[1] = {}) =>
  <A, E>(effect: Effect.Effect<A, E, Layer.Success<ReturnType<typeof makeGateway>["layer"]>>) => {
    const gateway = makeGateway(adapters, options)
    return Effect.runPromise(
      Effect.gen(function*() {
        yield* seedWorld
        return yield* effect
      }).pipe(Effect.provide(gateway.layer), Effect.scoped)
    )
  }
