import { Context, type Effect } from "effect"
import type { Bucket } from "../../domain/TimeBuckets.ts"

/** Where the refused request was going: an image generation, or any other endpoint. */
export type AuthFailureRoute = "generation" | "other"

/**
 * `unauthenticated`: who is calling could not be established (a 401: no credential, an unknown,
 * revoked or expired key, a JWT with a bad signature or expired). `service_refused`: a service
 * credential that authenticated was refused (a missing or unknown user, its user policy, a scope).
 */
export type AuthFailureKind = "unauthenticated" | "service_refused"

/** One refused request. Nothing secret: no token, no key hash. */
export interface AuthFailure {
  readonly at: number
  readonly route: AuthFailureRoute
  readonly kind: AuthFailureKind
  /** The error code the caller was given, e.g. `invalid_api_key`, `missing_credentials`, `unknown_user`. */
  readonly reason: string
  /**
   * The service the credential belongs to, when that is known without trusting the credential:
   * a revoked or expired key whose record was found, a JWT naming a registered service whose
   * signature or lifetime failed, or the service refused after authenticating.
   */
  readonly service?: string | undefined
  /** The stored, public prefix of a key whose record was found (never the secret). */
  readonly keyPrefix?: string | undefined
}

export interface AuthFailureFilter {
  readonly route?: AuthFailureRoute | undefined
  readonly kind?: AuthFailureKind | undefined
  readonly service?: string | undefined
}

/** Refusals per bucket (its start, epoch ms) and kind; buckets with none are absent. */
export interface AuthFailureCount {
  readonly bucket: number
  readonly kind: AuthFailureKind
  readonly count: number
}

export interface ServiceFailureCount {
  readonly service: string
  readonly count: number
}

/** The log of refused requests: append-only, written in batches by `AuthFailures`. */
export class AuthFailureLog extends Context.Service<AuthFailureLog, {
  /** Appends in order, in one write. */
  readonly append: (failures: ReadonlyArray<AuthFailure>) => Effect.Effect<void>
  /** Refusals with `since <= at < until` that match every field of `filter` that is set. */
  readonly count: (since: number, until: number, filter?: AuthFailureFilter) => Effect.Effect<number>
  /** Refusals attributed to a service (`service` set, either kind, any route) in [since, until), per service; services with none are absent. */
  readonly countPerService: (since: number, until: number) => Effect.Effect<ReadonlyArray<ServiceFailureCount>>
  /** Refusals on `route` in [since, until) per UTC bucket and kind. */
  readonly perBucket: (query: {
    readonly since: number
    readonly until: number
    readonly bucket: Bucket
    readonly route: AuthFailureRoute
  }) => Effect.Effect<ReadonlyArray<AuthFailureCount>>
}>()("image-gateway/AuthFailureLog") {}
