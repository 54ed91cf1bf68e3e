/**
 * Hostile service JWTs over HTTP: every one is refused with a 401 in OpenAI's error shape and
 * moves no credit. Only the cases no other test covers are here; already covered elsewhere:
 * `alg: none` and a wrong secret (test/http/DecisionTable.test.ts, specs/PrincipalResolverSpec.ts),
 * expired and within-skew (DecisionTable, PrincipalResolverSpec), HS512, a missing `exp` and a
 * lifetime over one hour (PrincipalResolverSpec, in process), an unknown service (Property.test),
 * a user key with a foreign X-User-ID → 403 and unknown / revoked / expired keys → 401
 * (DecisionTable).
 *
 * The gateway verifies HS256 only, with each service's shared secret: there is no public key
 * that an HS/RS confusion could use as an HMAC secret. The confusion tried here is the other
 * way: tokens signed with RS256 / ES256 / PS256 keys whose header names those algorithms.
 * `aud` and `iss` are not part of the token contract (SPEC §3): they are ignored, not checked.
 */
import { Effect } from "effect"
import { createHmac } from "node:crypto"
import { exportSPKI, generateKeyPair, SignJWT } from "jose"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { JWT_CLOCK_SKEW_SECONDS } from "../../src/application/PrincipalResolver.ts"
import { DEMO } from "../../src/DemoData.ts"
import { serviceJwt } from "../../specs/support/Harness.ts"
import {
  balances,
  bearerHeader,
  changedAccounts,
  generate,
  openAISchemas,
  schemaErrors,
  startGateway,
  type TestGateway
} from "../http/support/HttpHarness.ts"

let gateway: TestGateway
beforeAll(async () => {
  gateway = await startGateway()
})
afterAll(() => gateway.close())

const secret = new TextEncoder().encode(DEMO.presentonJwtSecret)
const nowSeconds = () => Math.floor(Date.now() / 1000)
const b64 = (value: unknown) => Buffer.from(typeof value === "string" ? value : JSON.stringify(value)).toString("base64url")

/** A token with the demo service's claims, signed HS256 with its real secret, unless told otherwise. */
const signed = (claims: Record<string, unknown>, header: Record<string, unknown> = {}) =>
  new SignJWT({ service: "presenton-service", ...claims }).setProtectedHeader({ alg: "HS256", ...header }).sign(secret)

const asymmetric = async (alg: "RS256" | "ES256" | "PS256") => {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true })
  const now = nowSeconds()
  const token = await new SignJWT({ service: "presenton-service", iat: now, exp: now + 600 })
    .setProtectedHeader({ alg })
    .sign(privateKey)
  return { token, publicPem: await exportSPKI(publicKey) }
}

interface Case {
  readonly what: string
  readonly token: () => Promise<string>
  readonly code: "invalid_token" | "token_expired"
}

const CASES: ReadonlyArray<Case> = [
  { what: "alg 'None' (case variant of none), no signature", code: "invalid_token", token: async () => `${b64({ alg: "None", typ: "JWT" })}.${b64({ service: "presenton-service", iat: nowSeconds(), exp: nowSeconds() + 60 })}.` },
  { what: "alg 'NONE' with a valid HS256 signature attached", code: "invalid_token", token: async () => {
    const good = (await signed({ iat: nowSeconds(), exp: nowSeconds() + 60 })).split(".")
    return `${b64({ alg: "NONE" })}.${good[1]}.${good[2]}`
  } },
  { what: "a valid signature over a different header (alg swapped after signing)", code: "invalid_token", token: async () => {
    const good = (await signed({ iat: nowSeconds(), exp: nowSeconds() + 60 })).split(".")
    return `${b64({ alg: "HS256", typ: "JWT", kid: "other" })}.${good[1]}.${good[2]}`
  } },
  { what: "a valid signature over different claims (service swapped after signing)", code: "invalid_token", token: async () => {
    const good = (await signed({ iat: nowSeconds(), exp: nowSeconds() + 60 })).split(".")
    return `${good[0]}.${b64({ service: "bolt-service", iat: nowSeconds(), exp: nowSeconds() + 60 })}.${good[2]}`
  } },
  { what: "RS256, signed with an RSA key", code: "invalid_token", token: async () => (await asymmetric("RS256")).token },
  { what: "ES256, signed with an EC key", code: "invalid_token", token: async () => (await asymmetric("ES256")).token },
  { what: "PS256, signed with an RSA key", code: "invalid_token", token: async () => (await asymmetric("PS256")).token },
  { what: "HS256 signed with an RSA public key's PEM as the secret (HS/RS confusion)", code: "invalid_token", token: async () => {
    const { publicPem } = await asymmetric("RS256")
    const now = nowSeconds()
    return new SignJWT({ service: "presenton-service", iat: now, exp: now + 600 }).setProtectedHeader({ alg: "HS256" })
      .sign(new TextEncoder().encode(publicPem))
  } },
  { what: "HS256 with an empty secret", code: "invalid_token", token: async () => {
    // WebCrypto refuses an empty HMAC key: signed by hand.
    const unsigned = `${b64({ alg: "HS256", typ: "JWT" })}.${b64({ service: "presenton-service", iat: nowSeconds(), exp: nowSeconds() + 600 })}`
    return `${unsigned}.${createHmac("sha256", "").update(unsigned).digest("base64url")}`
  } },
  { what: "missing exp (over HTTP)", code: "invalid_token", token: () => Effect.runPromise(serviceJwt({}, { exp: null })) },
  { what: "exp as a string", code: "invalid_token", token: () => signed({ iat: nowSeconds(), exp: String(nowSeconds() + 600) }) },
  { what: "expired an hour ago, iat before it", code: "token_expired", token: () => signed({ iat: nowSeconds() - 7200, exp: nowSeconds() - 3600 }) },
  { what: `far-future iat (a day ahead, beyond the ${JWT_CLOCK_SKEW_SECONDS} s skew), exp within the hour`, code: "invalid_token", token: () => signed({ iat: nowSeconds() + 86_400, exp: nowSeconds() + 600 }) },
  { what: `iat just beyond the skew (${JWT_CLOCK_SKEW_SECONDS + 30} s ahead)`, code: "invalid_token", token: () => signed({ iat: nowSeconds() + JWT_CLOCK_SKEW_SECONDS + 30, exp: nowSeconds() + 600 }) },
  { what: "iat as a string", code: "invalid_token", token: () => signed({ iat: "yesterday", exp: nowSeconds() + 600 }) },
  { what: "nbf an hour in the future", code: "invalid_token", token: () => signed({ iat: nowSeconds(), nbf: nowSeconds() + 3600, exp: nowSeconds() + 600 }) },
  { what: "a payload that is not a JSON object", code: "invalid_token", token: async () => `${b64({ alg: "HS256" })}.${b64("[1,2,3]")}.c2ln` },
  { what: "a header that is not JSON", code: "invalid_token", token: async () => `${b64("{alg:HS256")}.${b64({ service: "presenton-service" })}.c2ln` }
]

describe("hostile service JWTs over HTTP: 401 in OpenAI's shape, nothing charged", () => {
  it.each(CASES)("$what → 401 $code", async ({ token, code }) => {
    const before = await gateway.run(balances)
    const r = await generate(gateway.origin, bearerHeader(await token()), { prompt: "a jwt probe", model: "dall-e-3", size: "1024x1024", quality: "standard", n: 1 })
    expect(r.status, r.text).toBe(401)
    expect(schemaErrors(openAISchemas.errorResponse, r.json)).toBeUndefined()
    expect(r.json.error.code).toBe(code)
    expect(r.text).not.toContain(DEMO.presentonJwtSecret)
    expect(changedAccounts(before, await gateway.run(balances))).toEqual([])
  })

  it("the within-skew iat a real caller sends (30 s ahead) is still accepted, and charged", async () => {
    const before = await gateway.run(balances)
    const r = await generate(gateway.origin, bearerHeader(await signed({ iat: nowSeconds() + 30, exp: nowSeconds() + 600 })))
    expect(r.status, r.text).toBe(200)
    expect(changedAccounts(before, await gateway.run(balances)).length).toBe(2)
  })

  it("aud and iss are ignored, not a way in or out: a valid token with foreign ones is accepted", async () => {
    const r = await generate(gateway.origin, bearerHeader(await signed({ iat: nowSeconds(), exp: nowSeconds() + 600, aud: "elsewhere", iss: "someone" })))
    expect(r.status, r.text).toBe(200)
  })
})
