import { Effect } from "effect"
import { afterAll, beforeAll, expect, it } from "vitest"
import { type UsageEvent, UsageLog } from "../../src/application/ports/UsageLog.ts"
import { PgUsageLog } from "../../src/adapters/postgres/PgUsageLog.ts"
import type { AccountId } from "../../src/domain/Ids.ts"
import { openTestDatabase, type TestDatabase } from "../../specs/support/postgres.ts"

let db: TestDatabase
beforeAll(async () => {
  db = await openTestDatabase({ maxConnections: 4 })
})
afterAll(async () => {
  await db?.close()
})

const event = (i: number): UsageEvent => ({
  requestId: `req_concurrent_${i}`,
  at: 1_000 + i,
  actorKind: i % 2 === 0 ? "service" : "user",
  actor: i % 2 === 0 ? "presenton-service" : "7a6bfd31-0120-4a30-9e21-0fc3b8006579",
  ...(i % 2 === 0 ? { service: "presenton-service" } : {}),
  ...(i % 3 === 0 ? { onBehalfOf: "7a6bfd31-0120-4a30-9e21-0fc3b8006579" } : {}),
  authMethod: i % 2 === 0 ? "service_key" : "user_key",
  payer: (i % 2 === 0 ? "org_presenton_service" : "7a6bfd31-0120-4a30-9e21-0fc3b8006579") as AccountId,
  model: "dall-e-3",
  ...(i % 5 === 0 ? {} : { provider: "local" as const }),
  n: 1 + (i % 3),
  images: i % 3,
  costMillicredits: 48_000 * (i % 3),
  mode: i % 7 === 0 ? "exempt" : "billed",
  outcome: i % 3 === 0 ? "ProviderUnavailable" : "success",
  latencyMs: i
})

it("keeps every one of 300 events recorded at once (group-committed), each exactly as recorded", async () => {
  await db.run(db.truncate)
  const events = Array.from({ length: 300 }, (_, i) => event(i))
  const listed = await db.run(Effect.provide(
    UsageLog.use((log) =>
      Effect.andThen(
        Effect.forEach(events, (e) => log.record(e), { concurrency: "unbounded", discard: true }),
        log.list({})
      )
    ),
    PgUsageLog
  ))
  expect(listed).toHaveLength(300)
  const byId = new Map(listed.map((e) => [e.requestId, e]))
  for (const e of events) expect(byId.get(e.requestId)).toEqual(e)
})
