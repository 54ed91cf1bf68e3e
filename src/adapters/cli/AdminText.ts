import type {
  AccountView,
  IssuedKeyView,
  KeyView,
  OrganizationView,
  Page,
  ServiceDetail,
  ServiceView,
  TransferView,
  UserView
} from "../../application/Administration.ts"
import type { StoredAuditEntry } from "../../application/ports/AuditLog.ts"
import type { VersionedPricing } from "../../application/ports/PricingStore.ts"
import type { UsageGroup, UsageReport } from "../../application/ports/UsageLog.ts"
import type { KeyOwner } from "../../domain/Entities.ts"
import type { Transfer } from "../../domain/Ledger.ts"
import { type Column, credits, fields, orDash, percent, table, time, yesNo } from "./TextOutput.ts"
import { Redacted } from "effect"

/** The admin CLI's results as people read them: one renderer per kind of result. */

export const ownerText = (owner: KeyOwner): string =>
  owner._tag === "Service" ? `service ${owner.service}` : owner._tag === "User" ? `user ${owner.user}` : `admin ${owner.admin}`

const scopesText = (scopes: ReadonlyArray<string> | undefined, none: string) =>
  scopes === undefined ? none : scopes.join(",")

const keyColumns: ReadonlyArray<Column<KeyView>> = [
  { header: "ID", cell: (k) => k.id },
  { header: "PREFIX", cell: (k) => `${k.prefix}…` },
  { header: "OWNER", cell: (k) => ownerText(k.owner) },
  { header: "STATUS", cell: (k) => (k.deprecatedSunset === undefined ? k.status : `${k.status}, deprecated`) },
  { header: "CREATED", cell: (k) => time(k.createdAt) },
  { header: "EXPIRES", cell: (k) => time(k.expiresAt) },
  { header: "SUNSET", cell: (k) => time(k.deprecatedSunset) },
  { header: "SCOPES", cell: (k) => scopesText(k.scopes, "(owner's)") },
  { header: "LEGACY", cell: (k) => yesNo(k.legacy) },
  { header: "LAST USED", cell: (k) => time(k.lastUsedAt) }
]

export const keysTable = (keys: ReadonlyArray<KeyView>): string => table(keys, keyColumns)

export const keyText = (key: KeyView): string =>
  fields([
    ["Key", key.id],
    ["Prefix", `${key.prefix}…`],
    ["Owner", ownerText(key.owner)],
    ["Status", key.status],
    ["Created", time(key.createdAt)],
    ["Expires", time(key.expiresAt)],
    ["Deprecated", key.deprecatedSunset === undefined ? "no" : `yes, sunset ${time(key.deprecatedSunset)}`],
    ["Scopes", scopesText(key.scopes, "the owner's")],
    ["Legacy", yesNo(key.legacy)],
    ["Last used", time(key.lastUsedAt)]
  ])

/** A new key: its secret once, with the warning that it is never shown again. */
export const issuedKeyText = (issued: IssuedKeyView): string =>
  [
    keyText(issued.key),
    "",
    issued.secret === undefined
      ? "Replayed (same idempotency key): the secret was shown when the key was made and is not shown again."
      : `Secret: ${Redacted.value(issued.secret)}\nThis secret is shown only once: store it now. Only its hash is kept.`
  ].join("\n")

const balanceText = (a: AccountView) =>
  `${credits(a.balance.available)} available (posted ${credits(a.balance.posted)}, pending ${credits(a.balance.pending)})`

export const accountText = (a: AccountView): string =>
  fields([
    ["Account", a.account],
    ["Kind", a.kind],
    ["Tier", a.tier],
    ["Available", credits(a.balance.available)],
    ["Posted", credits(a.balance.posted)],
    ["Pending", credits(a.balance.pending)],
    ["Spent this month", credits(a.spentThisMonth)],
    ["Monthly cap", a.monthlyCap === undefined ? "none" : credits(a.monthlyCap)],
    ...(a.lowBalanceAlert === undefined ? [] : [[
      "Low-balance alert",
      `below ${credits(a.lowBalanceAlert.threshold)} credits available${a.lowBalanceAlert.isDefault ? " (default)" : ""}, ${
        a.lowBalanceAlert.fired ? "fired (re-arms at or above the threshold)" : "armed"
      }`
    ] as const])
  ])

const serviceColumns: ReadonlyArray<Column<ServiceView>> = [
  { header: "NAME", cell: (s) => s.name },
  { header: "ORG", cell: (s) => orDash(s.org) },
  { header: "POLICY", cell: (s) => s.userIdPolicy },
  { header: "SCOPES", cell: (s) => scopesText(s.scopes, "all") },
  { header: "JWT", cell: (s) => yesNo(s.jwt) },
  { header: "ACTIVE", cell: (s) => yesNo(s.active) },
  { header: "AVAILABLE", cell: (s) => (s.account === undefined ? "-" : credits(s.account.balance.available)), align: "right" },
  { header: "LAST USED", cell: (s) => time(s.lastUsedAt) }
]

export const servicesTable = (services: ReadonlyArray<ServiceView>): string => table(services, serviceColumns)

/** E.g. "600/min, 100/min per key, 8 in flight"; "none" when unlimited. */
const rateLimitsText = (r: ServiceView["rateLimits"]): string => {
  const parts = [
    r.requestsPerMinute === undefined ? [] : [`${r.requestsPerMinute}/min`],
    r.perKeyRequestsPerMinute === undefined ? [] : [`${r.perKeyRequestsPerMinute}/min per key`],
    r.concurrent === undefined ? [] : [`${r.concurrent} in flight`]
  ].flat()
  return parts.length === 0 ? "none" : parts.join(", ")
}

export const serviceText = (s: ServiceDetail): string =>
  [
    fields([
      ["Service", s.name],
      ["Organization", orDash(s.org)],
      ["User id policy", s.userIdPolicy],
      ["Scopes", scopesText(s.scopes, "all")],
      ["Signs JWTs", yesNo(s.jwt)],
      ["Active", yesNo(s.active)],
      ["Rate limits", rateLimitsText(s.rateLimits)],
      ["Balance", s.account === undefined ? "-" : balanceText(s.account)],
      ["Tier", s.account === undefined ? "-" : s.account.tier],
      ["Last used", time(s.lastUsedAt)]
    ]),
    "",
    "Keys:",
    keysTable(s.keys)
  ].join("\n")

const userColumns: ReadonlyArray<Column<UserView>> = [
  { header: "ID", cell: (u) => u.id },
  { header: "STATUS", cell: (u) => u.status },
  { header: "TIER", cell: (u) => u.tier },
  { header: "BILLING ORG", cell: (u) => orDash(u.billingOrg) },
  { header: "CAP", cell: (u) => (u.monthlyCap === undefined ? "-" : credits(u.monthlyCap)), align: "right" },
  { header: "AVAILABLE", cell: (u) => credits(u.account.balance.available), align: "right" },
  { header: "PENDING", cell: (u) => credits(u.account.balance.pending), align: "right" },
  { header: "SPENT (MONTH)", cell: (u) => credits(u.account.spentThisMonth), align: "right" }
]

export const usersTable = (users: ReadonlyArray<UserView>): string => table(users, userColumns)

export const userText = (u: UserView): string =>
  fields([
    ["User", u.id],
    ["Status", u.status],
    ["Tier", u.tier],
    ["Billing org", orDash(u.billingOrg)],
    ["Monthly cap", u.monthlyCap === undefined ? "none" : credits(u.monthlyCap)],
    ["Balance", balanceText(u.account)],
    ["Spent this month", credits(u.account.spentThisMonth)]
  ])

const orgColumns: ReadonlyArray<Column<OrganizationView>> = [
  { header: "ID", cell: (o) => o.id },
  { header: "NAME", cell: (o) => o.name },
  { header: "TIER", cell: (o) => o.tier },
  { header: "BILLS MEMBERS", cell: (o) => yesNo(o.billsMembers) },
  { header: "CAP", cell: (o) => (o.monthlyCap === undefined ? "-" : credits(o.monthlyCap)), align: "right" },
  { header: "AVAILABLE", cell: (o) => credits(o.account.balance.available), align: "right" },
  { header: "PENDING", cell: (o) => credits(o.account.balance.pending), align: "right" },
  { header: "SPENT (MONTH)", cell: (o) => credits(o.account.spentThisMonth), align: "right" }
]

export const orgsTable = (orgs: ReadonlyArray<OrganizationView>): string => table(orgs, orgColumns)

export const orgText = (o: OrganizationView): string =>
  fields([
    ["Organization", o.id],
    ["Name", o.name],
    ["Tier", o.tier],
    ["Bills members", yesNo(o.billsMembers)],
    ["Monthly cap", o.monthlyCap === undefined ? "none" : credits(o.monthlyCap)],
    ["Balance", balanceText(o.account)],
    ["Spent this month", credits(o.account.spentThisMonth)]
  ])

export const transferText = (verb: string, t: TransferView): string =>
  [
    `${t.replayed === true ? "Already done (same idempotency key): " : ""}${verb} ${credits(t.transfer.amount)} credits to ${t.transfer.credit}.`,
    fields([
      ["Transfer", t.transfer.id],
      ["Kind", t.transfer.kind],
      ["From", t.transfer.debit],
      ["To", t.transfer.credit],
      ["Reason", t.transfer.reason],
      ["At", time(t.transfer.at)],
      ["Balance", `${t.balance.account}: ${credits(t.balance.available)} available (posted ${credits(t.balance.posted)}, pending ${credits(t.balance.pending)})`]
    ])
  ].join("\n")

const more = (next: number | undefined, flag: string) => (next === undefined ? "" : `\nMore: repeat with ${flag} ${next}`)

export const historyText = (account: string, page: Page<Transfer>): string =>
  table(page.data, [
    { header: "SEQ", cell: (t) => orDash(t.seq), align: "right" },
    { header: "AT", cell: (t) => time(t.at) },
    { header: "KIND", cell: (t) => t.kind },
    { header: "CREDITS", cell: (t) => credits(t.credit === account ? t.amount : -t.amount), align: "right" },
    { header: "COUNTERPART", cell: (t) => (t.credit === account ? t.debit : t.credit) },
    { header: "TRANSFER", cell: (t) => t.id },
    { header: "REASON", cell: (t) => t.reason }
  ]) + more(page.nextCursor, "--before")

export const pricingText = (p: VersionedPricing): string => {
  const tiers = p.data.tiers
  return [
    fields([
      ["Version", String(p.version)],
      ["Updated", time(p.updatedAt)],
      ["Billing", tiers.billingEnabled ? "on" : "off (no request is charged)"],
      ["Default multiplier", `${tiers.defaultMultiplierBps} bps`],
      ["Credit-exempt tiers", tiers.creditExempt.length === 0 ? "none" : tiers.creditExempt.join(", ")]
    ]),
    "",
    "Tier multipliers (basis points, 10000 = list price):",
    table(Object.entries(tiers.multipliersBps), [
      { header: "TIER", cell: ([t]) => t },
      { header: "BPS", cell: ([, bps]) => String(bps), align: "right" }
    ]),
    "",
    "Prices (credits per image, before the tier multiplier):",
    table(p.data.prices, [
      { header: "MODEL", cell: (r) => r.model },
      { header: "QUALITY", cell: (r) => r.quality },
      { header: "SIZE", cell: (r) => r.size },
      { header: "CREDITS", cell: (r) => credits(r.millicredits), align: "right" }
    ]),
    "",
    "Provider routes (win over PROVIDER_ROUTES and the catalogue):",
    Object.keys(p.data.routes ?? {}).length === 0
      ? "none"
      : table(Object.entries(p.data.routes ?? {}), [
        { header: "MODEL", cell: ([model]) => model },
        { header: "PROVIDER", cell: ([, provider]) => provider }
      ])
  ].join("\n")
}

/** The audit log, one line per entry; what changed (before and after) is in `--json`. */
export const auditText = (page: Page<StoredAuditEntry>): string =>
  table(page.data, [
    { header: "SEQ", cell: (e) => String(e.seq), align: "right" },
    { header: "AT", cell: (e) => time(e.at) },
    { header: "KIND", cell: (e) => e.kind },
    { header: "ACTOR", cell: (e) => e.actor },
    { header: "ACTION", cell: (e) => e.action },
    { header: "TARGET", cell: (e) => e.target },
    { header: "OUTCOME", cell: (e) => e.outcome },
    { header: "KEY", cell: (e) => orDash(e.keyId) },
    { header: "PAYER", cell: (e) => orDash(e.payer) },
    { header: "REQUEST", cell: (e) => orDash(e.requestId) }
  ]) + more(page.nextCursor, "--before")

const groupTable = (title: string, groups: ReadonlyArray<UsageGroup>, total: UsageGroup) =>
  [
    title,
    table(groups, [
      { header: "KEY", cell: (g) => g.key },
      { header: "REQUESTS", cell: (g) => g.requests.toLocaleString("en-US"), align: "right" },
      { header: "SHARE", cell: (g) => percent(g.requests, total.requests), align: "right" },
      { header: "SUCCEEDED", cell: (g) => g.succeeded.toLocaleString("en-US"), align: "right" },
      { header: "IMAGES", cell: (g) => g.images.toLocaleString("en-US"), align: "right" },
      { header: "CREDITS", cell: (g) => credits(g.costMillicredits), align: "right" },
      { header: "AVG/IMAGE", cell: (g) => (g.images === 0 ? "-" : credits(Math.round(g.costMillicredits / g.images))), align: "right" }
    ])
  ].join("\n")

/** The weekly usage report: totals, then per service, per payer, per credential kind, per model, per billing mode. */
export const reportText = (r: UsageReport): string =>
  [
    `Usage from ${time(r.since)} to ${time(r.until)}`,
    fields([
      ["Requests", `${r.total.requests.toLocaleString("en-US")} (${r.total.succeeded.toLocaleString("en-US")} succeeded)`],
      ["Images", r.total.images.toLocaleString("en-US")],
      ["Credits", credits(r.total.costMillicredits)],
      ["Average per image", r.total.images === 0 ? "-" : `${credits(Math.round(r.total.costMillicredits / r.total.images))} credits`]
    ]),
    "",
    groupTable("Per service ('-': requests made with a user's own credential):", r.byService, r.total),
    "",
    groupTable("Per payer:", r.byPayer, r.total),
    "",
    groupTable("Per credential kind:", r.byCredential, r.total),
    "",
    groupTable("Per model:", r.byModel, r.total),
    "",
    groupTable("Per billing mode:", r.byMode, r.total)
  ].join("\n")
