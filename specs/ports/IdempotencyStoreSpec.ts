import { describe, expect, it } from "@effect/vitest"
import { Effect, Result } from "effect"
import { IdempotencyStore } from "../../src/application/ports/IdempotencyStore.ts"
import type { StoredGeneration } from "../../src/domain/Generation.ts"
import type { PortAdapter } from "./PortAdapter.ts"

/** Epoch ms in 2100: beyond 32 bits, and still ahead of any clock an adapter might read (TestClock or real). */
const T0 = 4_102_444_800_000
const TTL = 86_400_000
const alice = "7a6bfd31-0120-4a30-9e21-0fc3b8006579"
const bob = "2f1c6a53-5d8e-4b7a-9a51-3c9e8f0b1d24"

/** A generation as the flow keeps it (Schema-encoded); the key order is part of what is replayed. */
const response: StoredGeneration = {
  createdAt: 1_750_000_000_000,
  images: [{ _tag: "Stored", id: "ab", url: "http://gateway.test/v1/images/files/ab.png" }, { _tag: "Inline", bytes: "iVBORw0K", contentType: "image/png" }],
  costMillicredits: 48_000,
  chargedMillicredits: 48_000,
  remainingMillicredits: 952_000,
  hold: "hold_1",
  billing: "billed",
  providerUsed: "local",
  payer: { account: alice, kind: "user", tier: "free" },
  replayed: false
}
/** Another generation, told apart by what remained after it. */
const other = (remainingMillicredits: number): StoredGeneration => ({ ...response, remainingMillicredits })

const begin = (fields: { scope?: string; key?: string; fingerprint?: string; now?: number; expiresAt?: number } = {}) =>
  IdempotencyStore.use((s) => {
    const now = fields.now ?? T0
    return s.begin({
      scope: fields.scope ?? alice,
      key: fields.key ?? "req-1",
      fingerprint: fields.fingerprint ?? "fp-a",
      now,
      expiresAt: fields.expiresAt ?? now + TTL
    })
  })
const complete = (fields: { scope?: string; key?: string; response?: StoredGeneration } = {}) =>
  IdempotencyStore.use((s) =>
    s.complete({ scope: fields.scope ?? alice, key: fields.key ?? "req-1", response: fields.response ?? response })
  )
const abandon = (fields: { scope?: string; key?: string } = {}) =>
  IdempotencyStore.use((s) => s.abandon({ scope: fields.scope ?? alice, key: fields.key ?? "req-1" }))

const conflict = (reason: "different_content" | "in_progress", id = "req-1") => ({ _tag: "IdempotencyConflict", id, reason })

/**
 * The IdempotencyStore port's contract: `begin` claims a key (Started), or replays the stored
 * response of a completed one (Replay), or refuses (IdempotencyConflict: different content, or
 * the first request still running); `abandon` frees a key; a record lives until its `expiresAt`.
 */
export const idempotencyStoreSuite = (adapter: PortAdapter<IdempotencyStore>) =>
  describe(`IdempotencyStore [${adapter.name}]`, () => {
    const test = <E>(name: string, body: Effect.Effect<void, E, IdempotencyStore>) =>
      it.effect(name, () => Effect.provide(body, adapter.fresh()))

    test("starts a request under a new key", Effect.gen(function*() {
      expect(yield* begin()).toEqual({ _tag: "Started" })
    }))

    test("refuses the same request again while the first is still running", Effect.gen(function*() {
      yield* begin()
      expect(yield* Effect.flip(begin())).toMatchObject(conflict("in_progress"))
      expect(yield* Effect.flip(begin({ now: T0 + TTL - 1 }))).toMatchObject(conflict("in_progress"))
    }))

    test("refuses other content under a key in use, running or completed", Effect.gen(function*() {
      yield* begin()
      expect(yield* Effect.flip(begin({ fingerprint: "fp-b" }))).toMatchObject(conflict("different_content"))
      yield* complete()
      expect(yield* Effect.flip(begin({ fingerprint: "fp-b" }))).toMatchObject(conflict("different_content"))
    }))

    test("replays a completed request's response exactly, as often as asked", Effect.gen(function*() {
      yield* begin()
      yield* complete()
      for (const now of [T0 + 1, T0 + 1_000, T0 + TTL - 1]) {
        const replay = yield* begin({ now })
        expect(replay._tag).toBe("Replay")
        const stored = replay._tag === "Replay" ? replay.response : undefined
        expect(stored).toEqual(response)
        expect(JSON.stringify(stored)).toBe(JSON.stringify(response))
      }
    }))

    test("lets an abandoned key be claimed again, with any content", Effect.gen(function*() {
      yield* begin()
      yield* abandon()
      expect(yield* begin({ fingerprint: "fp-b" })).toEqual({ _tag: "Started" })
      expect(yield* Effect.flip(begin({ fingerprint: "fp-b" }))).toMatchObject(conflict("in_progress"))
      // Abandoning a key that is not held is harmless.
      yield* abandon({ key: "never-begun" })
      expect(yield* begin({ key: "never-begun" })).toEqual({ _tag: "Started" })
    }))

    test("forgets a record at its expiry: the key starts afresh, and the old response is not replayed", Effect.gen(function*() {
      yield* begin({ now: T0, expiresAt: T0 + 100 })
      yield* complete()
      expect((yield* begin({ now: T0 + 99 }))._tag).toBe("Replay")
      // Expired at exactly `expiresAt`, and other content is then welcome.
      expect(yield* begin({ now: T0 + 100, expiresAt: T0 + 300, fingerprint: "fp-b" })).toEqual({ _tag: "Started" })
      expect(yield* Effect.flip(begin({ now: T0 + 101, fingerprint: "fp-b" }))).toMatchObject(conflict("in_progress"))
      expect(yield* Effect.flip(begin({ now: T0 + 101, fingerprint: "fp-a" }))).toMatchObject(conflict("different_content"))
    }))

    test("an expired running claim can be taken over, and the new claim keeps its own expiry", Effect.gen(function*() {
      yield* begin({ now: T0, expiresAt: T0 + 100 })
      expect(yield* Effect.flip(begin({ now: T0 + 99 }))).toMatchObject(conflict("in_progress"))
      expect(yield* begin({ now: T0 + 150, expiresAt: T0 + 300 })).toEqual({ _tag: "Started" })
      yield* complete({ response: other(2) })
      // Past the first claim's expiry but within the second's: still replayed.
      const replay = yield* begin({ now: T0 + 299 })
      expect(replay).toEqual({ _tag: "Replay", response: other(2) })
      expect(yield* begin({ now: T0 + 300 })).toEqual({ _tag: "Started" })
    }))

    test("keeps payers apart: one key under two scopes is two requests", Effect.gen(function*() {
      expect(yield* begin({ scope: alice })).toEqual({ _tag: "Started" })
      expect(yield* begin({ scope: bob, fingerprint: "fp-b" })).toEqual({ _tag: "Started" })
      yield* complete({ scope: alice, response: other(1) })
      expect(yield* Effect.flip(begin({ scope: bob, fingerprint: "fp-b" }))).toMatchObject(conflict("in_progress"))
      expect(yield* begin({ scope: alice })).toEqual({ _tag: "Replay", response: other(1) })
      yield* abandon({ scope: bob })
      expect(yield* begin({ scope: alice })).toEqual({ _tag: "Replay", response: other(1) })
      expect(yield* begin({ scope: bob })).toEqual({ _tag: "Started" })
    }))

    test("completing a key that was never begun stores nothing", Effect.gen(function*() {
      yield* complete({ key: "ghost" })
      expect(yield* begin({ key: "ghost" })).toEqual({ _tag: "Started" })
    }))

    test("a stale running claim of the same request is taken over by a new attempt; the old attempt can neither complete nor abandon it", Effect.gen(function*() {
      const store = yield* IdempotencyStore
      const claim = (attempt: string, now: number, staleBefore?: number, fingerprint = "fp-a") =>
        store.begin({ scope: alice, key: "req-1", fingerprint, now, expiresAt: T0 + TTL, attempt, staleBefore })
      expect(yield* claim("first", T0)).toEqual({ _tag: "Started" })
      // Not stale yet (begun after staleBefore), or no takeover asked: still running.
      expect(yield* Effect.flip(claim("second", T0 + 10, T0 - 1))).toMatchObject(conflict("in_progress"))
      expect(yield* Effect.flip(claim("second", T0 + 10))).toMatchObject(conflict("in_progress"))
      // Other content never takes a claim over, stale or not.
      expect(yield* Effect.flip(claim("other", T0 + 20, T0, "fp-b"))).toMatchObject(conflict("different_content"))
      // Stale (begun at or before staleBefore): taken over, naming the attempt it took over.
      expect(yield* claim("second", T0 + 20, T0)).toEqual({ _tag: "Started", tookOver: "first" })
      // The first attempt, come back late, owns nothing any more.
      expect(yield* store.complete({ scope: alice, key: "req-1", response: other(1), attempt: "first" })).toBe(false)
      yield* store.abandon({ scope: alice, key: "req-1", attempt: "first" })
      expect(yield* Effect.flip(claim("third", T0 + 30))).toMatchObject(conflict("in_progress"))
      expect(yield* store.complete({ scope: alice, key: "req-1", response: other(2), attempt: "second" })).toBe(true)
      // Completed: replayed, never taken over however stale.
      expect(yield* claim("fourth", T0 + 40, T0 + 40)).toEqual({ _tag: "Replay", response: other(2) })
      expect(yield* store.complete({ scope: alice, key: "req-1", response: other(3), attempt: "second" })).toBe(false)
      expect(yield* claim("fifth", T0 + 50)).toEqual({ _tag: "Replay", response: other(2) })
    }))

    test("an attempt abandons only its own claim", Effect.gen(function*() {
      const store = yield* IdempotencyStore
      yield* store.begin({ scope: alice, key: "req-1", fingerprint: "fp-a", now: T0, expiresAt: T0 + TTL, attempt: "mine" })
      yield* store.abandon({ scope: alice, key: "req-1", attempt: "someone-else" })
      expect(yield* Effect.flip(begin({ now: T0 + 1 }))).toMatchObject(conflict("in_progress"))
      yield* store.abandon({ scope: alice, key: "req-1", attempt: "mine" })
      expect(yield* begin({ now: T0 + 2 })).toEqual({ _tag: "Started" })
    }))

    test("lets exactly one of many simultaneous begins claim a key", Effect.gen(function*() {
      const outcomes = yield* Effect.all(
        Array.from({ length: 12 }, () => Effect.result(begin({ key: "race" }))),
        { concurrency: "unbounded" }
      )
      const started = outcomes.filter((r) => Result.isSuccess(r) && r.success._tag === "Started")
      expect(started).toHaveLength(1)
      const refused = outcomes.filter(Result.isFailure).map((r) => r.failure)
      expect(refused).toHaveLength(11)
      for (const e of refused) expect(e).toMatchObject(conflict("in_progress", "race"))
    }))
  })
