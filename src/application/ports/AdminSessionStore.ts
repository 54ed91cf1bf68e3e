import { Context, type Effect, type Option } from "effect"
import type { KeyId } from "../../domain/Ids.ts"

/**
 * The operators' dashboard sessions (`/admin`): which admin key logged in, and until when. Kept
 * in the store so that any instance behind a load balancer serves any session. Only a hash of
 * the session id is stored: whoever reads the table cannot present a session.
 */
export interface AdminSession {
  /** Hex SHA-256 of the session id the cookie carries. */
  readonly idHash: string
  /** The admin key that logged in; the admin API's audit names it as the actor. */
  readonly keyId: KeyId
  readonly createdAt: number
  readonly lastSeenAt: number
  /** Fixed at login: no session lives longer, however busy. */
  readonly expiresAt: number
}

export class AdminSessionStore extends Context.Service<AdminSessionStore, {
  readonly create: (session: AdminSession) => Effect.Effect<void>
  readonly find: (idHash: string) => Effect.Effect<Option.Option<AdminSession>>
  /** Records a use; a session that is gone stays gone. */
  readonly touch: (idHash: string, at: number) => Effect.Effect<void>
  readonly remove: (idHash: string) => Effect.Effect<void>
  /** Removes every session idle since before `idleBefore` or expired at `now`. */
  readonly removeStale: (now: number, idleBefore: number) => Effect.Effect<void>
}>()("image-gateway/AdminSessionStore") {}
