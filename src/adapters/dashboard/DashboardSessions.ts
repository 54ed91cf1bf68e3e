import { Clock, Context, Effect, Layer, Option } from "effect"
import { createHash, randomBytes, timingSafeEqual } from "node:crypto"
import { PrincipalResolver } from "../../application/PrincipalResolver.ts"
import { AdminSessionStore } from "../../application/ports/AdminSessionStore.ts"
import { KeyStore } from "../../application/ports/KeyStore.ts"
import { credentialOfToken } from "../../domain/Credential.ts"
import type { AuthError } from "../../domain/Errors.ts"
import type { AdminPrincipal } from "../../domain/Principal.ts"

/**
 * The dashboard's sessions: an admin key logs in once and the browser then holds an opaque
 * session id (256 random bits) in an HttpOnly cookie, never the key. The store keeps a hash of
 * the id with the admin key's id; a session ends after 8 hours idle, 24 hours after login, on
 * logout, or as soon as its admin key is revoked or expires (checked on every request).
 *
 * The CSRF token is derived from the session id (a hash under another label), so it needs no
 * storage, is the same on every instance, and cannot be computed without the cookie, which
 * script cannot read: the page hands it to its own script, which sends it back in a header.
 */

export const IDLE_MS = 8 * 3600_000
export const ABSOLUTE_MS = 24 * 3600_000
/** A session's last use is written at most once a minute: reading the page is not a write each time. */
const TOUCH_EVERY_MS = 60_000

const sha256 = (label: string, id: string) => createHash("sha256").update(`${label}:${id}`).digest()

/** What the store keys a session by: never the id itself. */
const idHashOf = (id: string) => sha256("admin-session", id).toString("hex")

/** The session's CSRF token (base64url). */
const csrfTokenOf = (id: string) => sha256("admin-csrf", id).toString("base64url")

/** Whether `sent` is the session's CSRF token, in constant time. */
const csrfMatches = (id: string, sent: string | undefined): boolean => {
  if (sent === undefined) return false
  const expected = Buffer.from(csrfTokenOf(id))
  const given = Buffer.from(sent)
  return given.length === expected.length && timingSafeEqual(given, expected)
}

/** A live session, as a request presents it. */
export interface OpenSession {
  /** The cookie's value, to derive the CSRF token from and to end the session with. */
  readonly id: string
  readonly admin: AdminPrincipal
  readonly csrfToken: string
}

export class DashboardSessions extends Context.Service<DashboardSessions, {
  /** A new session for an admin key; any other credential is refused as the admin API refuses it. */
  readonly login: (key: string) => Effect.Effect<OpenSession, AuthError>
  /** The session a cookie value names, while it lives. */
  readonly current: (id: string | undefined) => Effect.Effect<Option.Option<OpenSession>>
  readonly logout: (id: string) => Effect.Effect<void>
  readonly csrfMatches: (session: OpenSession, sent: string | undefined) => boolean
}>()("image-gateway/dashboard/DashboardSessions") {
  static readonly layer = Layer.effect(
    DashboardSessions,
    Effect.gen(function*() {
      const resolver = yield* PrincipalResolver
      const store = yield* AdminSessionStore
      const keys = yield* KeyStore

      const open = (id: string, admin: AdminPrincipal): OpenSession => ({ id, admin, csrfToken: csrfTokenOf(id) })

      /** Whether the admin key behind a session still works: revoking it ends its sessions. */
      const keyWorks = (admin: AdminPrincipal, now: number) =>
        Effect.map(keys.find(admin.keyId), (found) =>
          Option.match(found, {
            onNone: () => undefined,
            onSome: (key) =>
              key.status === "active" && (key.expiresAt === undefined || key.expiresAt > now) && key.owner._tag === "Admin"
                ? { admin: key.owner.admin, keyId: key.id }
                : undefined
          }))

      return DashboardSessions.of({
        login: (key) =>
          Effect.gen(function*() {
            const admin = yield* resolver.resolveAdmin(credentialOfToken(key.trim()))
            const now = yield* Clock.currentTimeMillis
            const id = randomBytes(32).toString("base64url")
            // Logins are rare: each clears the sessions that have lapsed, so the table stays small.
            yield* store.removeStale(now, now - IDLE_MS)
            yield* store.create({ idHash: idHashOf(id), keyId: admin.keyId, createdAt: now, lastSeenAt: now, expiresAt: now + ABSOLUTE_MS })
            return open(id, admin)
          }),
        current: (id) =>
          Effect.gen(function*() {
            // A session id is 43 base64url characters; anything else is not worth a look-up.
            if (id === undefined || !/^[A-Za-z0-9_-]{43}$/.test(id)) return Option.none()
            const hash = idHashOf(id)
            const found = yield* store.find(hash)
            if (Option.isNone(found)) return Option.none()
            const now = yield* Clock.currentTimeMillis
            const session = found.value
            const admin = now < session.expiresAt && session.lastSeenAt > now - IDLE_MS
              ? yield* keyWorks({ admin: "", keyId: session.keyId }, now)
              : undefined
            if (admin === undefined) {
              yield* store.remove(hash)
              return Option.none()
            }
            if (now - session.lastSeenAt >= TOUCH_EVERY_MS) yield* store.touch(hash, now)
            return Option.some(open(id, admin))
          }),
        logout: (id) => store.remove(idHashOf(id)),
        csrfMatches: (session, sent) => csrfMatches(session.id, sent)
      })
    })
  )
}
