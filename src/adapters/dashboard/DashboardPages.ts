/**
 * The dashboard's two HTML pages. They carry no script or style of their own (the
 * Content-Security-Policy forbids inline ones): the stylesheet and the script are files the
 * gateway serves under `/admin/assets/`, named by their content hash. The data is filled in by
 * the script from `/admin/api/overview`.
 */

export interface AssetNames {
  readonly script: string
  readonly style: string
}

const ESCAPES: Record<string, string> = { "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" }

/** Text made safe for HTML content and quoted attribute values. */
export const escapeHtml = (text: string): string => text.replace(/[&<>"']/g, (c) => ESCAPES[c]!)

const head = (title: string, assets: AssetNames, extra = "") => `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="stylesheet" href="/admin/assets/${assets.style}">
${extra}</head>`

/** The login form; `error` says why the last attempt was refused. */
export const loginPage = (assets: AssetNames, error?: string): string =>
  `${head("Image Gateway admin: log in", assets)}
<body class="login">
<main>
<h1>Image Gateway admin</h1>
<form method="post" action="/admin/login">
<label for="key">Admin key</label>
<input id="key" name="key" type="password" autocomplete="current-password" required spellcheck="false">
<button type="submit">Log in</button>
</form>
${error === undefined ? "" : `<p class="error" role="alert" id="login-error">${escapeHtml(error)}</p>`}
<p class="hint">The key stays in this form: the browser keeps only a session cookie.</p>
</main>
</body>
</html>
`

/** The dashboard's frame for a logged-in operator; the script fills each section. */
export const dashboardPage = (assets: AssetNames, session: { readonly admin: string; readonly csrfToken: string }): string =>
  `${head("Image Gateway admin", assets, `<meta name="csrf-token" content="${escapeHtml(session.csrfToken)}">
<script src="/admin/assets/${assets.script}" defer></script>
`)}
<body>
<header>
<h1>Image Gateway admin</h1>
<p>Logged in as <strong id="who">${escapeHtml(session.admin || "operator")}</strong></p>
<button type="button" id="refresh">Refresh</button>
<form method="post" action="/admin/logout">
<input type="hidden" name="csrf" value="${escapeHtml(session.csrfToken)}">
<button type="submit">Log out</button>
</form>
</header>
<main>
<p id="status" role="status" aria-live="polite">Loading…</p>

<section aria-labelledby="orgs-title">
<h2 id="orgs-title">Service organizations</h2>
<table id="orgs">
<caption>Balances in credits; burn rate: credits charged per day over the last 7 days.</caption>
<thead><tr>
<th scope="col">Organization</th><th scope="col">Services</th><th scope="col" class="num">Balance</th>
<th scope="col" class="num">Pending holds</th><th scope="col" class="num">Available</th>
<th scope="col" class="num">Burn rate / day</th><th scope="col">Last use</th>
</tr></thead>
<tbody></tbody>
</table>
</section>

<section aria-labelledby="usage-title">
<h2 id="usage-title">Usage over the last 30 days</h2>
<figure id="usage">
<div id="usage-chart"></div>
<figcaption id="usage-caption">Credits charged per day (UTC).</figcaption>
</figure>
</section>

<section aria-labelledby="grant-title">
<h2 id="grant-title">Grant credits</h2>
<form id="grant-form">
<div><label for="grant-account">Account</label>
<input id="grant-account" name="account" list="grant-accounts" required placeholder="org_… or a user id" spellcheck="false">
<datalist id="grant-accounts"></datalist></div>
<div><label for="grant-credits">Credits</label>
<input id="grant-credits" name="credits" inputmode="decimal" required placeholder="1000"></div>
<div><label for="grant-reason">Reason</label>
<input id="grant-reason" name="reason" required placeholder="invoice 2026-117"></div>
<button type="submit">Grant</button>
</form>
<p id="grant-result" role="status" aria-live="polite"></p>
</section>

<section aria-labelledby="alerts-title">
<h2 id="alerts-title">Recent alerts</h2>
<table id="alerts">
<thead><tr>
<th scope="col">When</th><th scope="col">Type</th><th scope="col">Account</th><th scope="col">Delivery</th><th scope="col">Attempts</th>
</tr></thead>
<tbody></tbody>
</table>
</section>

<section aria-labelledby="keys-title">
<h2 id="keys-title">Keys</h2>
<table id="keys">
<thead><tr>
<th scope="col">Prefix</th><th scope="col">Owner</th><th scope="col">Status</th><th scope="col">Last use</th><th scope="col">Created</th>
</tr></thead>
<tbody></tbody>
</table>
</section>
</main>
</body>
</html>
`
