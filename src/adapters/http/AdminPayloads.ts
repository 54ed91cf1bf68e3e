import { Schema } from "effect"
import { SCOPES } from "../../domain/Entities.ts"
import { PROVIDERS } from "../../domain/Models.ts"

/**
 * The admin API's request bodies, as `/openapi.json` publishes them and the handlers decode them
 * (`AdminRequests.decodeBody`). Amounts are credits as a JSON number or a decimal string, read
 * exactly into millicredits by the handlers; times are unix seconds or ISO 8601.
 */

export const CreditsInput = Schema.Union([Schema.Number, Schema.String]).annotate({
  description: "Credits with at most 3 decimals, as a JSON number (e.g. 1000 or 0.5) or a decimal string (e.g. \"1000.125\").",
  examples: [1000]
})

const TimeInput = Schema.Union([Schema.Int, Schema.String]).annotate({
  description: "Unix seconds, or an ISO 8601 date or time (e.g. \"2026-03-01\" or \"2026-03-01T12:00:00Z\")."
})

const Scope = Schema.Literals(SCOPES)
const Scopes = Schema.Array(Scope)
const Policy = Schema.Literals(["optional", "required", "forbidden"]).annotate({
  description: "Whether the service may (optional), must (required) or must not (forbidden) name a user with X-User-ID."
})
const TierName = Schema.String.annotate({ description: "A tier: a lowercase letter, then lowercase letters, digits or '_' (e.g. managed, professional)." })
const ServiceNameInput = Schema.String.annotate({ description: "Lowercase letters, digits and '-' (e.g. presenton-service)." })
const OrgIdInput = Schema.String.annotate({ description: "org_ followed by lowercase letters, digits and '_' (e.g. org_presenton_service)." })
const UserIdInput = Schema.String.annotate({ description: "A user UUID." })
const Reason = Schema.String.annotate({ description: "Why, for the journal and the audit log: 1 to 500 characters." })

const RateLimitInput = Schema.NullOr(Schema.Number).annotate({ description: "A whole number from 1 to 1000000; null: no limit." })

const RateLimitsInput = Schema.Struct({
  requests_per_minute: Schema.optionalKey(RateLimitInput),
  per_key_requests_per_minute: Schema.optionalKey(RateLimitInput),
  concurrent: Schema.optionalKey(RateLimitInput)
})

export const CreateService = Schema.Struct({
  name: ServiceNameInput,
  organization: Schema.optionalKey(Schema.Struct({
    id: OrgIdInput,
    name: Schema.optionalKey(Schema.String),
    tier: Schema.optionalKey(TierName)
  })).annotate({ description: "The organization billed when no user is named; created when it does not exist (default tier managed)." }),
  user_id_policy: Schema.optionalKey(Policy),
  scopes: Schema.optionalKey(Scopes).annotate({ description: "The scopes its credentials may use; all when absent." }),
  jwt_secret: Schema.optionalKey(Schema.String).annotate({ description: "The HS256 secret it signs JWTs with (at least 16 characters); never shown again." }),
  initial_credits: Schema.optionalKey(CreditsInput).annotate({ description: "Granted to the organization." }),
  rate_limits: Schema.optionalKey(RateLimitsInput).annotate({
    description: "Its limits from the start (1 to 1000000; null or absent: no limit). Over a limit, a generation answers 429 rate_limit_exceeded with Retry-After."
  })
}).annotate({ identifier: "AdminCreateService" })

export const UpdateService = Schema.Struct({
  user_id_policy: Schema.optionalKey(Policy),
  scopes: Schema.optionalKey(Schema.NullOr(Scopes)).annotate({ description: "null: every scope." }),
  jwt_secret: Schema.optionalKey(Schema.NullOr(Schema.String)).annotate({ description: "null removes it (the service then cannot sign JWTs)." }),
  organization_id: Schema.optionalKey(OrgIdInput).annotate({ description: "An existing organization to bill." }),
  rate_limits: Schema.optionalKey(RateLimitsInput).annotate({
    description: "Limits to set (1 to 1000000) or remove (null); those not sent are kept. Over a limit, a generation answers 429 rate_limit_exceeded with Retry-After."
  })
}).annotate({ identifier: "AdminUpdateService" })

export const IssueKey = Schema.Struct({
  scopes: Schema.optionalKey(Scopes).annotate({ description: "Narrows the owner's scopes; the owner's when absent." }),
  expires_at: Schema.optionalKey(TimeInput)
}).annotate({ identifier: "AdminIssueKey" })

export const RotateKeys = Schema.Struct({
  overlap_seconds: Schema.Int.annotate({
    description: "How long the service's current keys keep working beside the new one (deprecated, with Sunset headers): 0 to 2592000 (30 days)."
  })
}).annotate({ identifier: "AdminRotateKeys" })

export const CreateAdminKey = Schema.Struct({
  name: Schema.String.annotate({ description: "Who or what uses it: 1 to 64 letters, digits, '_', '.', '@' or '-' (e.g. ops)." }),
  expires_at: Schema.optionalKey(TimeInput)
}).annotate({ identifier: "AdminCreateAdminKey" })

export const ImportKey = Schema.Struct({
  service: Schema.optionalKey(ServiceNameInput),
  user: Schema.optionalKey(UserIdInput),
  admin: Schema.optionalKey(Schema.String).annotate({ description: "An admin key's name." }),
  key: Schema.String.annotate({ description: "The literal key (8 to 512 characters, no spaces), stored hashed." }),
  scopes: Schema.optionalKey(Scopes)
}).annotate({ identifier: "AdminImportKey", description: "Exactly one of service, user or admin names the owner." })

export const DeprecateKey = Schema.Struct({
  sunset: TimeInput.annotate({ description: "When the key is retired: unix seconds or an ISO 8601 date." })
}).annotate({ identifier: "AdminDeprecateKey" })

export const CreateUser = Schema.Struct({
  id: Schema.optionalKey(UserIdInput).annotate({ description: "A fresh UUID when absent." }),
  tier: Schema.optionalKey(TierName),
  billing_org: Schema.optionalKey(OrgIdInput),
  monthly_cap: Schema.optionalKey(CreditsInput),
  initial_credits: Schema.optionalKey(CreditsInput)
}).annotate({ identifier: "AdminCreateUser" })

export const UpdateUser = Schema.Struct({
  status: Schema.optionalKey(Schema.Literals(["active", "suspended"])),
  tier: Schema.optionalKey(TierName),
  monthly_cap: Schema.optionalKey(Schema.NullOr(CreditsInput)).annotate({ description: "null removes the cap." }),
  billing_org: Schema.optionalKey(Schema.NullOr(OrgIdInput)).annotate({ description: "null removes the membership." })
}).annotate({ identifier: "AdminUpdateUser" })

export const CreateOrganization = Schema.Struct({
  id: OrgIdInput,
  name: Schema.String,
  tier: Schema.optionalKey(TierName),
  bills_members: Schema.optionalKey(Schema.Boolean),
  monthly_cap: Schema.optionalKey(CreditsInput),
  initial_credits: Schema.optionalKey(CreditsInput)
}).annotate({ identifier: "AdminCreateOrganization" })

export const UpdateOrganization = Schema.Struct({
  name: Schema.optionalKey(Schema.String),
  tier: Schema.optionalKey(TierName),
  bills_members: Schema.optionalKey(Schema.Boolean),
  monthly_cap: Schema.optionalKey(Schema.NullOr(CreditsInput)).annotate({ description: "null removes the cap." })
}).annotate({ identifier: "AdminUpdateOrganization" })

export const Grant = Schema.Struct({
  credits: CreditsInput,
  reason: Reason
}).annotate({ identifier: "AdminGrant" })

export const AlertThreshold = Schema.Struct({
  credits: Schema.NullOr(CreditsInput).annotate({
    description: "Alert when the available balance goes below this many credits (0 or more); null goes back to the default."
  })
}).annotate({ identifier: "AdminAlertThreshold" })

export const Refund = Schema.Struct({
  credits: Schema.optionalKey(CreditsInput).annotate({ description: "What to refund; all that is left of the charge when absent." }),
  reason: Reason
}).annotate({ identifier: "AdminRefund" })

const PriceKey = {
  model: Schema.String,
  quality: Schema.String.annotate({ description: "A quality the model is priced under, or *." }),
  size: Schema.String.annotate({ description: "A size or size class the model is priced under, or *." })
}

export const UpdatePricing = Schema.Struct({
  prices: Schema.optionalKey(Schema.Array(Schema.Struct({ ...PriceKey, credits: CreditsInput }))).annotate({
    description: "Rows added, or replacing the row with the same model, quality and size; credits per image, 0 or more."
  }),
  remove_prices: Schema.optionalKey(Schema.Array(Schema.Struct(PriceKey))),
  multipliers: Schema.optionalKey(Schema.Record(Schema.String, Schema.NullOr(Schema.Int))).annotate({
    description: "Basis points per tier (10000 = list price, 12000 = +20 %); null removes a tier's own multiplier."
  }),
  default_multiplier: Schema.optionalKey(Schema.Int).annotate({ description: "Basis points for tiers with none of their own." }),
  credit_exempt: Schema.optionalKey(Schema.Array(Schema.String)).annotate({ description: "Replaces the list of tiers never charged." }),
  billing_enabled: Schema.optionalKey(Schema.Boolean).annotate({ description: "The global switch: false charges no one." }),
  routes: Schema.optionalKey(Schema.Record(Schema.String, Schema.NullOr(Schema.String))).annotate({
    description: `Model id → the provider that serves it (${PROVIDERS.join(", ")}), over PROVIDER_ROUTES and the catalogue's default; null removes a model's route. BYOK calls still go to their key's provider.`
  })
}).annotate({ identifier: "AdminUpdatePricing", description: "What is left out stays as it is." })
