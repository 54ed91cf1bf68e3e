import { Deferred, Effect, Exit } from "effect"
import { describe, expect, it } from "vitest"
import { makeGroupCommit } from "../../src/adapters/postgres/GroupCommit.ts"

/** A group commit whose batches are recorded and held open until the test lets them land. */
const recorder = (maxBatch = 100) => {
  const batches: Array<ReadonlyArray<string>> = []
  const gates: Array<Deferred.Deferred<void>> = []
  const commit = makeGroupCommit<string, string, string, string>({
    maxBatch,
    identity: (item) => item.split("#")[0]!,
    run: (key, items) =>
      Effect.gen(function*() {
        batches.push(items)
        const gate = Deferred.makeUnsafe<void>()
        gates.push(gate)
        yield* Deferred.await(gate)
        if (items.includes("boom")) return yield* Effect.fail(`failed ${key}`)
        return items.map((item) => `${key}:${item}`)
      })
  })
  const open = (i: number) => Effect.runSync(Deferred.succeed(gates[i]!, undefined))
  return { batches, commit, open }
}

const tick = () => new Promise((r) => setTimeout(r, 5))

describe("GroupCommit", () => {
  it("sends an idle key's first item at once, and what arrives meanwhile in one next batch", async () => {
    const { batches, commit, open } = recorder()
    const first = Effect.runPromise(commit.submit("k", "a"))
    await tick()
    expect(batches).toEqual([["a"]])
    const later = ["b", "c", "d"].map((item) => Effect.runPromise(commit.submit("k", item)))
    await tick()
    expect(batches).toEqual([["a"]])
    open(0)
    expect(await first).toBe("k:a")
    await tick()
    expect(batches).toEqual([["a"], ["b", "c", "d"]])
    open(1)
    expect(await Promise.all(later)).toEqual(["k:b", "k:c", "k:d"])
    expect(commit.active("k")).toBe(false)
  })

  it("keeps keys apart: one key's batch in flight does not hold back another's", async () => {
    const { batches, commit, open } = recorder()
    const a = Effect.runPromise(commit.submit("x", "a"))
    const b = Effect.runPromise(commit.submit("y", "b"))
    await tick()
    expect(batches).toEqual([["a"], ["b"]])
    open(1)
    expect(await b).toBe("y:b")
    open(0)
    expect(await a).toBe("x:a")
  })

  it("puts items with the same identity in different batches, in arrival order", async () => {
    const { batches, commit, open } = recorder()
    const results = ["h1#1", "h1#2", "h2", "h1#3"].map((item) => Effect.runPromise(commit.submit("k", item)))
    await tick()
    expect(batches).toEqual([["h1#1", "h2"]])
    open(0)
    await tick()
    expect(batches[1]).toEqual(["h1#2"])
    open(1)
    await tick()
    expect(batches[2]).toEqual(["h1#3"])
    open(2)
    expect(await Promise.all(results)).toEqual(["k:h1#1", "k:h1#2", "k:h2", "k:h1#3"])
  })

  it("caps a batch at maxBatch items", async () => {
    const { batches, commit, open } = recorder(2)
    const results = ["a", "b", "c", "d", "e"].map((item) => Effect.runPromise(commit.submit("k", item)))
    for (let i = 0; i < 3; i++) {
      await tick()
      open(i)
    }
    expect(await Promise.all(results)).toHaveLength(5)
    expect(batches).toEqual([["a", "b"], ["c", "d"], ["e"]])
  })

  it("fails every item of a failed batch, and the next batch runs as usual", async () => {
    const { commit, open } = recorder()
    const failed = ["boom", "x"].map((item) => Effect.runPromiseExit(commit.submit("k", item)))
    await tick()
    open(0)
    for (const exit of await Promise.all(failed)) expect(exit).toEqual(Exit.fail("failed k"))
    const next = Effect.runPromise(commit.submit("k", "y"))
    await tick()
    open(1)
    expect(await next).toBe("k:y")
  })
})
