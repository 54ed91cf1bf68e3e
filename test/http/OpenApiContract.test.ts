import { Effect } from "effect"
import { Ajv, type ValidateFunction } from "ajv"
import fc from "fast-check"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Provisioning } from "../../src/application/Provisioning.ts"
import { accountOfOrg, type TransferId } from "../../src/domain/Ids.ts"
import { DEFAULT_MODELS, type ModelSpec } from "../../src/domain/Models.ts"
import { credits } from "../../src/domain/Money.ts"
import { WORLD } from "../../specs/support/Harness.ts"
import { bearerHeader, generate, http, schemaErrors, startGateway, type TestGateway } from "./support/HttpHarness.ts"

/**
 * The published document is what the server does: for random generation bodies, the
 * `CreateImageRequest` of `/openapi.json` accepts a body exactly when the server does not refuse
 * it with a 400, and every answer matches the schema the document gives for its status.
 *
 * Model-specific rules aside: what one model accepts and another does not (its sizes,
 * qualities and styles, `n` above its maximum, dall-e-2's 1,000-character prompts, `output_format`
 * and `background` on models other than gpt-image, `url` on models that only return Base64, a
 * model id that does not exist) is listed by `GET /v1/models`, not by the request schema. The
 * generator draws those fields only from values the chosen model accepts, or from values that are
 * wrong for every model (a wrong JSON type, `n` of 0 or 1.5, a blank or 4,001-character prompt,
 * an unknown `response_format`, …), which the schema must refuse.
 */

const MODELS = DEFAULT_MODELS

/** Values of the wrong JSON type for a string field, and for a number field. */
const notString = fc.constantFrom<unknown>(5, true, [], {})
const notNumber = fc.constantFrom<unknown>("7", true, [], {})
const absentOrNull = fc.constantFrom<unknown>(undefined, null)

/** What each field may be for `model`: values it accepts (absent and null among them), and values no model accepts. */
const fieldsFor = (model: ModelSpec): Record<string, { readonly ok: fc.Arbitrary<unknown>; readonly bad: fc.Arbitrary<unknown> }> => {
  const string = (valid: fc.Arbitrary<unknown>, invalid: ReadonlyArray<unknown> = []) => ({
    ok: fc.oneof(valid, absentOrNull),
    bad: invalid.length === 0 ? notString : fc.oneof(notString, fc.constantFrom(...invalid))
  })
  const number = (valid: fc.Arbitrary<unknown>, invalid: ReadonlyArray<unknown> = []) => ({
    ok: fc.oneof(valid, absentOrNull),
    bad: invalid.length === 0 ? notNumber : fc.oneof(notNumber, fc.constantFrom(...invalid))
  })
  return {
    prompt: {
      ok: fc.oneof(
        { weight: 5, arbitrary: fc.string({ unit: fc.constantFrom("a", "b", "z", " ", "é", "🦄"), maxLength: 40 }).map((t) => `${t}x`) },
        // Exactly the model's limit (code points: an emoji is one character).
        { weight: 1, arbitrary: fc.constant("🦄".repeat(model.maxPromptLength)) }
      ),
      bad: fc.oneof(fc.constantFrom<unknown>("", " ", "\n\t ", "x".repeat(4001), "🦄".repeat(4001), undefined, null), notString)
    },
    model: model.id === "dall-e-3" ? string(fc.constant(model.id)) : { ok: fc.constant(model.id), bad: notString },
    n: number(fc.integer({ min: 1, max: model.maxN }), [0, 11, -1, 1.5, 1e20]),
    size: string(fc.constantFrom(...model.sizes)),
    quality: string(fc.constantFrom(...model.qualities)),
    style: model.styles.length === 0 ? { ok: absentOrNull, bad: notString } : string(fc.constantFrom(...model.styles)),
    response_format: string(fc.constantFrom(...model.responseFormats), ["jpeg", "URL"]),
    output_format: model.acceptsOutputOptions
      ? string(fc.constantFrom("png", "jpeg", "webp"), ["gif"])
      : { ok: absentOrNull, bad: fc.oneof(notString, fc.constant("gif")) },
    background: model.acceptsOutputOptions
      ? string(fc.constantFrom("transparent", "opaque", "auto"), ["none"])
      : { ok: absentOrNull, bad: fc.oneof(notString, fc.constant("none")) },
    output_compression: number(fc.integer({ min: 0, max: 100 })),
    moderation: string(fc.constantFrom("auto", "low")),
    user: string(fc.string({ maxLength: 10 })),
    seed: number(fc.integer(), [0.5]),
    // A field the API does not know is ignored.
    extra: { ok: fc.constantFrom<unknown>(undefined, "ignored", { nested: [1] }), bad: fc.constant(undefined) }
  }
}

/** A body the model accepts, with none, one or two of its fields made wrong for every model. */
const bodyFor = (model: ModelSpec) => {
  const fields = fieldsFor(model)
  const names = Object.keys(fields)
  return fc.tuple(
    fc.record(Object.fromEntries(names.map((name) => [name, fields[name]!.ok]))),
    fc.subarray(names.filter((name) => name !== "extra"), { maxLength: 2 }).chain((broken) =>
      fc.tuple(...broken.map((name) => fields[name]!.bad.map((value) => [name, value] as const)))
    )
  ).map(([valid, broken]) =>
    Object.fromEntries(Object.entries({ ...valid, ...Object.fromEntries(broken) }).filter(([, v]) => v !== undefined))
  )
}

const anyBody = fc.constantFrom(...MODELS).chain(bodyFor)

describe("the published OpenAPI document is what the server does", () => {
  let gateway: TestGateway
  let validate: { readonly request: ValidateFunction; readonly images: ValidateFunction; readonly error: ValidateFunction }

  beforeAll(async () => {
    gateway = await startGateway()
    // A payer no random request can exhaust.
    await gateway.run(Provisioning.use((p) =>
      p.grant(accountOfOrg(WORLD.presentonOrg), credits(100_000_000), "contract test", "contract-test" as TransferId)
    ) as Effect.Effect<void, never, never>)
    const document = (await http(gateway.origin, "/openapi.json")).json
    const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true })
    ajv.addSchema({ $id: "gateway", components: document.components })
    const get = (name: string) => ajv.getSchema(`gateway#/components/schemas/${name}`)!
    validate = { request: get("CreateImageRequest"), images: get("ImagesResponse"), error: get("ErrorResponse") }
  })
  afterAll(() => gateway.close())

  it("accepts exactly the bodies the server does not refuse with a 400, and every answer matches its documented schema (300 random bodies)", async () => {
    let accepted = 0
    await fc.assert(
      fc.asyncProperty(anyBody, async (body) => {
        const documented = validate.request(body) as boolean
        const answer = await generate(gateway.origin, bearerHeader(WORLD.presentonKey), body, "/v1/images/generations")
        if (documented) {
          accepted++
          expect({ status: answer.status, error: answer.json?.error }).toEqual({ status: 200, error: undefined })
          expect(schemaErrors(validate.images, answer.json)).toBeUndefined()
        } else {
          expect(answer.status).toBe(400)
          expect(schemaErrors(validate.error, answer.json)).toBeUndefined()
        }
      }),
      { numRuns: 300 }
    )
    // Both sides of the equivalence were exercised.
    expect(accepted).toBeGreaterThan(20)
    expect(accepted).toBeLessThan(280)
  })

  it("documents unknown fields as allowed and the prompt's limits as the server counts them", async () => {
    const schema = (await http(gateway.origin, "/openapi.json")).json.components.schemas.CreateImageRequest
    expect(schema.additionalProperties).not.toBe(false)
    expect(schema.properties.prompt).toMatchObject({ maxLength: 4000, pattern: "\\S" })
    const emoji = await generate(gateway.origin, bearerHeader(WORLD.presentonKey), { prompt: "🦄".repeat(4000), model: "local" })
    expect(emoji.status).toBe(200)
    const tooLong = await generate(gateway.origin, bearerHeader(WORLD.presentonKey), { prompt: "🦄".repeat(4001), model: "local" })
    expect(tooLong.json.error).toMatchObject({ param: "prompt", code: "string_above_max_length" })
  })
})
