/**
 * An independent model of who pays and how much (SPEC §3–§5), written without the gateway's
 * code, so that property tests can compare the gateway against it step by step.
 */
import fc from "fast-check"
import { WORLD } from "../../specs/support/Harness.ts"
import { type Outcome, promptFor } from "../../specs/support/ScriptedProvider.ts"

export type CredentialName =
  | "presenton" | "strict" | "closed" | "orphan" | "scoped"
  | "alice" | "bob" | "carol" | "member" | "vip" | "capped" | "suspended"
  | "jwt" | "jwtAlice" | "unknownKey" | "malformed" | "none"

export type HeaderName = "absent" | "alice" | "bob" | "carol" | "member" | "suspended" | "ghost" | "garbage"

export const SERVICE_CREDENTIALS: ReadonlyArray<CredentialName> = ["presenton", "strict", "closed", "orphan", "scoped", "jwt", "jwtAlice"]
export const USER_CREDENTIALS: ReadonlyArray<CredentialName> = ["alice", "bob", "carol", "member", "vip", "capped", "suspended"]

export interface Step {
  readonly credential: CredentialName
  readonly header: HeaderName
  readonly body: {
    readonly prompt: string
    readonly model: string
    readonly n: number
    readonly size: string
    readonly quality: string
    readonly response_format: "b64_json"
  }
  readonly outcome: Outcome
  readonly partial: number
  readonly idempotencyKey: string | undefined
}

interface ModelSpec { readonly sizes: ReadonlyArray<string>; readonly qualities: ReadonlyArray<string>; readonly maxN: number; readonly provider: "openai" | "openrouter" | "local" }
export const MODELS: Record<string, ModelSpec> = {
  "dall-e-3": { sizes: ["1024x1024", "1792x1024", "1024x1792"], qualities: ["standard", "hd"], maxN: 1, provider: "openai" },
  "dall-e-2": { sizes: ["256x256", "1024x1024"], qualities: ["standard"], maxN: 10, provider: "openai" },
  "gpt-image-1": { sizes: ["1024x1024", "1536x1024"], qualities: ["low", "high"], maxN: 10, provider: "openai" },
  "google/gemini-2.5-flash-image": { sizes: ["1024x1024"], qualities: ["auto"], maxN: 4, provider: "openrouter" },
  local: { sizes: ["256x256"], qualities: ["standard"], maxN: 10, provider: "local" }
}

/** Base prices in millicredits, restated from SPEC §4. */
export const basePrice = (model: string, quality: string, size: string): number => {
  switch (model) {
    case "dall-e-3":
      return (quality === "hd" ? (size === "1024x1024" ? 80 : 120) : (size === "1024x1024" ? 40 : 80)) * 1000
    case "dall-e-2":
      return (size === "1024x1024" ? 18 : 16) * 1000
    case "gpt-image-1":
      return (size === "1024x1024" ? (quality === "low" ? 11 : 167) : (quality === "low" ? 16 : 250)) * 1000
    case "google/gemini-2.5-flash-image":
      return 39_000
    default:
      return 1000
  }
}

const MULTIPLIER: Record<string, number> = { free: 15000, managed: 12000, vip_founder: 10000 }
/** The property world makes vip_founder credit-exempt, to exercise invariant 5. */
export const EXEMPT_TIERS = ["vip_founder"]
const multiplier = (tier: string) => MULTIPLIER[tier] ?? 12000
export const price = (base: number, n: number, tier: string) => Math.ceil((base * n * multiplier(tier)) / 10000)

interface Person { readonly id: string; readonly tier: string; readonly payer: string; readonly payerTier: string; readonly cap?: number }
const PEOPLE: Record<string, Person> = {
  alice: { id: WORLD.alice.id, tier: "professional", payer: WORLD.alice.id, payerTier: "professional" },
  bob: { id: WORLD.bob.id, tier: "free", payer: WORLD.bob.id, payerTier: "free" },
  carol: { id: WORLD.carol.id, tier: "starter", payer: WORLD.carol.id, payerTier: "starter" },
  member: { id: WORLD.member.id, tier: "starter", payer: "org_acme", payerTier: "enterprise" },
  vip: { id: WORLD.vip.id, tier: "vip_founder", payer: WORLD.vip.id, payerTier: "vip_founder" },
  capped: { id: WORLD.capped.id, tier: "professional", payer: WORLD.capped.id, payerTier: "professional", cap: 100_000 },
  suspended: { id: WORLD.suspended.id, tier: "free", payer: WORLD.suspended.id, payerTier: "free" }
}
/** The X-User-ID value each header name stands for. */
export const HEADER_USER: Record<HeaderName, string | undefined> = {
  absent: undefined,
  alice: WORLD.alice.id,
  bob: WORLD.bob.id,
  carol: WORLD.carol.id,
  member: WORLD.member.id,
  suspended: WORLD.suspended.id,
  ghost: WORLD.ghost,
  garbage: "presenton-service"
}
const personById = (id: string) => Object.entries(PEOPLE).find(([, p]) => p.id === id)

const SERVICES: Record<string, { name: string; org?: string; policy: "optional" | "required" | "forbidden"; canGenerate: boolean; claim?: string }> = {
  presenton: { name: "presenton-service", org: "org_presenton_service", policy: "optional", canGenerate: true },
  jwt: { name: "presenton-service", org: "org_presenton_service", policy: "optional", canGenerate: true },
  jwtAlice: { name: "presenton-service", org: "org_presenton_service", policy: "optional", canGenerate: true, claim: WORLD.alice.id },
  strict: { name: "strict-service", org: "org_strict_service", policy: "required", canGenerate: true },
  closed: { name: "closed-service", org: "org_closed_service", policy: "forbidden", canGenerate: true },
  orphan: { name: "orphan-service", policy: "optional", canGenerate: true },
  scoped: { name: "scoped-service", org: "org_scoped_service", policy: "optional", canGenerate: false }
}

/** The account a user credential's requests are billed to. */
export const ownPayer = (credential: CredentialName): string | undefined => PEOPLE[credential]?.payer

export type Resolution =
  | { readonly ok: false; readonly error: string }
  | { readonly ok: true; readonly actor: string; readonly actorIsService: boolean; readonly payer: string; readonly tier: string; readonly cap?: number | undefined; readonly onBehalfOf?: string | undefined }

/** The decision table, restated. */
export const resolveModel = (credential: CredentialName, header: HeaderName): Resolution => {
  if (credential === "none") return { ok: false, error: "MissingCredentials" }
  if (credential === "malformed") return { ok: false, error: "MalformedAuthorization" }
  if (credential === "unknownKey") return { ok: false, error: "InvalidApiKey" }
  const headerUser = HEADER_USER[header]
  const service = SERVICES[credential]
  if (service !== undefined) {
    if (!service.canGenerate) return { ok: false, error: "ScopeDenied" }
    if (header === "garbage") return { ok: false, error: "InvalidUserId" }
    if (headerUser !== undefined && service.claim !== undefined && headerUser !== service.claim) {
      return { ok: false, error: "ConflictingUserContext" }
    }
    const user = headerUser ?? service.claim
    if (user !== undefined) {
      if (service.policy === "forbidden") return { ok: false, error: "UserContextForbidden" }
      const person = personById(user)
      if (person === undefined) return { ok: false, error: "UnknownUser" }
      if (person[0] === "suspended") return { ok: false, error: "AccountSuspended" }
      const p = person[1]
      return { ok: true, actor: service.name, actorIsService: true, payer: p.payer, tier: p.payerTier, cap: p.cap, onBehalfOf: p.id }
    }
    if (service.policy === "required") return { ok: false, error: "MissingUserContext" }
    if (service.org === undefined) return { ok: false, error: "ServiceOrgNotConfigured" }
    return { ok: true, actor: service.name, actorIsService: true, payer: service.org, tier: "managed" }
  }
  const person = PEOPLE[credential]!
  if (credential === "suspended") return { ok: false, error: "AccountSuspended" }
  if (headerUser !== undefined && headerUser !== person.id) return { ok: false, error: "UserContextForbidden" }
  if (header === "garbage") return { ok: false, error: "UserContextForbidden" }
  return { ok: true, actor: person.id, actorIsService: false, payer: person.payer, tier: person.payerTier, cap: person.cap }
}

/** Initial posted balances of the fixture world (millicredits). */
export const initialBalances = (): Map<string, number> =>
  new Map([
    ["org_presenton_service", 10_000_000],
    ["org_bolt_diy_service", 10_000_000],
    ["org_brigade_service", 10_000_000],
    ["org_centerdeep_service", 10_000_000],
    ["org_strict_service", 1_000_000],
    ["org_closed_service", 1_000_000],
    ["org_scoped_service", 1_000_000],
    [WORLD.alice.id, 1_000_000],
    [WORLD.carol.id, 500_000],
    ["org_acme", 2_000_000],
    [WORLD.capped.id, 1_000_000]
  ])

export interface Expectation {
  readonly error?: string
  readonly charge: number
  readonly payer?: string
  readonly mode?: "billed" | "byok" | "exempt"
  readonly replay: boolean
}

/** The model's state between steps: balances, monthly spend, and idempotency records. */
export class GatewayModel {
  readonly balances = initialBalances()
  readonly spent = new Map<string, number>()
  readonly idempotency = new Map<string, { fingerprint: string; charge: number }>()

  available(account: string) {
    return this.balances.get(account) ?? 0
  }

  /** Predicts a step's outcome and applies it to the model. */
  step(step: Step): Expectation {
    const who = resolveModel(step.credential, step.header)
    if (!who.ok) return { error: who.error, charge: 0, replay: false }
    const spec = MODELS[step.body.model]!
    if (step.body.n < 1 || step.body.n > spec.maxN) return { error: "InvalidRequest", charge: 0, replay: false }
    const byok = who.payer === WORLD.bob.id && spec.provider !== "local"
    const exempt = !byok && EXEMPT_TIERS.includes(who.tier)
    const mode = byok ? "byok" : exempt ? "exempt" : "billed"
    const fingerprint = JSON.stringify([who.actor, { ...step.body, prompt: promptOf(step) }])
    const slot = step.idempotencyKey === undefined ? undefined : `${who.payer}|${step.idempotencyKey}`
    if (slot !== undefined) {
      const seen = this.idempotency.get(slot)
      if (seen !== undefined) {
        if (seen.fingerprint !== fingerprint) return { error: "IdempotencyConflict", charge: 0, replay: false }
        return { charge: 0, payer: who.payer, mode, replay: true }
      }
    }
    const base = basePrice(step.body.model, step.body.quality, step.body.size)
    const hold = price(base, step.body.n, who.tier)
    if (mode === "billed") {
      if (this.available(who.payer) < hold) return { error: "InsufficientCredits", charge: 0, replay: false }
      if (who.cap !== undefined && (this.spent.get(who.payer) ?? 0) + hold > who.cap) {
        return { error: "MonthlyCapExceeded", charge: 0, replay: false }
      }
    }
    if (step.outcome !== "ok" && step.outcome !== "partial") return { error: "Provider", charge: 0, replay: false }
    const images = step.outcome === "partial" ? Math.min(step.partial, step.body.n) : step.body.n
    const charge = mode === "billed" && images > 0 ? price(base, images, who.tier) : 0
    this.balances.set(who.payer, this.available(who.payer) - charge)
    this.spent.set(who.payer, (this.spent.get(who.payer) ?? 0) + charge)
    if (slot !== undefined) this.idempotency.set(slot, { fingerprint, charge })
    return { charge, payer: who.payer, mode, replay: false }
  }
}

const body = fc.constantFrom(...Object.keys(MODELS)).chain((model) => {
  const spec = MODELS[model]!
  return fc.record({
    prompt: fc.constantFrom("a red fox", "a lighthouse at dusk"),
    model: fc.constant(model),
    // Now and then one more than the model allows, which must be refused as invalid.
    n: fc.integer({ min: 1, max: Math.min(spec.maxN + 1, 4) }),
    size: fc.constantFrom(...spec.sizes),
    quality: fc.constantFrom(...spec.qualities),
    response_format: fc.constant("b64_json" as const)
  })
})

export const stepArb = (options: {
  readonly credentials?: ReadonlyArray<CredentialName>
  readonly headers?: ReadonlyArray<HeaderName>
} = {}): fc.Arbitrary<Step> =>
  fc.record({
    credential: fc.constantFrom(...(options.credentials ?? [...SERVICE_CREDENTIALS, ...USER_CREDENTIALS, "unknownKey", "malformed", "none"] as const)),
    header: fc.constantFrom(...(options.headers ?? ["absent", "absent", "absent", "alice", "bob", "carol", "member", "suspended", "ghost", "garbage"] as const)),
    body,
    outcome: fc.constantFrom<Outcome>("ok", "ok", "ok", "partial", "unavailable", "timeout", "rate_limited", "malformed", "rejected"),
    partial: fc.integer({ min: 0, max: 2 }),
    idempotencyKey: fc.option(fc.constantFrom("k1", "k2"), { nil: undefined })
  })

/** The prompt carries the scripted provider outcome. */
export const promptOf = (step: Step) =>
  step.outcome === "partial" ? promptFor("partial", step.body.prompt, step.partial) : promptFor(step.outcome, step.body.prompt)
