// The dashboard's script: reads /admin/api/overview and fills the page; the grant form posts to
// /admin/api/grants. Every call sends the page's CSRF token; every value is written as text.
"use strict"

const csrfToken = document.querySelector('meta[name="csrf-token"]')?.getAttribute("content") ?? ""
const REQUEST_TIMEOUT_MS = 15_000
const SVG = "http://www.w3.org/2000/svg"

const $ = (selector) => document.querySelector(selector)

class SessionEnded extends Error {}

/** A call to the dashboard's own API; a refusal is thrown with the gateway's message. */
const api = async (method, path, body) => {
  const response = await fetch(path, {
    method,
    credentials: "same-origin",
    headers: { "x-csrf-token": csrfToken, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS)
  })
  const json = await response.json().catch(() => null)
  if (response.status === 401) throw new SessionEnded("The session has ended: reload the page to log in again.")
  if (!response.ok) throw new Error(json?.error?.message ?? `The gateway answered ${response.status}.`)
  return json
}

const numberFormat = new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 })
const credits = (value) => (value === null || value === undefined ? "–" : numberFormat.format(value))
const when = (seconds) =>
  seconds === null || seconds === undefined ? "never" : new Date(seconds * 1000).toISOString().slice(0, 16).replace("T", " ") + " UTC"

/** A table row of text cells; `numeric` cells are right-aligned. */
const row = (cells, attributes = {}) => {
  const tr = document.createElement("tr")
  for (const [name, value] of Object.entries(attributes)) tr.setAttribute(name, String(value))
  for (const cell of cells) {
    const td = document.createElement(cell.header ? "th" : "td")
    if (cell.header) td.setAttribute("scope", "row")
    if (cell.numeric) td.className = "num"
    if (cell.field) td.dataset.field = cell.field
    if (cell.exact !== undefined) td.dataset.millicredits = String(cell.exact)
    td.textContent = cell.text
    tr.append(td)
  }
  return tr
}

const fill = (selector, rows, empty, columns) => {
  const body = $(`${selector} tbody`)
  body.replaceChildren(...rows)
  if (rows.length === 0) body.append(row([{ text: empty }]))
  if (rows.length === 0) body.lastChild.firstChild.colSpan = columns
}

const renderOrganizations = (organizations) => {
  fill("#orgs", organizations.map((o) =>
    row([
      { text: o.id, header: true },
      { text: o.services.join(", ") },
      { text: credits(o.balance), numeric: true, field: "balance", exact: o.balance_millicredits },
      { text: credits(o.pending), numeric: true, field: "pending", exact: o.pending_millicredits },
      { text: credits(o.available), numeric: true, field: "available", exact: o.available_millicredits },
      { text: o.burn_per_day === null ? "not available" : credits(o.burn_per_day), numeric: true, field: "burn" },
      { text: when(o.last_used_at) }
    ], { "data-org": o.id })), "No service organizations yet.", 7)
  $("#grant-accounts").replaceChildren(...organizations.map((o) => {
    const option = document.createElement("option")
    option.value = o.id
    return option
  }))
}

const svg = (name, attributes, text) => {
  const element = document.createElementNS(SVG, name)
  for (const [key, value] of Object.entries(attributes)) element.setAttribute(key, String(value))
  if (text !== undefined) element.textContent = text
  return element
}

/** Credits per day as a line with a point per day, drawn as inline SVG. */
const renderUsage = (usage) => {
  const box = $("#usage-chart")
  if (!usage.available) {
    box.replaceChildren(Object.assign(document.createElement("p"), { textContent: "Usage is not available." }))
    return
  }
  const points = usage.points
  const width = 720, height = 220, left = 56, right = 12, top = 12, bottom = 28
  const most = Math.max(...points.map((p) => p.credits), 0)
  const ceiling = most > 0 ? most : 1
  const x = (i) => left + (points.length <= 1 ? 0 : (i * (width - left - right)) / (points.length - 1))
  const y = (value) => top + (height - top - bottom) * (1 - value / ceiling)
  const total = points.reduce((sum, p) => sum + p.millicredits, 0) / 1000
  const chart = svg("svg", {
    viewBox: `0 0 ${width} ${height}`,
    role: "img",
    "aria-label": `Credits charged per day, ${points[0]?.date ?? ""} to ${points.at(-1)?.date ?? ""}: ${credits(total)} in all, at most ${credits(most)} in a day.`
  })
  chart.append(
    svg("line", { x1: left, y1: y(0), x2: width - right, y2: y(0), class: "axis" }),
    svg("line", { x1: left, y1: top, x2: left, y2: y(0), class: "axis" }),
    svg("text", { x: left - 6, y: y(ceiling) + 4, "text-anchor": "end", class: "label" }, credits(most)),
    svg("text", { x: left - 6, y: y(0) + 4, "text-anchor": "end", class: "label" }, "0"),
    svg("text", { x: left, y: height - 8, class: "label" }, points[0]?.date ?? ""),
    svg("text", { x: width - right, y: height - 8, "text-anchor": "end", class: "label" }, points.at(-1)?.date ?? ""),
    svg("polyline", { points: points.map((p, i) => `${x(i)},${y(p.credits)}`).join(" "), class: "line" })
  )
  points.forEach((p, i) => {
    const dot = svg("circle", { cx: x(i), cy: y(p.credits), r: 3.5, class: "point", "data-date": p.date, "data-credits": p.credits })
    dot.append(svg("title", {}, `${p.date}: ${credits(p.credits)} credits, ${p.requests} requests, ${p.images} images`))
    chart.append(dot)
  })
  box.replaceChildren(chart)
  $("#usage-caption").textContent = `Credits charged per day (UTC): ${credits(total)} over ${points.length} days.`
}

const renderAlerts = (alerts) => {
  if (!alerts.available) return fill("#alerts", [], "Alerts are not available.", 5)
  fill("#alerts", alerts.data.map((a) =>
    row([
      { text: when(a.created_at) },
      { text: a.type },
      { text: String(a.data?.account ?? "–") },
      { text: a.delivery.status + (a.delivery.last_error ? ` (${a.delivery.last_error})` : "") },
      { text: String(a.delivery.attempts), numeric: true }
    ])), "No alerts.", 5)
}

const renderKeys = (keys) => {
  fill("#keys", keys.map((k) =>
    row([
      { text: `${k.prefix}…`, header: true },
      { text: `${k.owner.kind} ${k.owner.id}` },
      { text: k.status + (k.deprecated ? ", deprecated" : "") },
      { text: when(k.last_used_at) },
      { text: when(k.created) }
    ], { "data-key": k.id })), "No keys.", 5)
}

const status = (text, failed = false) => {
  const line = $("#status")
  line.textContent = text
  line.classList.toggle("error", failed)
}

let loading = null

/** Reads the overview and redraws every section. */
const load = () => {
  loading ??= api("GET", "/admin/api/overview")
    .then((data) => {
      renderOrganizations(data.organizations)
      renderUsage(data.usage)
      renderAlerts(data.alerts)
      renderKeys(data.keys)
      status(`Updated ${when(data.generated_at)}.`)
      document.body.dataset.loaded = String(data.generated_at)
    })
    .catch((error) => status(error.message, true))
    .finally(() => (loading = null))
  return loading
}

const grant = async (event) => {
  event.preventDefault()
  const form = event.currentTarget
  const result = $("#grant-result")
  const button = form.querySelector("button")
  button.disabled = true
  result.classList.remove("error")
  result.textContent = "Granting…"
  try {
    const body = Object.fromEntries(new FormData(form))
    const granted = await api("POST", "/admin/api/grants", { account: body.account, credits: body.credits, reason: body.reason })
    result.textContent = `Granted ${credits(granted.credits)} credits to ${granted.account.id}: balance now ${credits(granted.account.balance)}.`
    form.reset()
    await load()
  } catch (error) {
    result.textContent = error.message
    result.classList.add("error")
  } finally {
    button.disabled = false
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("#grant-form").addEventListener("submit", grant)
  $("#refresh").addEventListener("click", () => load())
  load()
})
