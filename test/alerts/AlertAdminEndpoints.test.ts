/**
 * The alert endpoints of the admin API over HTTP, on a gateway process in memory and one on
 * PostgreSQL: every answer is checked against /openapi.json (AdminHttp's client). Bad threshold
 * input is refused in OpenAI's error shape naming the field and changes nothing; null goes back
 * to the configured default; the alert list pages newest first. (Credentials other than the
 * admin key are refused on both endpoints in test/http/AdminApi.test.ts.)
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { demoLegacyKeyOf, demoOrgOf } from "../../src/DemoData.ts"
import { type EmptyDatabase, openEmptyDatabase } from "../../specs/support/postgres.ts"
import { type AdminClient, expectRefusal, makeAdminClient } from "../http/support/AdminHttp.ts"
import { runCli } from "../cli/support/Cli.ts"
import { alertsOf, availableOf, BYOK_KEY, type Gateway, generate, lowBalanceAlertOf, ORG, startGatewayWith } from "./support/AlertGateways.ts"
import { waitFor } from "./support/WebhookReceiver.ts"

/** The configured default threshold of these gateways: 250 credits. */
const DEFAULT_CREDITS = 250
const THRESHOLD = "/accounts/{account_id}/alert-threshold"

interface Storage {
  readonly env: Record<string, string>
  /** The admin CLI's environment on the same store (none for memory: the CLI cannot reach it). */
  readonly cli?: Record<string, string>
  readonly close: () => Promise<void>
}

const storages: ReadonlyArray<readonly [string, () => Promise<Storage>]> = [
  ["memory", async () => ({ env: { STORAGE: "memory" }, close: async () => {} })],
  ["postgres", async () => {
    const database: EmptyDatabase = await openEmptyDatabase("alerts_admin")
    return {
      env: { DATABASE_URL: database.url, MIGRATE: "1" },
      cli: { DATABASE_URL: database.url, BYOK_ENCRYPTION_KEY: BYOK_KEY, STORAGE: "", ALERT_LOW_BALANCE_CREDITS: String(DEFAULT_CREDITS) },
      close: () => database.close()
    }
  }]
]

for (const [name, storage] of storages) {
  describe(`admin alert endpoints [${name}]`, () => {
    let gateway: Gateway
    let admin: AdminClient
    let close: () => Promise<void>
    let cliEnv: Record<string, string> | undefined

    beforeAll(async () => {
      const opened = await storage()
      close = opened.close
      cliEnv = opened.cli
      gateway = await startGatewayWith({ ...opened.env, ALERT_LOW_BALANCE_CREDITS: String(DEFAULT_CREDITS) })
      admin = await makeAdminClient(gateway.origin)
    }, 60_000)
    afterAll(async () => {
      expect(await gateway?.process.stop()).toBe(0)
      await close?.()
    })

    const put = (account: string, body: unknown) => admin.call("PUT", THRESHOLD, { params: { account_id: account }, body })
    const audited = async () =>
      (await admin.call("GET", "/audit", { query: { action: "alerts.threshold", limit: 500 } })).json.data as Array<
        { outcome: string; target: string; after: unknown }
      >

    it("refuses bad thresholds (400 naming credits, 404 for an unknown account) and changes nothing: the threshold set before still fires", async () => {
      // A threshold 10 credits below the balance: one generation (48 credits) crosses it.
      const threshold = (await availableOf(gateway.origin, ORG)) - 10_000
      const set = await put(ORG, { credits: String(threshold / 1000) })
      expect(set.json).toEqual({ account: ORG, object: "alert_threshold", credits: threshold / 1000, millicredits: threshold, default: false })
      const shown = { threshold: threshold / 1000, threshold_millicredits: threshold, default: false, state: "armed" }
      expect(await lowBalanceAlertOf(gateway.origin, ORG)).toEqual(shown)
      const before = await audited()

      const refusals: ReadonlyArray<readonly [unknown, string, string | null]> = [
        [{ credits: -1 }, "invalid_amount", "credits"],
        [{ credits: "-0.001" }, "invalid_amount", "credits"],
        [{ credits: "abc" }, "invalid_amount", "credits"],
        [{ credits: "1.2345" }, "invalid_amount", "credits"],
        [{ credits: 0.0001 }, "invalid_amount", "credits"],
        [{ credits: true }, "invalid_value", "credits"],
        [{ credits: [5] }, "invalid_value", "credits"],
        [{}, "missing_required_parameter", "credits"],
        ["not json", "invalid_json", null]
      ]
      for (const [body, code, param] of refusals) {
        const r = await put(ORG, body)
        expectRefusal(r, 400, code, param)
        if (param !== null) expect(r.json.error.message).toContain("'credits'")
      }
      // No body at all.
      const empty = await admin.call("PUT", THRESHOLD, { params: { account_id: ORG }, extraHeaders: { "content-type": "application/json" } })
      expectRefusal(empty, 400, "invalid_json", null)
      expectRefusal(await put("org_no_such_organization", { credits: 5 }), 404, "account_not_found")
      expectRefusal(await put("nobody", { credits: 5 }), 400, "invalid_account_id", "account_id")

      // The audit log: the refusals that reached the account lookup are recorded as refused; no change recorded.
      const after = await audited()
      const added = after.slice(0, after.length - before.length)
      expect(after.slice(added.length)).toEqual(before)
      expect(added.every((e) => e.outcome !== "ok")).toBe(true)
      expect(added.map((e) => e.target)).toContain("account:org_no_such_organization")

      expect(await lowBalanceAlertOf(gateway.origin, ORG)).toEqual(shown)
      // The threshold is still the one set: a generation crosses it and the alert names it.
      await generate(gateway.origin)
      const [alert] = await waitFor("the alert", async () => {
        const listed = await alertsOf(gateway.origin)
        return listed.length === 1 ? listed : undefined
      })
      expect(alert!.data).toMatchObject({ account: ORG, threshold_millicredits: threshold })
      expect(await lowBalanceAlertOf(gateway.origin, ORG)).toEqual({ ...shown, state: "fired" })
    })

    it("null goes back to the configured default (ALERT_LOW_BALANCE_CREDITS), and 0 is a threshold of its own", async () => {
      // Checks queued by the previous test's generations run within two pauses between batches
      // (250 ms each): let them finish, so that no check runs while the threshold is changed below.
      await new Promise((resolve) => setTimeout(resolve, 700))
      expect((await put(ORG, { credits: 0 })).json).toMatchObject({ credits: 0, millicredits: 0, default: false })
      const reset = await put(ORG, { credits: null })
      expect(reset.status).toBe(200)
      expect(reset.json).toEqual({
        account: ORG,
        object: "alert_threshold",
        credits: DEFAULT_CREDITS,
        millicredits: DEFAULT_CREDITS * 1000,
        default: true
      })
      const [latest] = await audited()
      expect(latest).toMatchObject({ outcome: "ok", target: `account:${ORG}`, after: { before: 0, after: null } })
      // The account detail says so; its alert stays fired until a balance check sees it at or above.
      expect(await lowBalanceAlertOf(gateway.origin, ORG)).toEqual({
        threshold: DEFAULT_CREDITS,
        threshold_millicredits: DEFAULT_CREDITS * 1000,
        default: true,
        state: "fired"
      })
      if (cliEnv !== undefined) {
        const shown = await runCli(["credits", "balance", ORG], { env: cliEnv })
        expect(shown.code, shown.stderr).toBe(0)
        expect(shown.stdout).toMatch(/^Low-balance alert: +below 250 credits available \(default\), fired \(re-arms at or above the threshold\)$/m)
        const json = await runCli(["--json", "credits", "balance", ORG], { env: cliEnv })
        expect(JSON.parse(json.stdout).low_balance_alert).toEqual({
          threshold: DEFAULT_CREDITS,
          threshold_millicredits: DEFAULT_CREDITS * 1000,
          default: true,
          state: "fired"
        })
      }
    })

    it("lists alerts newest first, in pages that continue at next_cursor; refuses a bad limit or cursor naming it", async () => {
      // Three more organizations, each with a threshold above its balance, each billed once.
      const services = ["bolt-diy-service", "brigade-service", "centerdeep-service"]
      for (const service of services) {
        const org = demoOrgOf(service)
        await put(org, { credits: (await availableOf(gateway.origin, org)) / 1000 + 1 })
        await generate(gateway.origin, demoLegacyKeyOf(service))
        // One at a time: their order in the list is the order they fired.
        await waitFor(`the alert of ${org}`, async () =>
          (await alertsOf(gateway.origin)).some((a) => a.data["account"] === org) ? true : undefined)
      }
      const all = await alertsOf(gateway.origin)
      expect(all.map((a) => a.data["account"])).toEqual([...services.map(demoOrgOf).reverse(), ORG])

      const first = (await admin.call("GET", "/alerts", { query: { limit: 3 } })).json
      expect(first.data.map((a: { id: string }) => a.id)).toEqual(all.slice(0, 3).map((a) => a.id))
      expect(first.next_cursor).toEqual(expect.any(Number))
      const second = (await admin.call("GET", "/alerts", { query: { limit: 3, before: first.next_cursor } })).json
      expect(second.data.map((a: { id: string }) => a.id)).toEqual([all[3]!.id])
      expect(second.next_cursor).toBeNull()

      for (const limit of ["0", "501", "x", "2.5"]) {
        expectRefusal(await admin.call("GET", "/alerts", { query: { limit } }), 400, "invalid_value", "limit")
      }
      expectRefusal(await admin.call("GET", "/alerts", { query: { before: "-1" } }), 400, "invalid_value", "before")
    })
  })
}
