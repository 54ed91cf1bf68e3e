import { Effect, Layer, ManagedRuntime } from "effect"
import { CreditLedger } from "../../src/application/CreditLedger.ts"
import { ImageGeneration } from "../../src/application/ImageGeneration.ts"
import { GatewayPolicy } from "../../src/application/GatewayPolicy.ts"
import { PrincipalResolver } from "../../src/application/PrincipalResolver.ts"
import { type Credentials, generateAs } from "../../specs/support/Calls.ts"
import { LedgerStore } from "../../src/application/ports/LedgerStore.ts"
import type { Balance, Transfer } from "../../src/domain/Ledger.ts"
import type { AdapterSet } from "../../specs/support/AdapterSet.ts"
import { makeGateway, seedWorld, serviceJwt, WORLD } from "../../specs/support/Harness.ts"
import { type CredentialName, EXEMPT_TIERS, HEADER_USER, promptOf, type Step } from "./GatewayModel.ts"
import { defaultTierPolicy } from "../../src/domain/Tier.ts"

export const jwts = await Effect.runPromise(Effect.all({
  jwt: serviceJwt({}, { exp: Math.floor(Date.now() / 1000) + 3000 }),
  jwtAlice: serviceJwt({ user_id: WORLD.alice.id }, { exp: Math.floor(Date.now() / 1000) + 3000 })
}))

const KEYS: Partial<Record<CredentialName, string>> = {
  presenton: WORLD.presentonKey,
  strict: WORLD.strict.key,
  closed: WORLD.closed.key,
  orphan: WORLD.orphan.key,
  scoped: WORLD.scoped.key,
  alice: WORLD.alice.key,
  bob: WORLD.bob.key,
  carol: WORLD.carol.key,
  member: WORLD.member.key,
  vip: WORLD.vip.key,
  capped: WORLD.capped.key,
  suspended: WORLD.suspended.key,
  jwt: jwts.jwt,
  jwtAlice: jwts.jwtAlice,
  unknownKey: "sk-not-a-registered-key-0000"
}

export const credentialsOf = (step: Step): Credentials => {
  const key = KEYS[step.credential]
  const authorization = step.credential === "malformed" ? "Basic abc" : key === undefined ? undefined : `Bearer ${key}`
  return { authorization, userId: HEADER_USER[step.header] }
}

export interface Snapshot {
  readonly balances: ReadonlyMap<string, Balance>
  readonly journal: number
}

export interface Observation {
  readonly step: Step
  readonly result: { readonly ok: true; readonly value: Effect.Success<ReturnType<typeof generateAs>> } | { readonly ok: false; readonly error: string }
  readonly before: Snapshot
  readonly after: Snapshot
  readonly newTransfers: ReadonlyArray<Transfer>
}

const snapshot = Effect.gen(function*() {
  const store = yield* LedgerStore
  const balances = new Map((yield* store.balances).map((b) => [b.account as string, b]))
  const journal = (yield* store.transfers({})).length
  return { balances, journal } satisfies Snapshot
})

/** A fresh seeded gateway on the adapter set, as a runtime the property can drive. */
export const makeWorld = async (adapters: AdapterSet) => {
  const gateway = makeGateway(adapters, {
    tinyImages: true,
    policy: { tiers: { ...defaultTierPolicy, creditExempt: EXEMPT_TIERS } }
  })
  const runtime = ManagedRuntime.make(
    gateway.layer as Layer.Layer<ImageGeneration | PrincipalResolver | GatewayPolicy | CreditLedger | LedgerStore>
  )
  await runtime.runPromise(seedWorld as Effect.Effect<void, never, never>)
  const perform = (step: Step) =>
    runtime.runPromise(Effect.gen(function*() {
      const before = yield* snapshot
      const result = yield* generateAs(credentialsOf(step), { ...step.body, prompt: promptOf(step) }, step.idempotencyKey).pipe(
        Effect.map((value) => ({ ok: true as const, value })),
        Effect.catch((e) => Effect.succeed({ ok: false as const, error: e._tag as string }))
      )
      const after = yield* snapshot
      const newTransfers = (yield* LedgerStore.use((s) => s.transfers({}))).slice(0, after.journal - before.journal)
      return { step, result, before, after, newTransfers } satisfies Observation
    }))
  return { perform, runtime, dispose: () => runtime.dispose() }
}

/** Accounts whose posted or pending balance differs between two snapshots. */
export const changedAccounts = (o: Observation): Array<string> => {
  const ids = new Set([...o.before.balances.keys(), ...o.after.balances.keys()])
  return [...ids].filter((id) => {
    const a = o.before.balances.get(id)
    const b = o.after.balances.get(id)
    return (a?.posted ?? 0) !== (b?.posted ?? 0) || (a?.pending ?? 0) !== (b?.pending ?? 0)
  })
}

export const isUserAccount = (id: string) => /^[0-9a-f]{8}-/.test(id)
