/**
 * The fast part of the PostgreSQL restart suite in `npm test`: what a request that lost its
 * database connection is answered (the suite itself stops a real server under load).
 */
import { Cause } from "effect"
import * as SqlError from "effect/sql/SqlError"
import { describe, expect, it } from "vitest"
import { unhandledFailure } from "../../src/adapters/http/ErrorMapping.ts"

const lost = new SqlError.SqlError({
  reason: new SqlError.ConnectionError({ cause: new Error("connect ECONNREFUSED 127.0.0.1:5432"), message: "PgConnection: Socket error", operation: "query" })
})

describe("a request whose database connection is lost", () => {
  it("is a 503 store_unavailable with Retry-After, as /readyz reports it, also when wrapped in another defect", () => {
    // PostgreSQL still starting up after a restart (SQLSTATE 57P03) is the same outage.
    const starting = new SqlError.SqlError({
      reason: new SqlError.UnknownError({ cause: Object.assign(new Error("the database system is starting up"), { code: "57P03" }), message: "x" })
    })
    for (const cause of [Cause.die(lost), Cause.die(new Error("settle failed", { cause: lost })), Cause.die(starting)]) {
      expect(unhandledFailure(cause)).toMatchObject({ status: 503, code: "store_unavailable", headers: { "retry-after": "1" } })
    }
  })

  it("any other unexpected failure stays a 500, and so does a SQL error that is not a lost connection", () => {
    const syntax = new SqlError.SqlError({ reason: new SqlError.SqlSyntaxError({ cause: new Error("syntax"), message: "syntax error" }) })
    for (const cause of [Cause.die(new Error("boom")), Cause.die(syntax)]) {
      expect(unhandledFailure(cause)).toMatchObject({ status: 500, code: "internal_error" })
    }
  })
})
