/**
 * README's error table, row by row, as one table of (error → status, type, code,
 * `x-should-retry`, `retry-after`): each error produced by the real mapping
 * (`fromDomainError` and the HTTP layer's own errors), then, where a request can cause it, over
 * HTTP. The `openai` SDK retries 408/409/429/5xx unless it reads `x-should-retry: false`, so a
 * missing header costs a caller three requests where one would do, and a wrong one leaves a
 * retryable failure unretried.
 */
import { Effect, Layer, Option, Result } from "effect"
import { readFileSync } from "node:fs"
import { connect } from "node:net"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { ImageProvider } from "../../src/application/ports/ImageProvider.ts"
import {
  type ErrorType,
  fromDomainError,
  headersTooLarge,
  internalError,
  invalidJson,
  malformedRequest,
  metricsUnauthorized,
  notFound,
  notReady,
  payloadTooLarge,
  requestTimeout,
  resourceNotFound,
  secondsToNextMonth,
  shuttingDown,
  starting,
  unsupportedMediaType,
  type WireError
} from "../../src/adapters/http/ErrorMapping.ts"
import * as E from "../../src/domain/Errors.ts"
import { validateGeneration } from "../../src/domain/GenerationRequest.ts"
import { decodeCreateImageRequest } from "../../src/adapters/http/ImagesWire.ts"
import { DEFAULT_MODEL_ID, DEFAULT_MODELS } from "../../src/domain/Models.ts"
import { serviceJwt, WORLD } from "../../specs/support/Harness.ts"
import { makeScriptedProvider } from "../../specs/support/ScriptedProvider.ts"
import { bearerHeader, generate, http, startGateway, type TestGateway, UNICORN } from "./support/HttpHarness.ts"

const NOW = Date.UTC(2026, 10, 25, 12, 0, 0)
const wire = (e: E.DomainError) => fromDomainError(e, NOW)

/** The wire decoding and the domain's validation of a generation body, then the mapping of its failure. */
const coreFailure = (body: unknown): WireError => {
  const decoded = decodeCreateImageRequest(body, DEFAULT_MODELS, DEFAULT_MODEL_ID)
  const failure = Result.isFailure(decoded)
    ? decoded.failure
    : Result.match(validateGeneration(decoded.success, DEFAULT_MODELS, DEFAULT_MODEL_ID), {
      onFailure: (e) => e,
      onSuccess: () => undefined
    })
  if (failure === undefined) throw new Error(`the body ${JSON.stringify(body)} is valid`)
  return wire(failure)
}

// --- HTTP ------------------------------------------------------------------------------------------

interface Answer {
  readonly status: number
  readonly header: (name: string) => string | null
  readonly json: any
}

const fromHttp = (r: Awaited<ReturnType<typeof http>>): Answer => ({ status: r.status, header: (n) => r.headers.get(n), json: r.json })

/**
 * Writes `request` to a raw connection and reads one answer: up to its `Content-Length`, or until
 * the server closes the connection (a server that lingers to drain a refused body is not waited for).
 */
const raw = (origin: string, request: string) =>
  new Promise<Answer>((resolve, reject) => {
    const { hostname, port } = new URL(origin)
    const socket = connect(Number(port), hostname, () => socket.write(request))
    let received = ""
    let done = false
    const parse = () => {
      const end = received.indexOf("\r\n\r\n")
      if (end < 0) return undefined
      const head = received.slice(0, end)
      const body = received.slice(end + 4)
      const headers = new Map(head.split("\r\n").slice(1).map((line) => {
        const at = line.indexOf(":")
        return [line.slice(0, at).trim().toLowerCase(), line.slice(at + 1).trim()] as const
      }))
      return { head, body, headers }
    }
    const finish = () => {
      const answer = parse()
      if (done || answer === undefined) return
      done = true
      socket.destroy()
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(answer.head)?.[1]),
        header: (name) => answer.headers.get(name.toLowerCase()) ?? null,
        json: answer.body === "" ? undefined : JSON.parse(answer.body)
      })
    }
    socket.on("data", (data) => {
      received += data.toString("latin1")
      const answer = parse()
      const length = answer?.headers.get("content-length")
      if (answer !== undefined && length !== undefined && Buffer.byteLength(answer.body, "latin1") >= Number(length)) finish()
    })
    socket.on("error", (e) => (done ? undefined : reject(e)))
    socket.on("close", () => {
      finish()
      if (!done) reject(new Error(`no answer: ${JSON.stringify(received.slice(0, 200))}`))
    })
    socket.setTimeout(5_000, () => socket.destroy(new Error("the server kept the connection open")))
  })

/** Provider outcomes beyond the scripted ones: `[reject:invalid_request|credential]`, `[not_configured]`, `[die]`; `[hang]` is recorded. */
const hanging = new Set<string>()
const provider = Layer.effect(
  ImageProvider,
  Effect.gen(function*() {
    const scripted = yield* Effect.provide(ImageProvider.use(Effect.succeed), makeScriptedProvider({ tiny: true }).layer)
    return ImageProvider.of({
      generate: (call) => {
        const byok = Option.isSome(call.apiKey)
        const reject = /\[reject:(invalid_request|credential)\]/.exec(call.prompt)?.[1] as "invalid_request" | "credential" | undefined
        if (reject !== undefined) return Effect.fail(new E.ProviderRejected({ provider: call.provider, reason: reject, byok }))
        if (call.prompt.includes("[not_configured]")) return Effect.fail(new E.ProviderNotConfigured({ provider: call.provider }))
        if (call.prompt.includes("[die]")) return Effect.die(new Error("a provider adapter's bug"))
        if (call.prompt.includes("[hang]")) hanging.add(call.prompt)
        return scripted.generate(call)
      }
    })
  })
)

const METRICS_TOKEN = "metrics-token-for-retry-headers"
let gateway: TestGateway
beforeAll(async () => {
  gateway = await startGateway({ provider, metricsToken: METRICS_TOKEN })
})
afterAll(() => gateway.close())

const post = (headers: Record<string, string>, body: unknown = UNICORN) => async () => fromHttp(await generate(gateway.origin, headers, body))
const alice = bearerHeader(WORLD.alice.key)
const withPrompt = (prompt: string) => ({ ...UNICORN, prompt: `${UNICORN.prompt} ${prompt}` })
const jwt = (claims: Record<string, unknown>, options: Parameters<typeof serviceJwt>[1] = {}) => Effect.runPromise(serviceJwt(claims, options))

const untilHanging = async (prompt: string) => {
  for (let i = 0; i < 400 && !hanging.has(prompt); i++) await new Promise((r) => setTimeout(r, 5))
  if (!hanging.has(prompt)) throw new Error("the provider was never called")
}

// --- the table -----------------------------------------------------------------------------------

interface Row {
  readonly code: string
  /** Which case of the code, when it has several. */
  readonly variant?: string
  readonly status: number
  readonly type: ErrorType
  /** `x-should-retry`: "false" where a retry cannot help; null (absent) where the SDK may retry. */
  readonly noRetry: "false" | null
  /** `retry-after`: an exact value, "next month" (seconds to the next month, UTC), or null (absent). */
  readonly retryAfter: string | null
  /** README's `connection: close` (answers the HTTP layer closes; checked over HTTP). */
  readonly close?: true
  readonly wire: () => WireError
  /** Causes the error with a real request, when one can. */
  readonly http?: () => Promise<Answer>
}

const row = (code: string, status: number, type: ErrorType, noRetry: "false" | null, wireOf: () => WireError, more: Partial<Row> = {}): Row => ({
  code,
  status,
  type,
  noRetry,
  retryAfter: null,
  wire: wireOf,
  ...more
})

const BAD = "invalid_request_error" as const
const AUTH = "authentication_error" as const
const DENIED = "permission_error" as const

const TABLE: ReadonlyArray<Row> = [
  // 400: the user context.
  row("missing_user_context", 400, BAD, null, () => wire(new E.MissingUserContext({ service: "s" })), { http: post(bearerHeader(WORLD.strict.key)) }),
  row("invalid_user_id", 400, BAD, null, () => wire(new E.InvalidUserId({ received: "x" })), { http: post({ ...bearerHeader(WORLD.presentonKey), "x-user-id": "nobody" }) }),
  row("conflicting_user_context", 400, BAD, null, () => wire(new E.ConflictingUserContext({ header: "a", claim: "b" })), {
    http: async () => fromHttp(await generate(gateway.origin, { ...bearerHeader(await jwt({ user_id: WORLD.alice.id })), "x-user-id": WORLD.carol.id }))
  }),
  // 400: the body, as the core validates it.
  row("missing_required_parameter", 400, BAD, null, () => coreFailure({ model: "dall-e-3" }), { http: post(alice, { model: "dall-e-3" }) }),
  row("invalid_type", 400, BAD, null, () => coreFailure({ prompt: 42 }), { http: post(alice, { prompt: 42 }) }),
  row("invalid_value", 400, BAD, null, () => coreFailure({ prompt: "x", size: "999x999" }), { http: post(alice, { prompt: "x", size: "999x999" }) }),
  row("integer_out_of_range", 400, BAD, null, () => coreFailure({ prompt: "x", n: 11, model: "dall-e-2" }), { http: post(alice, { prompt: "x", n: 11, model: "dall-e-2" }) }),
  row("string_above_max_length", 400, BAD, null, () => coreFailure({ prompt: "x".repeat(1001), model: "dall-e-2" }), {
    http: post(alice, { prompt: "x".repeat(1001), model: "dall-e-2" })
  }),
  row("invalid_request_body", 400, BAD, null, () => coreFailure(["prompt"]), { http: post(alice, ["prompt"]) }),
  row("invalid_idempotency_key", 400, BAD, null, () => wire(new E.InvalidRequest({ param: "Idempotency-Key", code: "invalid_idempotency_key", detail: "The Idempotency-Key header must be 1 to 255 characters." })), {
    http: post({ ...alice, "idempotency-key": "k".repeat(300) })
  }),
  row("model_not_found", 400, BAD, null, () => coreFailure({ prompt: "x", model: "dall-e-9" }), { http: post(alice, { prompt: "x", model: "dall-e-9" }) }),
  row("invalid_json", 400, BAD, null, invalidJson, {
    http: async () =>
      fromHttp(await http(gateway.origin, "/v1/images/generations", { headers: { ...alice, "content-type": "application/json" }, body: "{not json" }))
  }),
  // 400: the provider refused; asking again gets the same answer.
  row("content_policy_violation", 400, BAD, "false", () => wire(new E.ProviderRejected({ provider: "openai", reason: "content_policy", byok: false })), {
    http: post(alice, withPrompt("[fail:rejected]"))
  }),
  row("provider_rejected_request", 400, BAD, "false", () => wire(new E.ProviderRejected({ provider: "openai", reason: "invalid_request", byok: false })), {
    http: post(alice, withPrompt("[reject:invalid_request]"))
  }),
  row("byok_key_rejected", 400, BAD, "false", () => wire(new E.ProviderRejected({ provider: "openai", reason: "credential", byok: true })), {
    http: post(bearerHeader(WORLD.bob.key), withPrompt("[reject:credential]"))
  }),
  // 401.
  row("missing_credentials", 401, AUTH, null, () => wire(new E.MissingCredentials()), { http: post({}) }),
  row("malformed_authorization", 401, AUTH, null, () => wire(new E.MalformedAuthorization({ reason: "x" })), { http: post({ authorization: "Token abc" }) }),
  row("invalid_api_key", 401, AUTH, null, () => wire(new E.InvalidApiKey({ state: "unknown", prefix: "sk-abc" })), { http: post(bearerHeader("sk-no-such-key-0123456789")) }),
  row("invalid_token", 401, AUTH, null, () => wire(new E.InvalidToken({ reason: "bad signature" })), {
    http: async () => fromHttp(await generate(gateway.origin, bearerHeader(await jwt({}, { secret: "not-the-secret" }))))
  }),
  row("token_expired", 401, AUTH, null, () => wire(new E.TokenExpired()), {
    http: async () => {
      const now = Math.floor(Date.now() / 1000)
      return fromHttp(await generate(gateway.origin, bearerHeader(await jwt({}, { iat: now - 1000, exp: now - 600 }))))
    }
  }),
  row("invalid_session", 401, AUTH, null, () => wire(new E.InvalidSession({ state: "unknown" })), { http: post({ cookie: "session_token=sess_nope" }) }),
  row("invalid_metrics_token", 401, AUTH, null, metricsUnauthorized, {
    http: async () => fromHttp(await http(gateway.origin, "/metrics", { headers: bearerHeader("not-the-metrics-token") }))
  }),
  // 402: only a top-up helps.
  row("insufficient_credits", 402, "insufficient_quota", "false", () => wire(new E.InsufficientCredits({ account: "a", required: 2, available: 1 })), {
    http: post(bearerHeader(WORLD.vip.key), { prompt: "x", model: "local" })
  }),
  // 403.
  row("user_context_forbidden", 403, DENIED, null, () => wire(new E.UserContextForbidden({ reason: "user_credential" })), {
    http: post({ ...bearerHeader(WORLD.closed.key), "x-user-id": WORLD.alice.id })
  }),
  row("unknown_user", 403, DENIED, null, () => wire(new E.UnknownUser({ user: "u" })), { http: post({ ...bearerHeader(WORLD.presentonKey), "x-user-id": WORLD.ghost }) }),
  row("account_suspended", 403, DENIED, null, () => wire(new E.AccountSuspended({ user: "u" })), { http: post(bearerHeader(WORLD.suspended.key)) }),
  row("scope_denied", 403, DENIED, null, () => wire(new E.ScopeDenied({ scope: "images:generate", granted: [] })), { http: post(bearerHeader(WORLD.scoped.key)) }),
  // What Node answers before a request exists.
  row("malformed_request", 400, BAD, "false", malformedRequest, { close: true, http: () => raw(gateway.origin, "HELLO THERE\r\n\r\n") }),
  row("request_header_fields_too_large", 431, BAD, "false", headersTooLarge, {
    close: true,
    http: () => raw(gateway.origin, `GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Padding: ${"a".repeat(20_000)}\r\n\r\n`)
  }),
  // A slow client may well succeed the next time: retryable (ClientErrors.test.ts sends it).
  row("request_timeout", 408, BAD, null, () => requestTimeout(10_000, 30_000), { close: true }),
  // 404.
  row("unknown_url", 404, BAD, null, () => notFound("GET", "/nope"), { http: async () => fromHttp(await http(gateway.origin, "/v1/nope")) }),
  row("image_not_found", 404, BAD, null, () => resourceNotFound("image_not_found", "No such image: image URLs are valid for 60 minutes."), {
    http: async () => fromHttp(await http(gateway.origin, `/v1/images/files/${"0".repeat(32)}.png`))
  }),
  row("byok_key_not_found", 404, BAD, null, () => resourceNotFound("byok_key_not_found", "No key 'byok_nope' among your own provider keys."), {
    http: async () => fromHttp(await http(gateway.origin, "/api/v1/llm/byok/keys/byok_nope", { method: "DELETE", headers: alice }))
  }),
  // 409.
  row("idempotency_conflict", 409, BAD, "false", () => wire(new E.IdempotencyConflict({ id: "k", reason: "different_content" })), {
    variant: "a different body",
    http: async () => {
      await generate(gateway.origin, { ...alice, "idempotency-key": "retry-headers-conflict" })
      return fromHttp(await generate(gateway.origin, { ...alice, "idempotency-key": "retry-headers-conflict" }, withPrompt("another")))
    }
  }),
  row("idempotency_conflict", 409, BAD, null, () => wire(new E.IdempotencyConflict({ id: "k", reason: "in_progress" })), {
    variant: "still in progress",
    retryAfter: "1",
    http: async () => {
      const body = withPrompt("in flight [hang]")
      const headers = { ...alice, "content-type": "application/json", "idempotency-key": "retry-headers-in-flight" }
      const controller = new AbortController()
      const first = fetch(`${gateway.origin}/v1/images/generations`, {
        method: "POST",
        headers,
        body: JSON.stringify(body),
        signal: controller.signal
      }).catch(() => undefined)
      await untilHanging(body.prompt)
      const second = fromHttp(await generate(gateway.origin, headers, body))
      controller.abort()
      await first
      return second
    }
  }),
  // 413, 415: the same bytes are refused again.
  row("request_too_large", 413, BAD, "false", () => payloadTooLarge(1024 * 1024), {
    close: true,
    http: () =>
      raw(
        gateway.origin,
        `POST /v1/images/generations HTTP/1.1\r\nHost: gateway\r\nContent-Type: application/json\r\nAuthorization: Bearer ${WORLD.alice.key}\r\nContent-Length: 2000000\r\n\r\n`
      )
  }),
  row("unsupported_media_type", 415, BAD, "false", () => unsupportedMediaType("text/plain"), {
    http: async () =>
      fromHttp(await http(gateway.origin, "/v1/images/generations", { headers: { ...alice, "content-type": "text/plain" }, body: JSON.stringify(UNICORN) }))
  }),
  // 429.
  row("monthly_cap_exceeded", 429, "insufficient_quota", "false", () => wire(new E.MonthlyCapExceeded({ account: "a", cap: 1, spent: 1, required: 1 })), {
    retryAfter: "next month",
    http: async () => {
      const capped = bearerHeader(WORLD.capped.key)
      for (let i = 0; i < 2; i++) expect((await generate(gateway.origin, capped)).status).toBe(200)
      return fromHttp(await generate(gateway.origin, capped))
    }
  }),
  row("provider_rate_limited", 429, "rate_limit_error", null, () => wire(new E.ProviderRateLimited({ provider: "openai" })), {
    variant: "no retry time from the provider",
    retryAfter: "10"
  }),
  row("provider_rate_limited", 429, "rate_limit_error", null, () => wire(new E.ProviderRateLimited({ provider: "openai", retryAfterSeconds: 7 })), {
    variant: "the provider's retry time",
    retryAfter: "7",
    http: post(alice, withPrompt("[fail:rate_limited]"))
  }),
  // 500.
  row("service_org_not_configured", 500, "server_error", "false", () => wire(new E.ServiceOrgNotConfigured({ service: "s" })), { http: post(bearerHeader(WORLD.orphan.key)) }),
  row("internal_error", 500, "server_error", null, internalError, { variant: "a defect", http: post(alice, withPrompt("[die]")) }),
  row("internal_error", 500, "server_error", null, () => wire(new E.HoldAlreadyResolved({ hold: "h", status: "settled" })), { variant: "a ledger error that escaped" }),
  // 502, 503, 504: the provider.
  row("provider_malformed_response", 502, "api_error", null, () => wire(new E.ProviderMalformed({ provider: "openai" })), { http: post(alice, withPrompt("[fail:malformed]")) }),
  // README's table leaves this header out; a rejected platform credential needs an operator, not a retry.
  row("provider_credential_rejected", 502, "api_error", "false", () => wire(new E.ProviderRejected({ provider: "openai", reason: "credential", byok: false })), {
    http: post(alice, withPrompt("[reject:credential]"))
  }),
  row("provider_unavailable", 503, "api_error", null, () => wire(new E.ProviderUnavailable({ provider: "openai" })), { http: post(alice, withPrompt("[fail:unavailable]")) }),
  row("provider_not_configured", 503, "api_error", "false", () => wire(new E.ProviderNotConfigured({ provider: "openai" })), { http: post(alice, withPrompt("[not_configured]")) }),
  row("store_unavailable", 503, "server_error", null, notReady),
  row("shutting_down", 503, "server_error", null, shuttingDown, { close: true }),
  row("provider_timeout", 504, "api_error", null, () => wire(new E.ProviderTimeout({ provider: "openai", timeoutMs: 1000 })), { http: post(alice, withPrompt("[fail:timeout]")) }),
  // Not in README's table: the port is open but the gateway is not ready yet.
  row("starting", 503, "server_error", null, starting, { retryAfter: "1" })
]

/** Codes of the table that README's error table does not list. */
const UNDOCUMENTED = new Set(["starting"])

const name = (r: Row) => `${r.code}${r.variant === undefined ? "" : ` (${r.variant})`}`
const expectedRetryAfter = (r: Row) => (r.retryAfter === "next month" ? String(secondsToNextMonth(NOW)) : r.retryAfter)

// --- README ----------------------------------------------------------------------------------------

interface ReadmeRow {
  readonly status: number
  readonly type: string
  readonly codes: ReadonlyArray<string>
  /** Codes the row marks `x-should-retry: false` (the whole row, or one code in parentheses). */
  readonly noRetry: ReadonlyArray<string>
  readonly retryAfter: boolean
  readonly close: boolean
  readonly line: string
}

const readmeErrorTable = (): ReadonlyArray<ReadmeRow> => {
  const readme = readFileSync(new URL("../../README.md", import.meta.url), "utf8")
  const section = readme.split("\n### Errors\n")[1]?.split("\n### ")[0] ?? ""
  return section.split("\n").filter((line) => /^\| \d{3} \|/.test(line)).map((line) => {
    const [, status = "", type = "", codesCell = "", , headers = ""] = line.split("|").map((cell) => cell.trim())
    // Codes are the backticked snake_case words, not those in parentheses (a param such as `prompt`).
    const codes = [...codesCell.matchAll(/(?<!\()`([a-z_]+)`/g)].map((m) => m[1]!)
    const inline = [...codesCell.matchAll(/`([a-z_]+)` \(`x-should-retry: false`\)/g)].map((m) => m[1]!)
    return {
      status: Number(status),
      type: type.replaceAll("`", ""),
      codes,
      noRetry: headers.includes("x-should-retry: false") ? codes : inline,
      retryAfter: headers.includes("retry-after"),
      // "`connection: close` if …" is a condition the table's request does not meet.
      close: /`connection: close`(?! (if|when))/.test(headers),
      line
    }
  })
}

// --- tests -----------------------------------------------------------------------------------------

describe("retry headers, from one table of README's errors", () => {
  it.each(TABLE.map((r) => ({ ...r, name: name(r) })))("$name → $status $code, x-should-retry $noRetry", (r) => {
    const w = r.wire()
    expect([w.status, w.type, w.code]).toEqual([r.status, r.type, r.code])
    expect(w.headers?.["x-should-retry"] ?? null).toBe(r.noRetry)
    expect(w.headers?.["retry-after"] ?? null).toBe(expectedRetryAfter(r))
    expect(w.message.length).toBeGreaterThan(10)
  })

  it("covers every row of README's error table, with its status, type and headers", () => {
    const readme = readmeErrorTable()
    expect(readme.length).toBeGreaterThan(15)
    const problems: Array<string> = []
    for (const documented of readme) {
      expect(documented.codes.length, documented.line).toBeGreaterThan(0)
      for (const code of documented.codes) {
        const rows = TABLE.filter((r) => r.code === code)
        if (rows.length === 0) {
          problems.push(`${code}: in README, not in the table`)
          continue
        }
        for (const r of rows) {
          if (r.status !== documented.status || r.type !== documented.type) {
            problems.push(`${name(r)}: README says ${documented.status} ${documented.type}, the table ${r.status} ${r.type}`)
          }
          if (documented.close && r.close !== true) problems.push(`${name(r)}: README says connection: close`)
        }
        if (documented.noRetry.includes(code) && !rows.some((r) => r.noRetry === "false")) {
          problems.push(`${code}: README says x-should-retry: false`)
        }
        if (documented.retryAfter && !rows.some((r) => r.retryAfter !== null)) problems.push(`${code}: README says retry-after`)
      }
    }
    const documentedCodes = new Set(readme.flatMap((d) => d.codes))
    for (const r of TABLE) {
      if (!documentedCodes.has(r.code) && !UNDOCUMENTED.has(r.code)) problems.push(`${r.code}: in the table, not in README`)
    }
    expect(problems).toEqual([])
  })

  it("marks not retryable exactly what a retry cannot fix", () => {
    // The SDK retries 408, 409, 429 and 5xx by itself; of those, these are final.
    const final = TABLE.filter((r) => r.noRetry === "false").map(name).sort()
    expect(final).toEqual([
      "byok_key_rejected",
      "content_policy_violation",
      "idempotency_conflict (a different body)",
      "insufficient_credits",
      "malformed_request",
      "monthly_cap_exceeded",
      "provider_credential_rejected",
      "provider_not_configured",
      "provider_rejected_request",
      "request_header_fields_too_large",
      "request_too_large",
      "service_org_not_configured",
      "unsupported_media_type"
    ])
  })

  describe("over HTTP", () => {
    it.each(TABLE.filter((r) => r.http !== undefined).map((r) => ({ ...r, name: name(r) })))("$name → $status $code, x-should-retry $noRetry", async (r) => {
      const answer = await r.http!()
      expect(answer.status).toBe(r.status)
      expect(answer.json?.error).toMatchObject({ type: r.type, code: r.code })
      expect(answer.header("content-type")).toBe("application/json")
      expect(answer.header("x-should-retry")).toBe(r.noRetry)
      if (r.retryAfter === "next month") {
        // The server's own clock: between 1 s and 31 days away.
        expect(Number(answer.header("retry-after"))).toBeGreaterThan(0)
        expect(Number(answer.header("retry-after"))).toBeLessThanOrEqual(31 * 86_400)
      } else {
        expect(answer.header("retry-after")).toBe(r.retryAfter)
      }
      if (r.close === true) expect(answer.header("connection")).toBe("close")
    })
  })
})
