import { enableCompileCache } from "node:module"

/**
 * `npm start`. Loading the gateway's modules is most of its start-up time: Node keeps their
 * compiled code in node_modules/.cache (checked against each file's content), so every start
 * after the first loads them about twice as fast. Where that directory cannot be written, the
 * gateway starts all the same, without the cache.
 */
enableCompileCache(new URL("../node_modules/.cache/image-gateway/compile", import.meta.url).pathname)

await import("./Program.ts")
