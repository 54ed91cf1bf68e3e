/**
 * The client side of `npm run bench:providers`: the CPU one provider call costs the calling
 * process, layer by layer, against the fake upstream at BENCH_UPSTREAM. BENCH_CLIENT picks the
 * layer:
 * - `raw`: http.request over a keep-alive Agent, the body read and JSON.parse'd (the floor);
 * - `nodeHttpFetch`: the gateway's provider transport (NodeHttpFetch), `response.json()`;
 * - `fetch`: Node's global fetch (undici), `response.json()`;
 * - `sdk`: the official SDK's `images.generate` on NodeHttpFetch (what the gateway runs);
 * - `sdkOnFetch`: the SDK on Node's global fetch (PROVIDER_HTTP_CLIENT=fetch).
 * 32 calls in flight, BENCH_CLIENT_CALLS calls (default 6,000) after a warm-up of 1,500; prints
 * `RESULT <µs CPU per call> <calls/s>`.
 */
import { Buffer } from "node:buffer"
import { Agent, request } from "node:http"
import OpenAI from "openai"
import { providerFetch } from "../src/adapters/providers/NodeHttpFetch.ts"

const upstream = process.env["BENCH_UPSTREAM"] ?? ""
const layer = process.env["BENCH_CLIENT"] ?? ""
const calls = Number(process.env["BENCH_CLIENT_CALLS"] ?? 6_000)
const url = new URL("/v1/images/generations", upstream)
const params = { model: "dall-e-3", prompt: "bench", n: 1, size: "1024x1024", response_format: "b64_json" } as const
const body = JSON.stringify(params)
const headers = { "content-type": "application/json", authorization: "Bearer sk-bench-platform-key" }

const agent = new Agent({ keepAlive: true })
const raw = () =>
  new Promise<unknown>((resolve, reject) => {
    const out = request(url, { method: "POST", agent, headers: { ...headers, "content-length": Buffer.byteLength(body) } }, (res) => {
      const chunks: Array<Buffer> = []
      res.on("data", (chunk: Buffer) => chunks.push(chunk))
      res.on("end", () => resolve(JSON.parse(Buffer.concat(chunks).toString("utf8"))))
      res.on("error", reject)
    })
    out.on("error", reject)
    out.end(body)
  })
const viaFetch = (f: typeof fetch) => async () => (await f(url, { method: "POST", headers, body })).json()
const sdk = (f: typeof fetch) => {
  const client = new OpenAI({
    apiKey: "sk-bench-platform-key",
    baseURL: `${upstream}/v1`,
    maxRetries: 0,
    organization: null,
    project: null,
    logLevel: "off",
    fetch: f
  })
  return () => client.images.generate(params, { timeout: 60_000, maxRetries: 0 })
}
const layers: Record<string, () => Promise<unknown>> = {
  raw,
  nodeHttpFetch: viaFetch(providerFetch),
  fetch: viaFetch(globalThis.fetch),
  sdk: sdk(providerFetch),
  sdkOnFetch: sdk(globalThis.fetch)
}
const one = layers[layer]
if (one === undefined) throw new Error(`BENCH_CLIENT must be one of ${Object.keys(layers).join(", ")}, not ${layer}`)

const run = async (n: number) => {
  let started = 0
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (started++ < n) await one()
  }))
}
await run(1_500)
const cpu = process.cpuUsage()
const t0 = performance.now()
await run(calls)
const used = process.cpuUsage(cpu)
const seconds = (performance.now() - t0) / 1000
console.log(`RESULT ${((used.user + used.system) / calls).toFixed(0)} ${(calls / seconds).toFixed(0)}`)
