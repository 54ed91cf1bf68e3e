import { Clock, Duration, Effect, Redacted, Result, Schema, SchemaIssue } from "effect"
import { HttpApiBuilder } from "effect/http-api"
import { randomBytes } from "node:crypto"
import { CreditLedger } from "../../application/CreditLedger.ts"
import { ByokStore } from "../../application/ports/ByokStore.ts"
import { ProviderKeyCheck } from "../../application/ports/ProviderKeyCheck.ts"
import { Provisioning } from "../../application/Provisioning.ts"
import type { ByokKey } from "../../domain/Entities.ts"
import { type ProviderError, ProviderTimeout } from "../../domain/Errors.ts"
import type { AccountId } from "../../domain/Ids.ts"
import { toCredits } from "../../domain/Money.ts"
import type { Transfer } from "../../domain/Ledger.ts"
import { AddByokKey, Api, CurrentPrincipal, UpdateByokKey } from "./Api.ts"
import { invalidParameter, resourceNotFound } from "./ErrorMapping.ts"
import { HttpFailure, readJsonBody } from "./Requests.ts"
import { deprecationHeaders, failureResponse, json } from "./Responses.ts"

const DEFAULT_HISTORY = 50
const MAX_HISTORY = 500
const MIN_KEY_LENGTH = 8
const MAX_KEY_LENGTH = 512
/** How long "test this key" waits for the provider. */
const KEY_CHECK_TIMEOUT_MS = 15_000

const invalid = (param: string, message: string) => new HttpFailure({ wire: invalidParameter(param, message) })

const historyLimit = (raw: string | undefined) => {
  if (raw === undefined) return Effect.succeed(DEFAULT_HISTORY)
  const n = Number(raw)
  return Number.isInteger(n) && n >= 1 && n <= MAX_HISTORY
    ? Effect.succeed(n)
    : Effect.fail(invalid("limit", `Invalid value for 'limit': it must be an integer between 1 and ${MAX_HISTORY}.`))
}

/** A journal entry from the account's side: money in is positive, money out negative. */
const entryOf = (account: AccountId) => (t: Transfer) => {
  const signed = t.credit === account ? t.amount : -t.amount
  return {
    id: t.id,
    kind: t.kind,
    credits: toCredits(signed),
    millicredits: signed,
    created: Math.floor(t.at / 1000),
    reason: t.reason,
    hold: t.hold ?? null
  }
}

/** A caller's own key as shown to them: never the key, only its last 4 characters. */
const keyView = (k: ByokKey) => ({
  id: k.id,
  object: "byok_key" as const,
  provider: k.provider,
  last4: k.last4,
  enabled: k.enabled,
  created: Math.floor(k.createdAt / 1000)
})

const keyNotFound = (id: string) =>
  new HttpFailure({
    wire: resourceNotFound("byok_key_not_found", `No key '${id.slice(0, 64)}' among your own provider keys. GET /api/v1/llm/byok/keys lists them.`)
  })

/**
 * Why a key check did not pass, in the gateway's own words (the provider's text may carry
 * internal ids or echo the key, and is never returned).
 */
const checkFailure = (e: ProviderError): { readonly code: string; readonly message: string } => {
  switch (e._tag) {
    case "ProviderRejected":
      return e.reason === "credential"
        ? {
          code: "byok_key_rejected",
          message: `${e.provider} refused this key: it is invalid, revoked, or lacks access. Replace it with a working key from your ${e.provider} account.`
        }
        : { code: "provider_rejected_request", message: `${e.provider} refused the check made with this key. Check the key's permissions in your ${e.provider} account.` }
    case "ProviderRateLimited":
      return { code: "provider_rate_limited", message: `${e.provider} is rate limiting this key, so the check could not finish. Try again later.` }
    case "ProviderUnavailable":
      return { code: "provider_unavailable", message: `${e.provider} could not be reached to check this key. Try again later.` }
    case "ProviderTimeout":
      return { code: "provider_timeout", message: `${e.provider} did not answer within ${e.timeoutMs} ms. Try again later.` }
    case "ProviderMalformed":
      return { code: "provider_malformed_response", message: `${e.provider} answered the check in a form the gateway could not read. Try again later.` }
    case "ProviderNotConfigured":
      return { code: "provider_not_configured", message: `This gateway cannot check ${e.provider} keys.` }
  }
}

const standardIssues = SchemaIssue.makeFormatterStandardSchemaV1()

/**
 * A JSON body decoded with the payload schema the API publishes for the endpoint (so the
 * document and the server agree); a refusal names the first field that is wrong, in the words
 * of `messages`.
 */
const decodePayload = <S extends Schema.Codec<any, any>>(schema: S, messages: Record<string, string>) => {
  const decode = Schema.decodeUnknownResult(schema)
  return (body: unknown): Effect.Effect<S["Type"], HttpFailure> => {
    if (typeof body !== "object" || body === null || Array.isArray(body)) {
      return Effect.fail(new HttpFailure({ wire: invalidParameter("body", "The request body must be a JSON object.", "invalid_request_body") }))
    }
    const decoded = decode(body)
    if (Result.isSuccess(decoded)) return Effect.succeed(decoded.success)
    const key = standardIssues(decoded.failure.issue).issues[0]?.path?.[0]
    const param = typeof key === "object" && key !== null ? String(key.key) : String(key ?? "body")
    return Effect.fail(invalid(param, messages[param] ?? `Invalid value for '${param}'.`))
  }
}

const readAddKey = decodePayload(AddByokKey, {
  provider: `Invalid value for 'provider': use one of ${AddByokKey.fields.provider.literals.map((p) => `'${p}'`).join(", ")}.`,
  api_key: "Missing required parameter: 'api_key' (a string)."
})
const readUpdateKey = decodePayload(UpdateByokKey, { enabled: "Invalid type for 'enabled': expected a boolean." })

/** The caller, resolved by `Authenticated`, with the deprecation headers its credential earns. */
const caller = Effect.gen(function*() {
  const principal = yield* CurrentPrincipal
  return { principal, headers: deprecationHeaders(principal, yield* Clock.currentTimeMillis) }
})

/**
 * The caller's payer account: its balance and journal (`credits:read`) and its own provider
 * keys (`byok:manage`). `Authenticated` resolves the payer first, exactly as for a generation,
 * X-User-ID included. Adding and updating a key read their bodies themselves (`handleRaw`), so
 * that a body too large, not JSON or not an object is answered 413 / 415 / 400 as for a
 * generation (the body limit and the lingering close are the gateway's own), then decode them
 * with the payload schema the API publishes; each field's refusal names the field.
 */
export const CreditsHandlers = HttpApiBuilder.group(
  Api,
  "credits",
  Effect.fn(function*(handlers) {
    const ledger = yield* CreditLedger

    return handlers
      .handle("balance", () =>
        Effect.gen(function*() {
          const { principal, headers } = yield* caller
          const payer = principal.payer
          const balance = yield* ledger.balance(payer.account)
          const spent = yield* ledger.spentThisMonth(payer.account)
          return json({
            user_id: payer.account,
            credits_remaining: toCredits(balance.available),
            millicredits_remaining: balance.available,
            tier: payer.tier,
            monthly_cap: payer.monthlyCap === undefined ? null : toCredits(payer.monthlyCap),
            monthly_spent: toCredits(spent),
            account_type: payer.kind
          }, { headers })
        }).pipe(Effect.catch(failureResponse)))
      .handle("history", ({ query }) =>
        Effect.gen(function*() {
          const { principal, headers } = yield* caller
          const limit = yield* historyLimit(query.limit)
          const account = principal.payer.account
          const transfers = yield* ledger.history(account, limit)
          return json({ object: "list", user_id: account, data: transfers.map(entryOf(account)) }, { headers })
        }).pipe(Effect.catch(failureResponse)))
  })
)

export const ByokHandlers = HttpApiBuilder.group(
  Api,
  "byok",
  Effect.fn(function*(handlers) {
    const byok = yield* ByokStore
    const provisioning = yield* Provisioning
    const keyCheck = yield* ProviderKeyCheck
    const payer = Effect.map(caller, ({ headers, principal }) => ({ account: principal.payer.account, headers }))

    const view = (account: AccountId, id: string) =>
      Effect.flatMap(byok.list(account), (keys) => {
        const key = keys.find((k) => k.id === id)
        return key === undefined ? Effect.fail(keyNotFound(id)) : Effect.succeed(keyView(key))
      })

    return handlers
      .handle("list", () =>
        Effect.gen(function*() {
          const { account, headers } = yield* payer
          const keys = yield* byok.list(account)
          return json({ object: "list", data: keys.map(keyView) }, { headers })
        }).pipe(Effect.catch(failureResponse)))
      .handleRaw("add", ({ request }) =>
        Effect.gen(function*() {
          const { account, headers } = yield* payer
          const { provider, api_key: key } = yield* Effect.flatMap(readJsonBody(request), readAddKey)
          const trimmed = key.trim()
          if (trimmed.length < MIN_KEY_LENGTH || trimmed.length > MAX_KEY_LENGTH) {
            return yield* invalid("api_key", `Invalid 'api_key': it must be ${MIN_KEY_LENGTH} to ${MAX_KEY_LENGTH} characters.`)
          }
          // A random id: adding the same key twice gives two entries, each removable on its own.
          const id = yield* provisioning.addOwnKey(
            account,
            provider,
            Redacted.make(trimmed),
            `byok_${randomBytes(8).toString("hex")}`
          )
          return json(yield* view(account, id), { status: 201, headers })
        }).pipe(Effect.catch(failureResponse)))
      .handleRaw("update", ({ params, request }) =>
        Effect.gen(function*() {
          const { account, headers } = yield* payer
          const { enabled } = yield* Effect.flatMap(readJsonBody(request), readUpdateKey)
          if (!(yield* byok.setEnabled(account, params.id, enabled))) return yield* keyNotFound(params.id)
          return json(yield* view(account, params.id), { headers })
        }).pipe(Effect.catch(failureResponse)))
      .handle("remove", ({ params }) =>
        Effect.gen(function*() {
          const { account, headers } = yield* payer
          if (!(yield* byok.remove(account, params.id))) return yield* keyNotFound(params.id)
          return json({ id: params.id, object: "byok_key", deleted: true }, { headers })
        }).pipe(Effect.catch(failureResponse)))
      .handle("test", ({ params }) =>
        Effect.gen(function*() {
          const { account, headers } = yield* payer
          const key = (yield* byok.list(account)).find((k) => k.id === params.id)
          if (key === undefined) return yield* keyNotFound(params.id)
          // A disabled key is checked too: one may test a key before enabling it.
          const outcome = yield* keyCheck.check(key.provider, key.secret).pipe(
            Effect.timeoutOrElse({
              duration: Duration.millis(KEY_CHECK_TIMEOUT_MS),
              orElse: () => Effect.fail(new ProviderTimeout({ provider: key.provider, timeoutMs: KEY_CHECK_TIMEOUT_MS }))
            }),
            Effect.result
          )
          return json(
            Result.isSuccess(outcome)
              ? { id: key.id, provider: key.provider, ok: true }
              : { id: key.id, provider: key.provider, ok: false, error: checkFailure(outcome.failure) },
            { headers }
          )
        }).pipe(Effect.catch(failureResponse)))
  })
)
