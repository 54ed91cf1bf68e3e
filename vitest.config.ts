import { configDefaults, defineConfig } from "vitest/config"

export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "specs/**/*.test.ts"],
    // Fault suites that take long (gateway processes stopped and restarted mid-delivery) run in
    // `npm run test:faults`, which sets FAULTS=1, not in every `npm test`.
    exclude: [...configDefaults.exclude, ...(process.env["FAULTS"] === "1" ? [] : ["test/**/*.faults.test.ts"])],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // The JSON report gives `.ci/run` its closing "N passed, N failed" line.
    // Two cores: one worker per core (Postgres-backed files wait on I/O, so both stay busy).
    maxWorkers: 2,
    // A worker keeps the modules it loaded for its next file (effect, the core, the adapters):
    // loading them again for each of ~60 files cost about 10 % of the run. No test changes
    // module state that another file reads (the one that sets TMPDIR restores it).
    isolate: false,
    // No provider key or gateway setting of the machine's own reaches the tests' processes.
    setupFiles: ["test/support/CleanEnvironment.ts"],
    // One embedded PostgreSQL for the whole run (each file gets its own schema on it), rather
    // than one started and stopped for every file that needs one.
    globalSetup: ["specs/support/TestServer.ts"],
    reporters: ["default", "json"],
    outputFile: { json: ".vitest-results.json" }
  }
})
