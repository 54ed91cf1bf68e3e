import { Schema } from "effect"

/** A user is identified by a UUID (any version). */
export const UserId = Schema.String.check(Schema.isUUID()).pipe(Schema.brand("UserId"))
export type UserId = typeof UserId.Type

/** Organizations are `org_<slug>`, e.g. `org_presenton_service`. */
export const OrgId = Schema.String.check(Schema.isPattern(/^org_[a-z0-9][a-z0-9_]{0,62}$/)).pipe(Schema.brand("OrgId"))
export type OrgId = typeof OrgId.Type

/** Services are slugs, e.g. `presenton-service`. */
export const ServiceName = Schema.String.check(Schema.isPattern(/^[a-z0-9][a-z0-9-]{0,62}$/)).pipe(
  Schema.brand("ServiceName")
)
export type ServiceName = typeof ServiceName.Type

export const KeyId = Schema.String.check(Schema.isMinLength(1)).pipe(Schema.brand("KeyId"))
export type KeyId = typeof KeyId.Type

/** The id of a hold; it is also the idempotency id of the reserve that created it. */
export const HoldId = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200)).pipe(Schema.brand("HoldId"))
export type HoldId = typeof HoldId.Type

/** The id of a posted transfer (grant, settlement, refund); also its idempotency id. */
export const TransferId = Schema.String.check(Schema.isMinLength(1), Schema.isMaxLength(200)).pipe(
  Schema.brand("TransferId")
)
export type TransferId = typeof TransferId.Type

export const RequestId = Schema.String.check(Schema.isPattern(/^[A-Za-z0-9._:-]{1,128}$/)).pipe(
  Schema.brand("RequestId")
)
export type RequestId = typeof RequestId.Type

/**
 * A ledger account. Customer accounts use the owner's own id (a user UUID or an `org_…` id,
 * which cannot collide); the system accounts are named `system:…`.
 */
export const AccountId = Schema.String.check(Schema.isMinLength(1)).pipe(Schema.brand("AccountId"))
export type AccountId = typeof AccountId.Type

export const IssuanceAccount = "system:issuance" as AccountId
export const RevenueAccount = "system:revenue" as AccountId

export const accountOfUser = (id: UserId): AccountId => id as string as AccountId
export const accountOfOrg = (id: OrgId): AccountId => id as string as AccountId
export const isSystemAccount = (id: AccountId): boolean => id.startsWith("system:")

const isUserId = Schema.is(UserId)
const isOrgId = Schema.is(OrgId)
export const parseUserId = (s: string): UserId | undefined => (isUserId(s) ? s : undefined)
export const parseOrgId = (s: string): OrgId | undefined => (isOrgId(s) ? s : undefined)
export const isServiceName = Schema.is(ServiceName)
export const isRequestId = Schema.is(RequestId)
