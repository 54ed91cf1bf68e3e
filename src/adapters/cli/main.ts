import { enableCompileCache } from "node:module"

/**
 * `npm run admin -- <command>`. Node keeps the compiled code of the modules in node_modules/.cache
 * (as `npm start` does), so every run after the first loads them faster.
 */
enableCompileCache(new URL("../../../node_modules/.cache/image-gateway/compile", import.meta.url).pathname)

const NodeRuntime = await import("@effect/platform-node/NodeRuntime")
const NodeServices = await import("@effect/platform-node/NodeServices")
const { Cause, Effect, Exit } = await import("effect")
const { ExitCode, runAdminCli } = await import("./AdminCli.ts")

// By the time the teardown runs, every scope is closed (an embedded server started for the
// command has stopped): the process exits with the command's code at once, whatever else (stdin
// left open, say) would keep it alive.
NodeRuntime.runMain(
  Effect.provide(runAdminCli(process.argv.slice(2)), NodeServices.layer),
  {
    disableErrorReporting: true,
    teardown: (exit) =>
      process.exit(
        Exit.isSuccess(exit)
          ? typeof exit.value === "number" ? exit.value : ExitCode.software
          : Cause.hasInterruptsOnly(exit.cause)
          ? ExitCode.interrupted
          : ExitCode.software
      )
  }
)
