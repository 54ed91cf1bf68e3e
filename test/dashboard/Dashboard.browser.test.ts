import chromium from "@sparticuz/chromium"
import { mkdir, mkdtemp, readFile, rm } from "node:fs/promises"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { type Browser, type BrowserContext, chromium as playwright, type Page } from "playwright-core"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { type DemoGateway, startDemoGateway } from "../http/support/DemoGateway.ts"
import { DEMO, demoLegacyKeyOf, demoOrgOf } from "../../src/DemoData.ts"

/**
 * The dashboard in a real browser: headless Chromium (shipped in the @sparticuz/chromium npm
 * package, no system install) driven by playwright-core, against an in-process gateway over the
 * demo data. An operator logs in with the admin key, reads an organization's balance, sees it
 * drop by exactly the charge of a generation made meanwhile, sees the usage chart, grants
 * credits through the form and sees the new balance, and a screenshot is saved. Around it: the
 * cookie's flags, and the refusals (a service or user key at the login, a POST without the CSRF
 * token or from another origin). Set DASHBOARD_SCREENSHOT_DIR to keep the screenshot.
 */

const ADMIN_KEY = DEMO.adminKey
const SERVICE_KEY = demoLegacyKeyOf("presenton-service")
const ORG = demoOrgOf("presenton-service")
const STEP_MS = 10_000
const LAUNCH_MS = 20_000

type Gateway = DemoGateway
const startGateway = () => startDemoGateway("memory")

/**
 * The package's flags are made for a serverless sandbox: `--single-process` crashes the browser
 * when a second context closes, and the web-security switches would turn off the very
 * same-origin rules the dashboard relies on. Those are left out.
 */
const UNWANTED_FLAGS = /^--(single-process|disable-web-security|allow-running-insecure-content|disable-site-isolation-trials)$/

/**
 * The package inflates Chromium into the temporary directory (`/tmp/chromium`) and reuses what
 * it finds there: a copy another user inflated cannot be run (EACCES). Each user gets a private
 * directory of its own for it.
 */
const chromiumExecutable = async (): Promise<string> => {
  const own = join(tmpdir(), `image-gateway-chromium-${process.getuid?.() ?? "user"}`)
  await mkdir(own, { recursive: true, mode: 0o700 })
  const before = process.env["TMPDIR"]
  process.env["TMPDIR"] = own
  try {
    return await chromium.executablePath()
  } finally {
    if (before === undefined) delete process.env["TMPDIR"]
    else process.env["TMPDIR"] = before
  }
}

/** Chromium from the npm package, or a failure saying in one line why it did not start. */
const launchChromium = async (): Promise<Browser> => {
  try {
    return await playwright.launch({
      executablePath: await chromiumExecutable(),
      args: chromium.args.filter((flag) => !UNWANTED_FLAGS.test(flag)),
      headless: true,
      timeout: LAUNCH_MS
    })
  } catch (error) {
    const why = String(error instanceof Error ? error.message : error).split("\n")[0]
    throw new Error(`Headless Chromium (@sparticuz/chromium) could not be launched on this machine: ${why}`)
  }
}

/** A plain HTTP call with a deadline. */
const call = async (url: string, init: RequestInit = {}) => {
  const response = await fetch(url, { ...init, redirect: "manual", signal: AbortSignal.timeout(STEP_MS) })
  const text = await response.text()
  let json: any
  try {
    json = JSON.parse(text)
  } catch {
    json = undefined
  }
  return { status: response.status, headers: response.headers, text, json }
}

const balanceCell = (org: string) => `tr[data-org="${org}"] td[data-field="balance"]`

/** The balance the page shows for `org`, exactly (its cell's millicredits). */
const shownBalance = async (page: Page, org: string) => Number(await page.locator(balanceCell(org)).getAttribute("data-millicredits"))

/** Waits (bounded) until the page shows `org`'s balance as `millicredits`. */
const waitForBalance = (page: Page, org: string, millicredits: number) =>
  page.waitForFunction(
    ([selector, expected]) => document.querySelector(selector!)?.getAttribute("data-millicredits") === String(expected),
    [balanceCell(org), millicredits] as const,
    { timeout: STEP_MS }
  )

const logIn = async (page: Page, origin: string, key: string) => {
  await page.goto(`${origin}/admin`)
  await page.fill("#key", key)
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${origin}/admin/login`, { timeout: STEP_MS }),
    page.click("button[type=submit]")
  ])
  await page.waitForLoadState("load")
  return response
}

describe("the dashboard in headless Chromium", () => {
  let gateway: Gateway
  let browser: Browser
  let context: BrowserContext
  let page: Page
  let shots: string

  beforeAll(async () => {
    ;[gateway, browser] = await Promise.all([startGateway(), launchChromium()])
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } })
    context.setDefaultTimeout(STEP_MS)
    page = await context.newPage()
    shots = process.env["DASHBOARD_SCREENSHOT_DIR"] ?? await mkdtemp(join(tmpdir(), "dashboard-"))
    await mkdir(shots, { recursive: true })
  }, 60_000)

  afterAll(async () => {
    await browser?.close()
    await gateway?.close()
    if (shots !== undefined && process.env["DASHBOARD_SCREENSHOT_DIR"] === undefined) await rm(shots, { recursive: true, force: true })
  })

  it("refuses a service key and a user key at the login, with the reason on the page and no cookie", async () => {
    const other = await browser.newContext()
    try {
      const tab = await other.newPage()
      for (const key of [SERVICE_KEY, DEMO.alice.key]) {
        const response = await logIn(tab, gateway.origin, key)
        expect(response.status()).toBe(403)
        expect(await tab.textContent("#login-error")).toContain("not an admin key")
      }
      const wrong = await logIn(tab, gateway.origin, "adm_this_key_was_never_issued_by_anyone_0000")
      expect(wrong.status()).toBe(401)
      expect(await tab.textContent("#login-error")).toContain("not valid")
      expect(await other.cookies()).toEqual([])
      // Without a session the data routes answer 401, never data.
      const overview = await call(`${gateway.origin}/admin/api/overview`)
      expect(overview.status).toBe(401)
      expect(overview.json.error.code).toBe("session_required")
    } finally {
      await other.close()
    }
  })

  it("logs in, shows a balance that a generation just changed, the usage chart, a grant made in the form, and saves a screenshot", async () => {
    const login = await logIn(page, gateway.origin, ADMIN_KEY)
    expect(login.status()).toBe(303)
    await page.waitForSelector(balanceCell(ORG))
    const before = await shownBalance(page, ORG)
    expect(before).toBeGreaterThan(0)
    expect(await page.textContent("#who")).not.toBe("")

    // A billed generation by the organization's service, over HTTP.
    const generated = await call(`${gateway.origin}/api/v1/llm/image/generations`, {
      method: "POST",
      headers: { authorization: `Bearer ${SERVICE_KEY}`, "content-type": "application/json" },
      body: JSON.stringify({ prompt: "A unicorn with a magic wand", model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 })
    })
    expect(generated.status).toBe(200)
    const charged = Math.round(Number(generated.headers.get("x-credits-charged")) * 1000)
    expect(charged).toBeGreaterThan(0)

    await page.click("#refresh")
    await waitForBalance(page, ORG, before - charged)

    // The chart: a point per day of the last 30, today's carrying the charge.
    const points = page.locator("#usage-chart svg circle.point")
    expect(await points.count()).toBe(30)
    const today = new Date().toISOString().slice(0, 10)
    expect(Number(await page.locator(`#usage-chart circle[data-date="${today}"]`).getAttribute("data-credits"))).toBeGreaterThanOrEqual(charged / 1000)

    // A grant through the form, shown without a reload.
    await page.fill("#grant-account", ORG)
    await page.fill("#grant-credits", "250.5")
    await page.fill("#grant-reason", "dashboard test top-up")
    await page.click("#grant-form button[type=submit]")
    await page.waitForFunction(() => document.querySelector("#grant-result")?.textContent?.startsWith("Granted"), undefined, { timeout: STEP_MS })
    expect(await page.textContent("#grant-result")).toContain(`to ${ORG}`)
    await waitForBalance(page, ORG, before - charged + 250_500)

    const file = join(shots, "dashboard.png")
    await page.screenshot({ path: file, fullPage: true })
    const png = await readFile(file)
    expect(png.length).toBeGreaterThan(10_000)
    expect(png.subarray(0, 8)).toEqual(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))
  })

  it("keeps the session in an HttpOnly, SameSite=Strict cookie on /admin, and refuses a POST without the CSRF token or from another origin", async () => {
    const cookie = (await context.cookies()).find((c) => c.name === "admin_session")
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: "Strict", path: "/admin" })
    expect(cookie!.value).toMatch(/^[A-Za-z0-9_-]{43}$/)
    const token = await page.getAttribute('meta[name="csrf-token"]', "content")
    const balance = await shownBalance(page, ORG)

    const grant = (headers: Record<string, string>) =>
      call(`${gateway.origin}/admin/api/grants`, {
        method: "POST",
        headers: { cookie: `admin_session=${cookie!.value}`, "content-type": "application/json", ...headers },
        body: JSON.stringify({ account: ORG, credits: 1_000_000, reason: "forged" })
      })
    const noToken = await grant({ origin: gateway.origin })
    expect(noToken.status).toBe(403)
    expect(noToken.json.error.code).toBe("csrf_token_invalid")
    const wrongToken = await grant({ origin: gateway.origin, "x-csrf-token": "x".repeat(43) })
    expect(wrongToken.status).toBe(403)
    const crossOrigin = await grant({ origin: "http://attacker.example", "x-csrf-token": token! })
    expect(crossOrigin.status).toBe(403)
    expect(crossOrigin.json.error.code).toBe("origin_not_allowed")
    const logout = await call(`${gateway.origin}/admin/logout`, {
      method: "POST",
      headers: { cookie: `admin_session=${cookie!.value}`, origin: gateway.origin, "content-type": "application/x-www-form-urlencoded" },
      body: "csrf="
    })
    expect(logout.status).toBe(403)

    // Nothing moved, and every dashboard response forbids framing and foreign content.
    await page.click("#refresh")
    await waitForBalance(page, ORG, balance)
    const served = await call(`${gateway.origin}/admin`, { headers: { cookie: `admin_session=${cookie!.value}` } })
    expect(served.headers.get("content-security-policy")).toContain("default-src 'self'")
    expect(served.headers.get("x-frame-options")).toBe("DENY")

    // Logging out through the page ends the session everywhere.
    await page.click("header form button[type=submit]")
    await page.waitForSelector("#key")
    const after = await call(`${gateway.origin}/admin/api/overview`, {
      headers: { cookie: `admin_session=${cookie!.value}`, "x-csrf-token": token! }
    })
    expect(after.status).toBe(401)
  })
})
