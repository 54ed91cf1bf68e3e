import { Effect, Exit, Scope } from "effect"
import { describe, expect, it } from "vitest"
import { authFailureReason } from "../../src/application/AuthFailures.ts"
import { makeBufferedWriter } from "../../src/application/BufferedWriter.ts"
import { fromDomainError } from "../../src/adapters/http/ErrorMapping.ts"
import {
  AccountSuspended,
  AdminRequired,
  type AuthError,
  ConflictingUserContext,
  InvalidApiKey,
  InvalidSession,
  InvalidToken,
  InvalidUserId,
  MalformedAuthorization,
  MissingCredentials,
  MissingUserContext,
  ScopeDenied,
  ServiceOrgNotConfigured,
  TokenExpired,
  UnknownUser,
  UserContextForbidden
} from "../../src/domain/Errors.ts"

describe("auth failure reasons", () => {
  it("are the error codes the caller is given, for every refusal of a credential", () => {
    const errors: ReadonlyArray<AuthError> = [
      new MissingCredentials(),
      new MalformedAuthorization({ reason: "x" }),
      new InvalidApiKey({ state: "revoked", prefix: "sk-x" }),
      new InvalidToken({ reason: "bad signature" }),
      new TokenExpired(),
      new InvalidSession({ state: "expired" }),
      new MissingUserContext({ service: "s" }),
      new UserContextForbidden({ reason: "service_policy", service: "s" }),
      new InvalidUserId({ received: "x" }),
      new UnknownUser({ user: "u" }),
      new AccountSuspended({ user: "u" }),
      new ConflictingUserContext({ header: "a", claim: "b" }),
      new ServiceOrgNotConfigured({ service: "s" }),
      new ScopeDenied({ scope: "images:generate", granted: [] })
    ]
    for (const e of errors) expect(authFailureReason(e), e._tag).toBe(fromDomainError(e, 0).code)
    // An operator's key on the image API is not a failed credential of a caller.
    expect(authFailureReason(new AdminRequired({ presented: "service key" }))).toBeNull()
  })
})

describe("BufferedWriter", () => {
  it("drops and counts what does not fit, writes the rest in order, and writes what waits when its scope closes", async () => {
    const written: Array<number> = []
    const stats = await Effect.runPromise(Effect.gen(function*() {
      const scope = yield* Scope.make()
      const writer = yield* makeBufferedWriter({ label: "test", noun: "items", write: "write", store: "store" }, (batch: ReadonlyArray<number>) => Effect.sync(() => void written.push(...batch)), {
        flushIntervalMs: 60_000,
        flushAtItems: 1_000,
        capacity: 3,
        maxAttempts: 1,
        retryDelayMs: 1,
        writeTimeoutMs: 1_000,
        shutdownTimeoutMs: 1_000
      }).pipe(Scope.provide(scope))
      for (const n of [1, 2, 3, 4, 5]) yield* writer.offer(n)
      const before = yield* writer.stats
      expect(written).toEqual([])
      yield* Scope.close(scope, Exit.void)
      return { before, after: yield* writer.stats }
    }))
    expect(stats.before).toEqual({ pending: 3, written: 0, droppedFull: 2, droppedFailed: 0 })
    expect(written).toEqual([1, 2, 3])
    expect(stats.after).toEqual({ pending: 0, written: 3, droppedFull: 2, droppedFailed: 0 })
  })

  it("gives a batch up after its tries fail and counts it", async () => {
    const stats = await Effect.runPromise(Effect.scoped(Effect.gen(function*() {
      const writer = yield* makeBufferedWriter({ label: "test", noun: "items", write: "write", store: "store" }, () => Effect.die(new Error("store down")), {
        flushIntervalMs: 60_000,
        flushAtItems: 1_000,
        capacity: 10,
        maxAttempts: 2,
        retryDelayMs: 1,
        writeTimeoutMs: 1_000,
        shutdownTimeoutMs: 1_000
      })
      yield* writer.offer("a")
      yield* writer.offer("b")
      yield* writer.flush
      return yield* writer.stats
    })))
    expect(stats).toEqual({ pending: 0, written: 0, droppedFull: 0, droppedFailed: 2 })
  })
})
