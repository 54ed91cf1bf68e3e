import { Effect, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { Administration } from "../../src/application/Administration.ts"
import type { OrgId, ServiceName } from "../../src/domain/Ids.ts"
import { memoryAdapterSet } from "../../specs/support/AdapterSet.ts"
import { generateAs } from "../../specs/support/Calls.ts"
import { bearer, inWorld, WORLD } from "../../specs/support/Harness.ts"

const UNICORN = { prompt: "A unicorn with a magic wand", model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 }

// The specs run the core on the server's platform (node:crypto); `Core` is the same services on
// WebCrypto, for runtimes without Node. It must hash, resolve, bill and administer alike.
describe("the core on portable crypto (WebCrypto)", () => {
  it("resolves the demo's keys, bills a generation and issues keys that authenticate", () =>
    inWorld(memoryAdapterSet, { portable: true })(Effect.gen(function*() {
      const made = yield* generateAs(bearer(WORLD.presentonKey), UNICORN)
      expect(made.chargedMillicredits).toBe(48_000)
      expect(made.principal.payer.account).toBe("org_presenton_service")
      const admin = yield* Administration
      const created = yield* admin.createService({ actor: "cli:test", requestId: "r1" }, {
        name: "portable-service" as ServiceName,
        org: { id: "org_portable" as OrgId },
        initialCredits: 100_000
      })
      const again = yield* generateAs(bearer(Redacted.value(created.key.secret!)), UNICORN)
      expect(again.principal.payer.account).toBe("org_portable")
    })))
})
