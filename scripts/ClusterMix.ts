/**
 * The traffic of `npm run bench:cluster`: the kinds of generation request in the mix, what
 * each may be answered, and a keep-alive node:http client that records every answer (or its
 * absence) with its latency. node:http rather than `fetch`: the client shares the two cores
 * with the gateways, and fetch costs it ~3× the CPU per call (README, Providers).
 */
import { Agent, request } from "node:http"
import { DEMO } from "../src/DemoData.ts"

export const PRESENTON_KEY = "sk-presenton-service-key-2025"
export const BOLT_KEY = "sk-bolt-diy-service-key-2025"
/**
 * The service with few credits, created by the run through the admin API (its key comes from
 * that answer): its dall-e-3 calls meet 402 whenever the small grants it gets are used up.
 */
export const LOW_FUNDED = { service: "bench-low-funded", org: "org_bench_low_funded", initialCredits: 240 }
/** The service with a tight per-minute limit: some of its calls meet 429. */
export const LIMITED = { service: "centerdeep-service", key: "sk-centerdeep-service-key-2025" }

/** Prices in millicredits (managed and professional payers: × 1.2). */
const LOCAL_PRICE = 1_200
const DALLE3_PRICE = 48_000

const LOCAL = { model: "local", size: "256x256", response_format: "b64_json" }
const DALLE3 = { model: "dall-e-3", size: "1024x1024", quality: "standard", response_format: "b64_json" }
const PROMPT = "a lighthouse on a cliff at dusk"

/** The credentials made during the run (never printed). */
export interface Tokens {
  /** presenton-service's JWT without `user_id` (its organization pays). */
  readonly service: string
  /** presenton-service's JWT with Alice's `user_id`. */
  readonly serviceForAlice: string
  /** The low-funded service's key, as its creation answered it. */
  readonly lowFundedKey: string
}

export interface Kind {
  readonly name: string
  /** Share of the mix, in percent. */
  readonly weight: number
  readonly provider: "local" | "upstream"
  /** The statuses this request may be answered with. */
  readonly allowed: ReadonlyArray<number>
  /** What a 200 must charge (millicredits); 0 for a BYOK call. */
  readonly price: number
  readonly byok: boolean
  /** Sent twice with one Idempotency-Key, the second time to the next instance: a replay. */
  readonly retried?: boolean
  readonly build: (tokens: Tokens, nonce: number) => { readonly headers: Record<string, string>; readonly body: unknown }
}

const bearer = (token: string, extra: Record<string, string> = {}) => ({ authorization: `Bearer ${token}`, ...extra })

export const KINDS: ReadonlyArray<Kind> = [
  {
    name: "service key, no X-User-ID (org pays)",
    weight: 22,
    provider: "local",
    allowed: [200],
    price: LOCAL_PRICE,
    byok: false,
    build: () => ({ headers: bearer(PRESENTON_KEY), body: { prompt: PROMPT, ...LOCAL } })
  },
  {
    name: "service key + X-User-ID (Alice pays)",
    weight: 14,
    provider: "local",
    allowed: [200],
    price: LOCAL_PRICE,
    byok: false,
    build: () => ({ headers: bearer(BOLT_KEY, { "x-user-id": DEMO.alice.id }), body: { prompt: PROMPT, ...LOCAL } })
  },
  {
    name: "user key (Alice)",
    weight: 10,
    provider: "local",
    allowed: [200],
    price: LOCAL_PRICE,
    byok: false,
    build: () => ({ headers: bearer(DEMO.alice.key), body: { prompt: PROMPT, ...LOCAL } })
  },
  {
    name: "service JWT (org pays)",
    weight: 8,
    provider: "local",
    allowed: [200],
    price: LOCAL_PRICE,
    byok: false,
    build: (tokens) => ({ headers: bearer(tokens.service), body: { prompt: PROMPT, ...LOCAL } })
  },
  {
    name: "service JWT with user_id (Alice pays)",
    weight: 5,
    provider: "local",
    allowed: [200],
    price: LOCAL_PRICE,
    byok: false,
    build: (tokens) => ({ headers: bearer(tokens.serviceForAlice), body: { prompt: PROMPT, ...LOCAL } })
  },
  {
    name: "Idempotency-Key, sent twice (replay)",
    weight: 5,
    provider: "local",
    allowed: [200],
    price: LOCAL_PRICE,
    byok: false,
    retried: true,
    build: (_, nonce) => ({ headers: bearer(PRESENTON_KEY, { "idempotency-key": `bench-${process.pid}-${nonce}` }), body: { prompt: PROMPT, ...LOCAL } })
  },
  {
    name: "platform key via provider (dall-e-3)",
    weight: 8,
    provider: "upstream",
    allowed: [200],
    price: DALLE3_PRICE,
    byok: false,
    build: () => ({ headers: bearer(PRESENTON_KEY), body: { prompt: PROMPT, ...DALLE3 } })
  },
  {
    name: "BYOK user key (Bob, dall-e-3)",
    weight: 7,
    provider: "upstream",
    allowed: [200],
    price: 0,
    byok: true,
    build: () => ({ headers: bearer(DEMO.bob.key), body: { prompt: PROMPT, ...DALLE3 } })
  },
  {
    name: "service key + X-User-ID, BYOK payer (Bob)",
    weight: 4,
    provider: "upstream",
    allowed: [200],
    price: 0,
    byok: true,
    build: () => ({ headers: bearer(PRESENTON_KEY, { "x-user-id": DEMO.bob.id }), body: { prompt: PROMPT, ...DALLE3 } })
  },
  {
    name: "provider fails (500, no retry)",
    weight: 3,
    provider: "upstream",
    allowed: [503],
    price: 0,
    byok: false,
    build: () => ({ headers: bearer(PRESENTON_KEY), body: { prompt: `${PROMPT} [fail]`, ...DALLE3 } })
  },
  {
    name: "provider fails once, gateway retries",
    weight: 3,
    provider: "upstream",
    allowed: [200],
    price: DALLE3_PRICE,
    byok: false,
    build: (_, nonce) => ({ headers: bearer(BOLT_KEY), body: { prompt: `${PROMPT} [flaky:${process.pid}-${nonce}]`, ...DALLE3 } })
  },
  {
    name: "low-funded service (402 when empty)",
    weight: 6,
    provider: "upstream",
    allowed: [200, 402],
    price: DALLE3_PRICE,
    byok: false,
    build: (tokens) => ({ headers: bearer(tokens.lowFundedKey), body: { prompt: PROMPT, ...DALLE3 } })
  },
  {
    name: "rate-limited service (429 over its limit)",
    weight: 5,
    provider: "local",
    allowed: [200, 429],
    price: LOCAL_PRICE,
    byok: false,
    build: () => ({ headers: bearer(LIMITED.key), body: { prompt: PROMPT, ...LOCAL } })
  }
]

const TOTAL_WEIGHT = KINDS.reduce((sum, k) => sum + k.weight, 0)
/** Requests per slot of the schedule: a retried kind sends two. */
export const REQUESTS_PER_SLOT = KINDS.reduce((sum, k) => sum + k.weight * (k.retried === true ? 2 : 1), 0) / TOTAL_WEIGHT

/** A kind drawn by weight from `u` in [0, 1). */
export const pickKind = (u: number): Kind => {
  let left = u * TOTAL_WEIGHT
  for (const kind of KINDS) {
    left -= kind.weight
    if (left < 0) return kind
  }
  return KINDS[KINDS.length - 1]!
}

export type Phase = "warm-up" | "max" | "paced" | "bare"

/** One request and what came of it. */
export interface Answer {
  readonly kind: string
  readonly phase: Phase
  readonly instance: number
  /** 0 when nothing answered (refused, reset, past the deadline): see `error`. */
  readonly status: number
  readonly error?: string
  readonly code?: string
  readonly ms: number
  readonly endedAt: number
  readonly bytes: number
  readonly requestId?: string
  readonly chargedMillicredits: number
  readonly replayed: boolean
  readonly hold?: string
  readonly images: number
  readonly usingByok: boolean
  /** Why this answer is not one its kind allows, if it is not. */
  problem?: string | undefined
}

export const DEADLINE_MS = 30_000

export interface Client {
  readonly agent: Agent
  readonly send: (origin: string, path: string, headers: Record<string, string>, body: unknown) => Promise<{
    readonly status: number
    readonly headers: Record<string, string | Array<string> | undefined>
    readonly text: string
    readonly ms: number
    readonly error?: string
  }>
}

/** A keep-alive client; every request has a deadline of DEADLINE_MS. */
export const makeClient = (): Client => {
  const agent = new Agent({ keepAlive: true, maxSockets: 512 })
  const send: Client["send"] = (origin, path, headers, body) =>
    new Promise((resolve) => {
      const url = new URL(origin)
      const payload = JSON.stringify(body)
      const started = performance.now()
      const done = (result: Omit<Awaited<ReturnType<Client["send"]>>, "ms">) => {
        clearTimeout(timer)
        resolve({ ...result, ms: performance.now() - started })
      }
      const req = request({
        host: url.hostname,
        port: url.port,
        path,
        method: "POST",
        agent,
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload), ...headers }
      }, (res) => {
        const chunks: Array<Buffer> = []
        res.on("data", (chunk: Buffer) => chunks.push(chunk))
        res.on("end", () => done({ status: res.statusCode ?? 0, headers: res.headers, text: Buffer.concat(chunks).toString("utf8") }))
        res.on("error", (error) => done({ status: 0, headers: {}, text: "", error: error.message }))
      })
      const timer = setTimeout(() => req.destroy(new Error(`no answer within ${DEADLINE_MS} ms`)), DEADLINE_MS)
      req.on("error", (error) => done({ status: 0, headers: {}, text: "", error: error.message }))
      req.end(payload)
    })
  return { agent, send }
}

const GENERATIONS = "/v1/images/generations"

const header = (value: string | Array<string> | undefined) => (Array.isArray(value) ? value[0] : value)

/** Sends one request of `kind` to `origin` and reads what came back. */
export const generate = async (client: Client, origin: string, kind: Kind, phase: Phase, instance: number, request: ReturnType<Kind["build"]>): Promise<Answer> => {
  const sent = await client.send(origin, GENERATIONS, request.headers, request.body)
  let parsed: any
  try {
    parsed = sent.text === "" ? undefined : JSON.parse(sent.text)
  } catch {
    parsed = undefined
  }
  const charged = header(sent.headers["x-credits-charged"])
  return {
    kind: kind.name,
    phase,
    instance,
    status: sent.status,
    ...(sent.error === undefined ? {} : { error: sent.error }),
    ...(parsed?.error?.code === undefined ? {} : { code: String(parsed.error.code) }),
    ms: sent.ms,
    endedAt: performance.now(),
    bytes: Buffer.byteLength(sent.text),
    ...(header(sent.headers["x-request-id"]) === undefined ? {} : { requestId: header(sent.headers["x-request-id"])! }),
    chargedMillicredits: charged === undefined ? 0 : Math.round(Number(charged) * 1000),
    replayed: header(sent.headers["idempotent-replayed"]) === "true",
    ...(typeof parsed?._metadata?.transaction_id === "string" ? { hold: parsed._metadata.transaction_id } : {}),
    images: Array.isArray(parsed?.data) ? parsed.data.length : 0,
    usingByok: parsed?._metadata?.using_byok === true
  }
}

/** Why `answer` is not one `kind` allows (undefined when it is); `first` is the answer a replay repeats. */
export const problemOf = (kind: Kind, answer: Answer, first?: Answer): string | undefined => {
  if (answer.status === 0) return `no answer: ${answer.error}`
  if (!kind.allowed.includes(answer.status)) return `status ${answer.status} ${answer.code ?? ""}`.trim()
  if (answer.status === 503 && answer.code !== "provider_unavailable") return `503 ${answer.code}`
  if (answer.status !== 200) return undefined
  if (answer.images < 1) return "200 without an image"
  if (first !== undefined) {
    if (!answer.replayed) return "the retry with the same Idempotency-Key was not a replay"
    if (answer.hold !== first.hold) return "the replay names another transaction"
    return undefined
  }
  if (answer.replayed) return "a first request answered as a replay"
  if (kind.byok) return answer.usingByok && answer.chargedMillicredits === 0 ? undefined : "a BYOK call charged or not marked BYOK"
  if (answer.chargedMillicredits !== kind.price) return `charged ${answer.chargedMillicredits} millicredits, not ${kind.price}`
  if (answer.hold === undefined) return "a billed answer without a transaction id"
  return undefined
}
