/**
 * `npm run migrate`: applies pending migrations to the database named by DATABASE_URL.
 * Safe to run while gateway instances (or other migrate runs) use the same database.
 */
import { Cause, Effect, Redacted } from "effect"
import { migrate } from "./Migrations.ts"
import * as PgDatabase from "./PgDatabase.ts"

const fail = (message: string): never => {
  process.stderr.write(`migrate: ${message}\n`)
  process.exit(1)
}

const raw = process.env.DATABASE_URL?.trim()
if (!raw) {
  fail("DATABASE_URL is not set. Set it to the PostgreSQL database to migrate, e.g. postgres://user:password@localhost:5432/gateway")
}
const url = raw as string

/** The URL without its password, for messages. */
const where = (() => {
  try {
    const u = new URL(url)
    return `${u.hostname}${u.port ? `:${u.port}` : ""}${u.pathname}`
  } catch {
    return fail("DATABASE_URL is not a valid URL (expected postgres://user:password@host:port/database)")
  }
})()

Effect.runPromiseExit(
  migrate.pipe(Effect.provide(PgDatabase.layer({ url: Redacted.make(url), maxConnections: 2, connectTimeout: "10 seconds" })))
).then((exit) => {
  if (exit._tag === "Failure") {
    const error: any = Cause.squash(exit.cause)
    // A SqlError's own message is generic; its reason and Postgres' message say what went wrong.
    const detail = [error?.message, error?.reason?._tag, error?.reason?.cause?.message ?? error?.cause?.message]
      .filter((part) => typeof part === "string" && part.length > 0)
    fail(`could not migrate the database at DATABASE_URL (${where}): ${detail.join(" — ") || String(error)}`)
  }
  const applied = exit._tag === "Success" ? exit.value : []
  process.stdout.write(
    applied.length === 0
      ? `migrate: the database at ${where} is up to date\n`
      : `migrate: applied ${applied.map(([id, name]) => `${String(id).padStart(4, "0")}_${name}`).join(", ")} to ${where}\n`
  )
  process.exit(0)
})
