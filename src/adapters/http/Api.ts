import { Context, Schema } from "effect"
import { HttpApi, HttpApiEndpoint, HttpApiGroup, HttpApiMiddleware, HttpApiSchema, HttpApiSecurity, OpenApi } from "effect/http-api"
import type { Principal } from "../../domain/Principal.ts"
import {
  AdminAccountsGroup,
  AdminAlertsGroup,
  AdminAuditGroup,
  AdminCreditsGroup,
  AdminKeysGroup,
  AdminPricingGroup,
  AdminServicesGroup
} from "./AdminApi.ts"
import { E400, E401, E402, E403, E404, E409, E413, E415, E429, E500, E502, E503, E504, ERROR_STATUSES } from "./ApiErrors.ts"
import { CreateImageRequest, ImagesResponse } from "./ImagesWire.ts"

/**
 * The HTTP contract: endpoints and their wire schemas, OpenAI-compatible where OpenAI defines
 * the shape. It drives routing, `/openapi.json` and `/docs`. The generation endpoints read their
 * bodies themselves (`handleRaw`) and decode them with the very `CreateImageRequest` published
 * here (`ImagesWire.ts`), so that every failure, a body that is not JSON included, answers in
 * OpenAI's error shape with the parameter to fix.
 */

/** Marks an operation that needs no credentials (removed from the document by `describeDocument`). */
const PUBLIC = "x-public"

// --- errors ------------------------------------------------------------------------------------

export { OpenAIErrorBody } from "./ApiErrors.ts"

const AUTH_ERRORS = [E400, E401, E403, E500] as const

// --- who is calling -----------------------------------------------------------------------------

/** The caller of an account endpoint, resolved by `Authenticated` before the handler runs. */
export class CurrentPrincipal extends Context.Service<CurrentPrincipal, Principal>()("image-gateway/http/CurrentPrincipal") {}

/**
 * Resolves the caller of the account endpoints (credits, BYOK) exactly as for a generation — the
 * bearer token or the session cookie, and X-User-ID — for the scope the group needs, before the
 * body is read; a refusal is answered in OpenAI's error shape (`AuthMiddleware.ts`).
 */
export class Authenticated extends HttpApiMiddleware.Service<Authenticated, { provides: CurrentPrincipal }>()(
  "image-gateway/http/Authenticated",
  { security: { bearer: HttpApiSecurity.bearer } }
) {}

// --- images ------------------------------------------------------------------------------------

/**
 * The generation headers, for the document only. Declaring them on the endpoints would decode
 * them with Schema on every request for nothing: they are optional strings, which every header
 * value is, and `GenerationEndpoint` (Credentials.ts) reads and checks them. `describeDocument`
 * adds them to the three operations.
 */
const GENERATION_HEADERS = [
  {
    name: "x-user-id",
    in: "header",
    schema: { type: "string", description: "The user a service acts for (a user UUID); that user pays." },
    required: false
  },
  {
    name: "idempotency-key",
    in: "header",
    schema: {
      type: "string",
      description: "1–255 characters. The same key from the same payer within 24 h replays the response without a new charge."
    },
    required: false
  }
]

/** The three paths of the generation endpoint (one handler; the generation lane serves them too). */
export const GENERATION_PATHS = {
  generate: "/v1/images/generations",
  generateLlm: "/api/v1/llm/images/generations",
  generateLegacy: "/api/v1/llm/image/generations"
} as const

/** Marks the operations that take the generation headers. */
const GENERATION = "x-generation"

const generationEndpoint = <const Name extends string, const Path extends `/${string}`>(name: Name, path: Path) =>
  HttpApiEndpoint.post(name, path, {
    payload: CreateImageRequest,
    success: ImagesResponse,
    error: [E400, E401, E402, E403, E409, E413, E415, E429, E500, E502, E503, E504]
  }).annotateMerge(OpenApi.annotations({ override: { [GENERATION]: true } }))

export class ImagesGroup extends HttpApiGroup.make("images")
  .add(
    generationEndpoint("generate", GENERATION_PATHS.generate).annotateMerge(OpenApi.annotations({
      summary: "Generate images (OpenAI-compatible; baseURL …/v1)"
    })),
    generationEndpoint("generateLlm", GENERATION_PATHS.generateLlm).annotateMerge(OpenApi.annotations({
      summary: "Generate images (the openai SDK with baseURL …/api/v1/llm)"
    })),
    generationEndpoint("generateLegacy", GENERATION_PATHS.generateLegacy).annotateMerge(OpenApi.annotations({
      summary: "Generate images (legacy path)"
    })),
    HttpApiEndpoint.get("file", "/v1/images/files/:file", {
      params: { file: Schema.String.annotate({ description: "`<id>.png` from a generation's `url`." }) },
      success: Schema.Uint8Array.pipe(HttpApiSchema.asUint8Array({ contentType: "image/png" })),
      error: E404
    }).annotateMerge(OpenApi.annotations({
      summary: "An image generated with response_format 'url' (valid 60 minutes)",
      override: { [PUBLIC]: true }
    }))
  )
  .annotateMerge(OpenApi.annotations({
    title: "Images",
    description: "OpenAI's image generation on three paths, billed to the payer the credentials resolve to, and the images kept for response_format 'url'."
  }))
{}

// --- models ------------------------------------------------------------------------------------

export const ModelPrice = Schema.Struct({
  quality: Schema.String,
  size: Schema.String,
  credits: Schema.Number.annotate({ description: "Base price per image, before the tier multiplier." })
})

export const Model = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("model"),
  created: Schema.Int,
  owned_by: Schema.String,
  sizes: Schema.Array(Schema.String),
  qualities: Schema.Array(Schema.String),
  response_formats: Schema.Array(Schema.String),
  max_n: Schema.Int,
  prices: Schema.Array(ModelPrice)
}).annotate({ identifier: "Model" })

export const ModelList = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(Model)
}).annotate({ identifier: "ModelList" })

export class ModelsGroup extends HttpApiGroup.make("models")
  .add(
    HttpApiEndpoint.get("list", "/v1/models", { success: ModelList }).annotateMerge(OpenApi.annotations({
      summary: "Image models with their base prices (no credentials needed)",
      override: { [PUBLIC]: true }
    }))
  )
  .annotateMerge(OpenApi.annotations({ title: "Models", description: "The image models, what each accepts and its base prices." }))
{}

// --- credits -----------------------------------------------------------------------------------

export const CreditsBody = Schema.Struct({
  user_id: Schema.String.annotate({ description: "The payer's account id (a user UUID or an org_… id)." }),
  credits_remaining: Schema.Number,
  millicredits_remaining: Schema.Int,
  tier: Schema.String,
  monthly_cap: Schema.NullOr(Schema.Number).annotate({ description: "Credits per calendar month (UTC), or null." }),
  monthly_spent: Schema.Number,
  account_type: Schema.Literals(["user", "org"])
}).annotate({ identifier: "Credits" })

export const JournalEntry = Schema.Struct({
  id: Schema.String,
  kind: Schema.Literals(["grant", "settle", "refund"]),
  credits: Schema.Number.annotate({ description: "Signed, from the account's side: + in, − out." }),
  millicredits: Schema.Int,
  created: Schema.Int,
  reason: Schema.String,
  hold: Schema.NullOr(Schema.String)
}).annotate({ identifier: "JournalEntry" })

export const CreditsHistory = Schema.Struct({
  object: Schema.Literal("list"),
  user_id: Schema.String,
  data: Schema.Array(JournalEntry)
}).annotate({ identifier: "CreditsHistory" })

const payerHeaders = Schema.Struct({
  "x-user-id": Schema.optionalKey(Schema.String).annotate({ description: "As for a generation: the user a service acts for." })
})

export class CreditsGroup extends HttpApiGroup.make("credits")
  .add(
    HttpApiEndpoint.get("balance", "/api/v1/llm/credits", {
      headers: payerHeaders,
      success: CreditsBody,
      error: AUTH_ERRORS
    }).annotateMerge(OpenApi.annotations({
      summary: "The payer's balance, resolved exactly as for a generation (scope credits:read)"
    })),
    HttpApiEndpoint.get("history", "/api/v1/llm/credits/history", {
      headers: payerHeaders,
      query: { limit: Schema.optionalKey(Schema.String).annotate({ description: "1–500, default 50." }) },
      success: CreditsHistory,
      error: AUTH_ERRORS
    }).annotateMerge(OpenApi.annotations({ summary: "The payer's journal, newest first (scope credits:read)" }))
  )
  .middleware(Authenticated)
  .annotateMerge(OpenApi.annotations({ title: "Credits", description: "The payer's prepaid credits: balance and journal." }))
{}

// --- BYOK --------------------------------------------------------------------------------------

export const ByokKeyView = Schema.Struct({
  id: Schema.String,
  object: Schema.Literal("byok_key"),
  provider: Schema.String,
  last4: Schema.String.annotate({ description: "The last 4 characters; the key itself is never returned." }),
  enabled: Schema.Boolean,
  created: Schema.Int
}).annotate({ identifier: "ByokKey" })

export const ByokKeyList = Schema.Struct({
  object: Schema.Literal("list"),
  data: Schema.Array(ByokKeyView)
}).annotate({ identifier: "ByokKeyList" })

export const AddByokKey = Schema.Struct({
  provider: Schema.Literals(["openai", "openrouter"]),
  api_key: Schema.String.annotate({ description: "Stored for calls billed to you; shown again only as its last 4 characters." })
}).annotate({ identifier: "AddByokKey" })

export const UpdateByokKey = Schema.Struct({ enabled: Schema.Boolean }).annotate({ identifier: "UpdateByokKey" })

export const Deleted = Schema.Struct({ id: Schema.String, object: Schema.Literal("byok_key"), deleted: Schema.Boolean })

export const ByokKeyTest = Schema.Struct({
  id: Schema.String,
  provider: Schema.String,
  ok: Schema.Boolean.annotate({ description: "Whether the provider accepted the key on a cheap authenticated call (no image made)." }),
  error: Schema.optionalKey(Schema.Struct({
    code: Schema.String.annotate({ description: "byok_key_rejected, provider_rate_limited, provider_unavailable, provider_timeout, provider_malformed_response or provider_not_configured" }),
    message: Schema.String.annotate({ description: "The gateway's own words; the provider's text is never returned." })
  }))
}).annotate({ identifier: "ByokKeyTest" })

const keyParams = { id: Schema.String }

export class ByokGroup extends HttpApiGroup.make("byok")
  .add(
    HttpApiEndpoint.get("list", "/api/v1/llm/byok/keys", { success: ByokKeyList, error: AUTH_ERRORS }).annotateMerge(
      OpenApi.annotations({ summary: "The payer's own provider keys (never the keys themselves)" })
    ),
    HttpApiEndpoint.post("add", "/api/v1/llm/byok/keys", {
      payload: AddByokKey,
      success: ByokKeyView.pipe(HttpApiSchema.status(201)),
      error: [...AUTH_ERRORS, E413, E415]
    }).annotateMerge(OpenApi.annotations({ summary: "Add a provider key, used for calls billed to the payer" })),
    HttpApiEndpoint.patch("update", "/api/v1/llm/byok/keys/:id", {
      params: keyParams,
      payload: UpdateByokKey,
      success: ByokKeyView,
      error: [...AUTH_ERRORS, E404, E413, E415]
    }).annotateMerge(OpenApi.annotations({ summary: "Enable or disable a provider key" })),
    HttpApiEndpoint.delete("remove", "/api/v1/llm/byok/keys/:id", {
      params: keyParams,
      success: Deleted,
      error: [...AUTH_ERRORS, E404]
    }).annotateMerge(OpenApi.annotations({ summary: "Remove a provider key" })),
    HttpApiEndpoint.post("test", "/api/v1/llm/byok/keys/:id/test", {
      params: keyParams,
      success: ByokKeyTest,
      error: [...AUTH_ERRORS, E404]
    }).annotateMerge(OpenApi.annotations({
      summary: "Test a provider key: the provider is asked, with that key, whether it accepts it (no image is made)"
    }))
  )
  .middleware(Authenticated)
  .annotateMerge(OpenApi.annotations({
    title: "BYOK",
    description: "The payer's own provider keys (scope byok:manage). A call billed to an account with an enabled key for the model's provider uses that key and moves no credits."
  }))
{}

// --- system ------------------------------------------------------------------------------------

export const Health = Schema.Struct({ status: Schema.String })

export class SystemGroup extends HttpApiGroup.make("system")
  .add(
    HttpApiEndpoint.get("healthz", "/healthz", { success: Health }).annotateMerge(OpenApi.annotations({
      summary: "Liveness",
      override: { [PUBLIC]: true }
    })),
    HttpApiEndpoint.get("readyz", "/readyz", { success: Health, error: E503 }).annotateMerge(OpenApi.annotations({
      summary: "Readiness: the store answers",
      override: { [PUBLIC]: true }
    }))
  )
  .annotateMerge(OpenApi.annotations({ title: "System", description: "Liveness and readiness probes." }))
{}

/** Removes `additionalProperties: false` from a request schema and the objects nested in it (not through `$ref`s). */
const allowUnknownFields = (schema: unknown): void => {
  if (Array.isArray(schema)) return schema.forEach(allowUnknownFields)
  if (typeof schema !== "object" || schema === null) return
  const object = schema as Record<string, unknown>
  if (object["additionalProperties"] === false) delete object["additionalProperties"]
  for (const [key, value] of Object.entries(object)) if (key !== "$ref") allowUnknownFields(value)
}

/** The admin API's security scheme (`AdminAuthenticated`): its operations take an admin key and nothing else. */
const ADMIN_SECURITY = "adminKey"

/**
 * Adds what the generator cannot know: the credentials (a bearer token — service key, user
 * key or service JWT — or a browser session), which operations need none, and what each
 * error status means.
 */
const describeDocument = (spec: Record<string, any>) => {
  const schemas: Record<string, Record<string, any>> = spec["components"]?.["schemas"] ?? {}
  for (const operations of Object.values<Record<string, any>>(spec["paths"] ?? {})) {
    for (const operation of Object.values<Record<string, any>>(operations)) {
      // Request bodies ignore fields they do not know (SPEC §7); the generator forbids them.
      for (const media of Object.values<Record<string, any>>(operation["requestBody"]?.["content"] ?? {})) {
        const ref: unknown = media["schema"]?.["$ref"]
        const name = typeof ref === "string" ? ref.split("/").at(-1)! : undefined
        if (name !== undefined && schemas[name] !== undefined) allowUnknownFields(schemas[name])
      }
      if (operation[GENERATION] === true) {
        operation["parameters"] = [...(operation["parameters"] ?? []), ...GENERATION_HEADERS]
      }
      delete operation[GENERATION]
      const admin = (operation["security"] ?? []).some((r: Record<string, unknown>) => ADMIN_SECURITY in r)
      if (operation[PUBLIC] === true) operation["security"] = []
      else if (admin) operation["security"] = [{ [ADMIN_SECURITY]: [] }]
      else delete operation["security"]
      delete operation[PUBLIC]
      for (const [status, response] of Object.entries<Record<string, any>>(operation["responses"] ?? {})) {
        const meaning = ERROR_STATUSES[Number(status)]
        if (meaning !== undefined) response["description"] = meaning
      }
    }
  }
  return {
    ...spec,
    info: { ...spec["info"], license: { name: "Proprietary (private package)" } },
    // Relative: the document is served by the gateway it describes, under its own origin.
    servers: [{ url: "/", description: "This gateway" }],
    components: {
      ...spec["components"],
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description: "A service key (sk-…), a user API key (uc_…) or a service JWT (HS256, claims service, exp, iat, optional user_id)."
        },
        session: { type: "apiKey", in: "cookie", name: "session_token" },
        [ADMIN_SECURITY]: {
          type: "http",
          scheme: "bearer",
          description: "An admin key (adm_…; the demo's admin_demo_key). It works on the admin API only, and nothing else works there."
        }
      }
    },
    security: [{ bearer: [] }, { session: [] }]
  }
}

export class Api extends HttpApi.make("image-gateway")
  .add(ImagesGroup, ModelsGroup, CreditsGroup, ByokGroup, SystemGroup)
  .add(AdminServicesGroup, AdminKeysGroup, AdminAccountsGroup, AdminCreditsGroup, AdminPricingGroup, AdminAuditGroup, AdminAlertsGroup)
  .annotateMerge(OpenApi.annotations({
    title: "Image Gateway",
    version: "0.1.0",
    description: "OpenAI-compatible image generation with service authentication, prepaid credits and bring-your-own-key routing. " +
      "Errors have OpenAI's shape {error: {message, type, param, code}}; every response carries X-Request-ID. " +
      "The admin API (/api/v1/admin/…, the groups 'Admin: …') takes an admin key and nothing else; amounts there are credits " +
      "with up to 3 decimals and exact millicredits, times unix seconds. A deprecated key's responses carry Deprecation, Sunset " +
      "and a Link to the JWT migration guide (/docs/jwt-migration).",
    transform: describeDocument
  }))
{}
