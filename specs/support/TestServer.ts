import type { TestProject } from "vitest/node"
import { type ScratchPostgres, startScratchPostgres } from "./ScratchPostgres.ts"

/**
 * The tests' embedded PostgreSQL: durability off (a test database is thrown away), room for both
 * workers' files and the gateway processes they start.
 */
export const startTestServer = (): Promise<ScratchPostgres> =>
  startScratchPostgres({
    prefix: "image-gateway-pg-",
    settings: ["fsync=off", "synchronous_commit=off", "full_page_writes=off", "max_connections=500"]
  })

declare module "vitest" {
  export interface ProvidedContext {
    /** The run's shared test server (see `setup`), or "" where there is none. */
    testPostgresUrl: string
  }
}

let server: ScratchPostgres | undefined

/**
 * vitest's globalSetup: one embedded PostgreSQL for the whole run, shared by both workers and
 * every test file (each file still works in a schema or database of its own on it). A server per
 * file cost an initdb and a start, 3 to 5 s, for each of some thirty files. With DATABASE_URL
 * set the tests use that server and nothing is started.
 */
export const setup = async (project: TestProject) => {
  if (process.env["DATABASE_URL"]) {
    project.provide("testPostgresUrl", "")
    return
  }
  server = await startTestServer()
  project.provide("testPostgresUrl", server.url)
}

export const teardown = async () => {
  await server?.stop()
  server = undefined
}
