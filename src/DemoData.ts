import { Effect, Redacted } from "effect"
import { ByokStore } from "./application/ports/ByokStore.ts"
import { Provisioning } from "./application/Provisioning.ts"
import { accountOfUser, type OrgId, type ServiceName, type TransferId, type UserId } from "./domain/Ids.ts"
import { credits } from "./domain/Money.ts"
import type { Tier } from "./domain/Tier.ts"

/**
 * The demo data of the embedded default: deterministic, so the documented commands work
 * verbatim. Seeding is idempotent (fixed ids for grants, keys stored by hash).
 */
export const DEMO_SERVICES = ["presenton-service", "bolt-diy-service", "brigade-service", "centerdeep-service"] as const

export const demoOrgOf = (service: string) => `org_${service.replaceAll("-", "_")}` as OrgId
export const demoLegacyKeyOf = (service: string) => `sk-${service}-key-2025`

export const DEMO = {
  presentonJwtSecret: "demo-presenton-jwt-secret",
  alice: { id: "7a6bfd31-0120-4a30-9e21-0fc3b8006579" as UserId, key: "uc_demo_alice", tier: "professional" as Tier, credits: 1000 },
  bob: { id: "2f1c6a53-5d8e-4b7a-9a51-3c9e8f0b1d24" as UserId, key: "uc_demo_bob", tier: "free" as Tier, credits: 0 },
  bobOpenAiKey: "sk-demo-bob-own-openai-key",
  bobOpenRouterKey: "sk-or-demo-bob-own-openrouter-key",
  adminKey: "admin_demo_key",
  serviceCredits: 10_000
} as const

export const seedDemo = Effect.gen(function*() {
  const provisioning = yield* Provisioning
  const byok = yield* ByokStore
  for (const name of DEMO_SERVICES) {
    const service = name as ServiceName
    yield* provisioning.createService({
      name: service,
      org: { id: demoOrgOf(name), name, tier: "managed" as Tier },
      userIdPolicy: "optional",
      jwtSecret: name === "presenton-service" ? Redacted.make(DEMO.presentonJwtSecret) : undefined,
      initialGrant: credits(DEMO.serviceCredits)
    })
    yield* provisioning.importKey({ _tag: "Service", service }, Redacted.make(demoLegacyKeyOf(name)))
  }
  for (const user of [DEMO.alice, DEMO.bob]) {
    yield* provisioning.saveUser({ id: user.id, status: "active", tier: user.tier })
    yield* provisioning.importKey({ _tag: "User", user: user.id }, Redacted.make(user.key))
    if (user.credits > 0) {
      yield* provisioning.grant(accountOfUser(user.id), credits(user.credits), "demo allocation", `demo:${user.id}` as TransferId)
    }
  }
  yield* provisioning.importKey({ _tag: "Admin", admin: "demo" }, Redacted.make(DEMO.adminKey))
  const bobAccount = accountOfUser(DEMO.bob.id)
  const bobKeys = yield* byok.list(bobAccount)
  if (!bobKeys.some((k) => k.provider === "openai")) {
    yield* provisioning.addOwnKey(bobAccount, "openai", Redacted.make(DEMO.bobOpenAiKey), "byok_demo_bob_openai")
  }
  if (!bobKeys.some((k) => k.provider === "openrouter")) {
    yield* provisioning.addOwnKey(bobAccount, "openrouter", Redacted.make(DEMO.bobOpenRouterKey), "byok_demo_bob_openrouter")
  }
})
