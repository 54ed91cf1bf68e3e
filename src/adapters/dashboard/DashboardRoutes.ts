import { ByteSize, Config, Effect, Layer, Option, Schema } from "effect"
import { HttpIncomingMessage, HttpRouter, HttpServerRequest, HttpServerResponse } from "effect/http"
import { createHash } from "node:crypto"
import { Administration } from "../../application/Administration.ts"
import type { AuthError } from "../../domain/Errors.ts"
import * as AdminJson from "../admin/AdminJson.ts"
import { CurrentAdmin } from "../http/AdminApi.ts"
import { Grant } from "../http/AdminPayloads.ts"
import { adminCall, answer, creditsOf, decodeBody, handled, invalid } from "../http/AdminRequests.ts"
import { errorResponse, type WireError } from "../http/ErrorMapping.ts"
import { overview } from "./DashboardData.ts"
import { type AssetNames, dashboardPage, loginPage } from "./DashboardPages.ts"
import { ABSOLUTE_MS, DashboardSessions } from "./DashboardSessions.ts"

/**
 * The operators' dashboard at `/admin`: a login form for an admin key, then one page showing the
 * service organizations, usage, alerts and keys, with a grant form.
 *
 * Its data comes from routes of its own under `/admin/api/`, which call `Administration` as the
 * admin API's handlers do (same JSON renderers, same audit: the actor is the logged-in admin
 * key's id). The admin API itself (`/api/v1/admin/…`) keeps taking a bearer admin key and
 * nothing else: the session cookie is scoped to `Path=/admin`, so it never reaches it, and a
 * cookie can never stand in for the key outside the dashboard.
 *
 * CSRF: the cookie is `SameSite=Strict`; every POST must come from this origin (`Origin`, else
 * `Referer`, matching the request's `Host` or PUBLIC_URL); and every `/admin/api/` call and the
 * logout form carry the session's CSRF token (header `X-CSRF-Token`, form field `csrf`), which a
 * page on another site cannot know. Every response forbids framing and any script, style or
 * connection not served by this gateway.
 */

export const SESSION_COOKIE = "admin_session"
export const CSRF_HEADER = "x-csrf-token"

const SECURITY_HEADERS = {
  "content-security-policy": "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
  "x-frame-options": "DENY",
  "x-content-type-options": "nosniff",
  "referrer-policy": "same-origin"
}

const NO_STORE = { ...SECURITY_HEADERS, "cache-control": "no-store" }

const html = (body: string, status = 200) =>
  HttpServerResponse.text(body, { status, contentType: "text/html; charset=utf-8", headers: NO_STORE })

const withHeaders = (response: HttpServerResponse.HttpServerResponse) =>
  HttpServerResponse.setHeaders(response, NO_STORE)

const refused = (status: number, code: string, message: string): WireError => ({
  status,
  type: status === 401 ? "authentication_error" : "permission_error",
  code,
  param: null,
  message
})

const sessionRequired = refused(401, "session_required", "Log in at /admin first: this needs a dashboard session.")
const csrfFailed = refused(403, "csrf_token_invalid", `Send the page's CSRF token in the ${CSRF_HEADER} header.`)
const originRefused = refused(403, "origin_not_allowed", "A request that changes something must come from the dashboard's own origin.")

const single = (value: string | ReadonlyArray<string> | undefined) => (typeof value === "string" ? value : value?.[0])

const originOf = (url: string | undefined): string | undefined => {
  if (url === undefined) return undefined
  try {
    return new URL(url).origin
  } catch {
    return undefined
  }
}

/**
 * Whether a state-changing request comes from the dashboard's own origin: its `Origin` (else the
 * origin of its `Referer`) is PUBLIC_URL's, or has the host the request was sent to. A request
 * naming neither is refused: browsers send `Origin` on every POST.
 */
const fromOwnOrigin = (request: HttpServerRequest.HttpServerRequest, publicOrigin: string | undefined): boolean => {
  const origin = single(request.headers["origin"]) ?? originOf(single(request.headers["referer"]))
  if (origin === undefined || origin === "null") return false
  if (origin === publicOrigin) return true
  const host = single(request.headers["host"])
  const parsed = originOf(origin)
  return host !== undefined && parsed !== undefined && new URL(parsed).host === host.toLowerCase()
}

/** The two asset files, read once, served under names that carry their content hash (cached for a year). */
const loadAssets = Effect.promise(async () => {
  const { readFile } = process.getBuiltinModule("node:fs/promises")
  const read = async (file: string, extension: string, contentType: string) => {
    const body = await readFile(new URL(`./assets/${file}`, import.meta.url))
    const hash = createHash("sha256").update(body).digest("hex").slice(0, 12)
    return { name: `dashboard.${hash}.${extension}`, body: new Uint8Array(body), contentType }
  }
  return [await read("dashboard.js", "js", "text/javascript; charset=utf-8"), await read("dashboard.css", "css", "text/css; charset=utf-8")] as const
})

const LOGIN_BODY_LIMIT = ByteSize.kibibytes(8)

const readForm = (request: HttpServerRequest.HttpServerRequest) =>
  request.text.pipe(
    Effect.map((text) => new URLSearchParams(text)),
    Effect.provideService(HttpIncomingMessage.MaxBodySize, LOGIN_BODY_LIMIT),
    Effect.orElseSucceed(() => new URLSearchParams())
  )

/** What the login page says when a key is refused: never the key, never which part of it was wrong. */
const loginRefusal = (error: AuthError): { readonly status: number; readonly message: string } =>
  error._tag === "AdminRequired"
    ? { status: 403, message: "That key works, but it is not an admin key: only an admin key (adm_…) opens the dashboard." }
    : error._tag === "MissingCredentials"
    ? { status: 401, message: "Enter an admin key." }
    : { status: 401, message: "That key is not valid: it is unknown, revoked or expired." }

const readGrant = decodeBody(Schema.Struct({ account: Schema.String, ...Grant.fields }), {
  credits: "Credits with at most 3 decimals, e.g. 1000 or 0.5."
})

export const DashboardRoutes = Layer.effectDiscard(Effect.gen(function*() {
  const router = yield* HttpRouter.HttpRouter
  const sessions = yield* DashboardSessions
  const administration = yield* Administration
  // GatewayConfig has already checked PUBLIC_URL's form at start-up.
  const publicUrl = yield* Config.URL("PUBLIC_URL").pipe(Config.option, Effect.orElseSucceed(() => Option.none<URL>()))
  const publicOrigin = Option.getOrUndefined(Option.map(publicUrl, (url) => url.origin))
  const [script, style] = yield* loadAssets
  const assets: AssetNames = { script: script.name, style: style.name }

  const sessionOf = (request: HttpServerRequest.HttpServerRequest) => sessions.current(request.cookies[SESSION_COOKIE])

  /** The cookie: HttpOnly, SameSite=Strict, on /admin only; Secure when the dashboard is reached over https. */
  const cookieOptions = (request: HttpServerRequest.HttpServerRequest) => ({
    httpOnly: true,
    sameSite: "strict" as const,
    path: "/admin",
    secure: publicUrl.pipe(Option.exists((url) => url.protocol === "https:")) ||
      single(request.headers["x-forwarded-proto"]) === "https" || request.protocol === "https"
  })

  for (const asset of [script, style]) {
    yield* router.add(
      "GET",
      `/admin/assets/${asset.name}`,
      Effect.succeed(HttpServerResponse.uint8Array(asset.body, {
        contentType: asset.contentType,
        headers: { ...SECURITY_HEADERS, "cache-control": "public, max-age=31536000, immutable" }
      }))
    )
  }

  yield* router.add(
    "GET",
    "/admin",
    Effect.gen(function*() {
      const session = yield* sessionOf(yield* HttpServerRequest.HttpServerRequest)
      return Option.isSome(session)
        ? html(dashboardPage(assets, { admin: session.value.admin.admin, csrfToken: session.value.csrfToken }))
        : html(loginPage(assets))
    })
  )

  yield* router.add(
    "POST",
    "/admin/login",
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (!fromOwnOrigin(request, publicOrigin)) return html(loginPage(assets, "Log in from this gateway's own page."), 403)
      const form = yield* readForm(request)
      const opened = yield* Effect.result(sessions.login(form.get("key") ?? ""))
      if (opened._tag === "Failure") {
        const refusal = loginRefusal(opened.failure)
        return html(loginPage(assets, refusal.message), refusal.status)
      }
      return yield* HttpServerResponse.redirect("/admin", { status: 303, headers: NO_STORE }).pipe(
        HttpServerResponse.setCookie(SESSION_COOKIE, opened.success.id, { ...cookieOptions(request), maxAge: `${ABSOLUTE_MS} millis` }),
        Effect.orDie
      )
    })
  )

  yield* router.add(
    "POST",
    "/admin/logout",
    Effect.gen(function*() {
      const request = yield* HttpServerRequest.HttpServerRequest
      if (!fromOwnOrigin(request, publicOrigin)) return withHeaders(errorResponse(originRefused))
      const session = yield* sessionOf(request)
      if (Option.isNone(session)) return HttpServerResponse.redirect("/admin", { status: 303, headers: NO_STORE })
      const form = yield* readForm(request)
      if (!sessions.csrfMatches(session.value, form.get("csrf") ?? undefined)) return withHeaders(errorResponse(csrfFailed))
      yield* sessions.logout(session.value.id)
      const { secure, httpOnly, sameSite, path } = cookieOptions(request)
      return yield* HttpServerResponse.redirect("/admin", { status: 303, headers: NO_STORE }).pipe(
        HttpServerResponse.expireCookie(SESSION_COOKIE, { secure, httpOnly, sameSite, path }),
        Effect.orDie
      )
    })
  )

  /**
   * A data call of the dashboard's script: a live session, its CSRF token in the header, and for
   * a POST this origin. The handler runs as the session's admin key.
   */
  const dataRoute = <E, R>(
    method: "GET" | "POST",
    path: `/admin/api/${string}`,
    handler: (request: HttpServerRequest.HttpServerRequest) => Effect.Effect<HttpServerResponse.HttpServerResponse, E, R>
  ) =>
    router.add(
      method,
      path,
      Effect.gen(function*() {
        const request = yield* HttpServerRequest.HttpServerRequest
        if (method === "POST" && !fromOwnOrigin(request, publicOrigin)) return withHeaders(errorResponse(originRefused))
        const session = yield* sessionOf(request)
        if (Option.isNone(session)) return withHeaders(errorResponse(sessionRequired))
        if (!sessions.csrfMatches(session.value, single(request.headers[CSRF_HEADER]))) {
          return withHeaders(errorResponse(csrfFailed))
        }
        const response = yield* handler(request).pipe(Effect.provideService(CurrentAdmin, session.value.admin))
        return withHeaders(response)
      })
    )

  yield* dataRoute("GET", "/admin/api/overview", () =>
    Effect.map(overview.pipe(Effect.provideService(Administration, administration)), (body) => answer(body)))

  yield* dataRoute("POST", "/admin/api/grants", (request) =>
    handled(Effect.gen(function*() {
      const call = yield* adminCall()
      const body = yield* readGrant(request)
      const account = body.account.trim()
      if (account.length === 0) return yield* invalid("account", "Name the account: an org_… id or a user id.", "missing_required_parameter")
      const amount = yield* creditsOf(body.credits, "credits")
      const granted = yield* administration.grant(call, account, amount, body.reason)
      return answer(AdminJson.transfer(granted), { status: 201 })
    })))
}))

/** The dashboard with its sessions, on the core's services. */
export const Dashboard = DashboardRoutes.pipe(Layer.provide(DashboardSessions.layer))
