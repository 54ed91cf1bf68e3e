import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Layer, Logger, Scope } from "effect"
import { TestClock } from "effect/testing"
import { CredentialAudit, type CredentialAuditOptions } from "../../src/application/CredentialAudit.ts"
import { type AuditEntry, AuditLog } from "../../src/application/ports/AuditLog.ts"
import { KeyStore } from "../../src/application/ports/KeyStore.ts"
import type { KeyId } from "../../src/domain/Ids.ts"

/** How the in-test stores answer a write. */
type Behaviour = "ok" | "fail" | "hang"

/**
 * An audit log and a key store that remember every write they were asked for (the audit
 * adapters and `KeyStore.touch` are separate work; only `append` and `touch` are used here).
 */
const makeStores = () => {
  const appends: Array<ReadonlyArray<AuditEntry>> = []
  const touches: Array<ReadonlyArray<{ readonly id: KeyId; readonly at: number }>> = []
  const state = { append: "ok" as Behaviour, touch: "ok" as Behaviour, appendCalls: 0, touchCalls: 0 }
  const answer = (behaviour: Behaviour, write: () => void): Effect.Effect<void> =>
    behaviour === "ok"
      ? Effect.sync(write)
      : behaviour === "hang"
      ? Effect.never
      : Effect.die(new Error("connection refused by the store"))
  const unused = () => Effect.die(new Error("not used by CredentialAudit"))
  const layer = Layer.mergeAll(
    Layer.succeed(AuditLog, AuditLog.of({
      append: (entries) =>
        Effect.suspend(() => {
          state.appendCalls++
          return answer(state.append, () => appends.push([...entries]))
        }),
      list: unused
    })),
    Layer.succeed(KeyStore, KeyStore.of({
      findByHash: unused,
      insert: unused,
      setStatus: unused,
      setExpiry: unused,
      setDeprecated: unused,
      listByOwner: unused,
      find: unused,
      list: unused,
      touch: (uses) =>
        Effect.suspend(() => {
          state.touchCalls++
          return answer(state.touch, () => touches.push([...uses]))
        })
    }))
  )
  return { appends, touches, state, layer }
}

/** Log lines at warning level or above, as the buffer writes them. */
const makeLogs = () => {
  const lines: Array<{ readonly level: string; readonly text: string }> = []
  const logger = Logger.make<unknown, void>((options) => {
    if (options.logLevel === "Warn" || options.logLevel === "Error") {
      const message = Array.isArray(options.message) ? options.message.join(" ") : String(options.message)
      lines.push({ level: options.logLevel, text: message })
    }
  })
  return { lines, layer: Logger.layer([logger]) }
}

/** The buffer over the given stores, in a scope the test closes itself. */
const openAudit = (stores: ReturnType<typeof makeStores>, options: Partial<CredentialAuditOptions> = {}) =>
  Effect.gen(function*() {
    const scope = yield* Scope.make()
    const context = yield* Layer.buildWithScope(CredentialAudit.layerWith(options).pipe(Layer.provide(stores.layer)), scope)
    return { audit: Context.get(context, CredentialAudit), close: Scope.close(scope, Exit.void) }
  })

const entry = (i: number, keyId = "key_a"): AuditEntry => ({
  at: 1_000 + i,
  kind: "credential",
  actor: "presenton-service",
  action: "credential.use",
  target: `key:${keyId}`,
  keyId,
  payer: "org_presenton_service",
  outcome: "ok",
  requestId: `req_${i}`
})

const use = (id: string, at: number) => ({ id: id as KeyId, at })

/** Lets the background writer run what is ready to run (no clock time passes). */
const settle = Effect.gen(function*() {
  for (let i = 0; i < 20; i++) yield* Effect.yieldNow
})

describe("CredentialAudit (driven by TestClock)", () => {
  it.effect("writes nothing before the interval, then everything waiting in one append and one touch", () =>
    Effect.gen(function*() {
      const stores = makeStores()
      const { audit, close } = yield* openAudit(stores)
      for (let i = 0; i < 5; i++) yield* audit.record(entry(i))
      yield* audit.touch("key_a" as KeyId, 1_001)
      yield* TestClock.adjust(249)
      assert.strictEqual(stores.appends.length, 0)
      assert.strictEqual(stores.touches.length, 0)
      yield* TestClock.adjust(1)
      yield* settle
      assert.deepStrictEqual(stores.appends, [[0, 1, 2, 3, 4].map((i) => entry(i))])
      assert.deepStrictEqual(stores.touches, [[use("key_a", 1_001)]])
      // Nothing waits: the next interval writes nothing.
      yield* TestClock.adjust(250)
      yield* settle
      assert.strictEqual(stores.state.appendCalls, 1)
      assert.strictEqual(stores.state.touchCalls, 1)
      yield* close
    }))

  it.effect("many records become few appends, in the order they were recorded", () =>
    Effect.gen(function*() {
      const stores = makeStores()
      const { audit, close } = yield* openAudit(stores)
      const recorded = Array.from({ length: 2_500 }, (_, i) => entry(i))
      for (const e of recorded.slice(0, 1_200)) yield* audit.record(e)
      yield* TestClock.adjust(250)
      yield* settle
      for (const e of recorded.slice(1_200)) yield* audit.record(e)
      yield* TestClock.adjust(250)
      yield* settle
      assert.isAtMost(stores.appends.length, 4)
      assert.deepStrictEqual(stores.appends.flat(), recorded)
      assert.strictEqual((yield* audit.stats).written, 2_500)
      yield* close
    }))

  it.effect("1,000 waiting entries are written at once, without waiting for the interval", () =>
    Effect.gen(function*() {
      const stores = makeStores()
      const { audit, close } = yield* openAudit(stores)
      for (let i = 0; i < 999; i++) yield* audit.record(entry(i))
      yield* settle
      assert.strictEqual(stores.appends.length, 0)
      yield* audit.record(entry(999))
      yield* settle
      assert.strictEqual(stores.appends.length, 1)
      assert.strictEqual(stores.appends[0]!.length, 1_000)
      yield* close
    }))

  it.effect("touch keeps only each key's latest use, in one KeyStore.touch per flush", () =>
    Effect.gen(function*() {
      const stores = makeStores()
      const { audit, close } = yield* openAudit(stores)
      yield* audit.touch("key_a" as KeyId, 5_000)
      yield* audit.touch("key_b" as KeyId, 3_000)
      yield* audit.touch("key_a" as KeyId, 9_000)
      yield* audit.touch("key_a" as KeyId, 7_000) // earlier than the latest: ignored
      yield* TestClock.adjust(250)
      yield* settle
      assert.deepStrictEqual(stores.touches, [[use("key_a", 9_000), use("key_b", 3_000)]])
      // Touches alone are written without an audit append.
      assert.strictEqual(stores.state.appendCalls, 0)
      yield* close
    }))

  it.effect("the buffer holds at most `capacity` entries; the rest are dropped, counted, and warned of once per streak", () =>
    Effect.gen(function*() {
      const stores = makeStores()
      const logs = makeLogs()
      const { audit, close } = yield* Effect.provide(openAudit(stores, { capacity: 10, flushAtEntries: 100 }), logs.layer)
      const run = <A>(effect: Effect.Effect<A>) => Effect.provide(effect, logs.layer)
      for (let i = 0; i < 15; i++) yield* run(audit.record(entry(i)))
      let stats = yield* audit.stats
      assert.strictEqual(stats.pending, 10)
      assert.strictEqual(stats.droppedFull, 5)
      assert.strictEqual(logs.lines.filter((l) => l.text.includes("dropped until")).length, 1)

      yield* TestClock.adjust(250)
      yield* settle
      assert.deepStrictEqual(stores.appends, [Array.from({ length: 10 }, (_, i) => entry(i))])

      // Room again: the next entry is taken (and says how many the streak dropped); a second
      // overflow is a second streak with its own warning.
      for (let i = 100; i < 112; i++) yield* run(audit.record(entry(i)))
      stats = yield* audit.stats
      assert.strictEqual(stats.pending, 10)
      assert.strictEqual(stats.droppedFull, 7)
      assert.strictEqual(logs.lines.filter((l) => l.text.includes("taking entries again after dropping 5")).length, 1)
      assert.strictEqual(logs.lines.filter((l) => l.text.includes("dropped until")).length, 2)
      yield* close
    }))

  it.effect("entries being written count against the bound while the store is slow", () =>
    Effect.gen(function*() {
      const stores = makeStores()
      stores.state.append = "hang"
      const { audit, close } = yield* openAudit(stores, { capacity: 10, writeTimeoutMs: 60_000, shutdownTimeoutMs: 10 })
      for (let i = 0; i < 8; i++) yield* audit.record(entry(i))
      yield* TestClock.adjust(250) // the 8 are now in flight, the store not answering
      yield* settle
      for (let i = 8; i < 20; i++) yield* audit.record(entry(i))
      const stats = yield* audit.stats
      assert.strictEqual(stats.pending, 10)
      assert.strictEqual(stats.droppedFull, 10)
      yield* Effect.forkChild(close)
      yield* TestClock.adjust(10)
    }))

  it.effect("closing the scope writes what waits", () =>
    Effect.gen(function*() {
      const stores = makeStores()
      const { audit, close } = yield* openAudit(stores)
      yield* audit.record(entry(1))
      yield* audit.record(entry(2))
      yield* audit.touch("key_a" as KeyId, 2_000)
      yield* close
      assert.deepStrictEqual(stores.appends, [[entry(1), entry(2)]])
      assert.deepStrictEqual(stores.touches, [[use("key_a", 2_000)]])
    }))

  it.effect("a failed write is logged without its entries and tried again; order is kept across the retry", () =>
    Effect.gen(function*() {
      const stores = makeStores()
      const logs = makeLogs()
      const { audit, close } = yield* Effect.provide(openAudit(stores, { retryDelayMs: 100, maxAttempts: 3 }), logs.layer)
      stores.state.append = "fail"
      yield* audit.record(entry(1))
      yield* TestClock.adjust(250) // first try fails; the retry waits 100 ms
      yield* settle
      assert.strictEqual(stores.state.appendCalls, 1)
      yield* audit.record(entry(2)) // recorded while the first batch waits to be tried again
      stores.state.append = "ok"
      yield* TestClock.adjust(100)
      yield* settle
      yield* TestClock.adjust(250)
      yield* settle
      assert.deepStrictEqual(stores.appends, [[entry(1)], [entry(2)]])
      const warning = logs.lines.find((l) => l.text.includes("audit append of 1 failed"))
      assert.isDefined(warning)
      assert.include(warning!.text, "connection refused by the store")
      for (const line of logs.lines) {
        assert.notInclude(line.text, "presenton-service")
        assert.notInclude(line.text, "key_a")
        assert.notInclude(line.text, "req_1")
      }
      const stats = yield* audit.stats
      assert.strictEqual(stats.written, 2)
      assert.strictEqual(stats.droppedFailed, 0)
      yield* close
    }))

  it.effect("a write that keeps failing is dropped and counted after maxAttempts tries; later batches still land", () =>
    Effect.gen(function*() {
      const stores = makeStores()
      const logs = makeLogs()
      const { audit, close } = yield* Effect.provide(openAudit(stores, { retryDelayMs: 10, maxAttempts: 3 }), logs.layer)
      stores.state.append = "fail"
      stores.state.touch = "fail"
      yield* audit.record(entry(1))
      yield* audit.record(entry(2))
      yield* audit.touch("key_a" as KeyId, 1)
      yield* TestClock.adjust(250)
      yield* TestClock.adjust(10)
      yield* TestClock.adjust(20)
      yield* settle
      assert.strictEqual(stores.state.appendCalls, 3)
      assert.strictEqual(stores.state.touchCalls, 3)
      let stats = yield* audit.stats
      assert.strictEqual(stats.droppedFailed, 2)
      assert.strictEqual(stats.touchesDroppedFailed, 1)
      assert.strictEqual(stats.pending, 0)
      assert.strictEqual(logs.lines.filter((l) => l.level === "Error" && l.text.includes("failed 3 times")).length, 2)

      stores.state.append = "ok"
      yield* audit.record(entry(3))
      yield* TestClock.adjust(250)
      yield* settle
      assert.deepStrictEqual(stores.appends, [[entry(3)]])
      stats = yield* audit.stats
      assert.strictEqual(stats.written, 1)
      yield* close
    }))

  it.effect("a store that hangs is cut off at the write deadline and counts as a failed try", () =>
    Effect.gen(function*() {
      const stores = makeStores()
      stores.state.append = "hang"
      const { audit, close } = yield* openAudit(stores, { writeTimeoutMs: 1_000, retryDelayMs: 10, maxAttempts: 2 })
      yield* audit.record(entry(1))
      yield* TestClock.adjust(250)
      yield* TestClock.adjust(1_000)
      yield* TestClock.adjust(10)
      yield* TestClock.adjust(1_000)
      yield* settle
      assert.strictEqual(stores.state.appendCalls, 2)
      assert.strictEqual((yield* audit.stats).droppedFailed, 1)
      yield* close
    }))

  it.effect("closing with a store that hangs ends at the shutdown deadline, counting what was lost", () =>
    Effect.gen(function*() {
      const stores = makeStores()
      stores.state.append = "hang"
      const { audit, close } = yield* openAudit(stores, { shutdownTimeoutMs: 500, writeTimeoutMs: 60_000 })
      yield* audit.record(entry(1))
      yield* audit.record(entry(2))
      const closing = yield* Effect.forkChild(close)
      yield* settle
      assert.isUndefined(closing.pollUnsafe())
      yield* TestClock.adjust(500)
      yield* settle
      assert.isDefined(closing.pollUnsafe())
      const stats = yield* audit.stats
      assert.strictEqual(stats.droppedFailed, 2)
      assert.strictEqual(stats.written, 0)
    }))
})

describe("CredentialAudit (real clock)", () => {
  it.live("record neither fails nor waits when the store fails or hangs", () =>
    Effect.gen(function*() {
      for (const behaviour of ["fail", "hang"] as const) {
        const stores = makeStores()
        stores.state.append = behaviour
        stores.state.touch = behaviour
        const logs = makeLogs()
        const { audit, close } = yield* Effect.provide(
          openAudit(stores, { flushIntervalMs: 1, retryDelayMs: 1, writeTimeoutMs: 50, shutdownTimeoutMs: 50 }),
          logs.layer
        )
        const started = performance.now()
        for (let i = 0; i < 20_000; i++) {
          yield* audit.record(entry(i))
          yield* audit.touch(`key_${i % 50}` as KeyId, i)
          // Give the writer every chance to run in between, as requests do.
          if (i % 1_000 === 0) yield* Effect.sleep(2)
        }
        const elapsed = performance.now() - started
        // 20,000 records and touches plus 20 pauses of 2 ms: well under a second unless a record waited.
        assert.isBelow(elapsed, 1_500, `${behaviour}: ${elapsed} ms`)
        assert.isAbove(stores.state.appendCalls, 0)
        yield* close
        const stats = yield* audit.stats
        assert.strictEqual(stats.written, 0)
        assert.strictEqual(stats.droppedFull + stats.droppedFailed, 20_000)
      }
    }), 20_000)
})
