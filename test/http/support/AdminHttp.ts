import { Ajv, type ValidateFunction } from "ajv"
import { expect } from "vitest"
import { DEMO } from "../../../src/DemoData.ts"
import { bearerHeader, http, type HttpResult } from "./HttpHarness.ts"

/**
 * A client of the admin API for tests: every answer is checked against what `/openapi.json`
 * documents for that operation and status (the status is documented, the body matches its
 * schema), so the document and the server cannot drift apart unnoticed.
 */

export const ADMIN_KEY = DEMO.adminKey
export const PREFIX = "/api/v1/admin"

export interface AdminRequest {
  readonly params?: Record<string, string>
  readonly query?: Record<string, string | number>
  /** A value sent as JSON, or a string sent as it is. */
  readonly body?: unknown
  /** Replaces the default headers (the demo admin key, and JSON when there is a body). */
  readonly headers?: Record<string, string>
  /** Added to the default headers. */
  readonly extraHeaders?: Record<string, string>
}

export const makeAdminClient = async (origin: string) => {
  const document = (await http(origin, "/openapi.json")).json
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true })
  ajv.addSchema({ $id: "gateway", components: document.components })
  const validators = new Map<string, ValidateFunction>()
  const validatorOf = (schema: Record<string, unknown>): ValidateFunction => {
    const ref = typeof schema["$ref"] === "string" ? `gateway${schema["$ref"]}` : undefined
    const id = ref ?? JSON.stringify(schema)
    let validate = validators.get(id)
    if (validate === undefined) {
      validate = ref !== undefined ? ajv.getSchema(ref)! : ajv.compile(schema)
      validators.set(id, validate)
    }
    return validate
  }

  /** `template` as the document names it (`/services/{name}`), filled from `params`. */
  const call = async (method: string, template: string, request: AdminRequest = {}): Promise<HttpResult> => {
    const path = template.replace(/\{(\w+)\}/g, (_, name: string) => encodeURIComponent(request.params?.[name] ?? ""))
    const query = request.query === undefined
      ? ""
      : `?${new URLSearchParams(Object.entries(request.query).map(([k, v]) => [k, String(v)])).toString()}`
    const body = request.body === undefined ? undefined : typeof request.body === "string" ? request.body : JSON.stringify(request.body)
    const headers = request.headers ?? {
      ...bearerHeader(ADMIN_KEY),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...request.extraHeaders
    }
    const r = await http(origin, `${PREFIX}${path}${query}`, { method, headers, body })
    const operation = document.paths[`${PREFIX}${template}`]?.[method.toLowerCase()]
    expect(operation, `${method} ${PREFIX}${template} is in the document`).toBeDefined()
    const documented = operation.responses[String(r.status)]
    expect(documented, `${method} ${template} documents status ${r.status} (${r.text.slice(0, 200)})`).toBeDefined()
    const schema = documented.content?.["application/json"]?.schema
    expect(schema, `${method} ${template} ${r.status} has a JSON schema`).toBeDefined()
    const validate = validatorOf(schema)
    expect(validate(r.json), `${method} ${template} ${r.status}: ${JSON.stringify(validate.errors)} in ${r.text.slice(0, 300)}`).toBe(true)
    return r
  }

  return { call, document }
}

export type AdminClient = Awaited<ReturnType<typeof makeAdminClient>>

/** An OpenAI-shaped refusal with this status, code and (when given) param. */
export const expectRefusal = (r: HttpResult, status: number, code: string, param?: string | null) => {
  expect({ status: r.status, code: r.json?.error?.code, ...(param === undefined ? {} : { param: r.json?.error?.param }) }, r.text)
    .toEqual({ status, code, ...(param === undefined ? {} : { param }) })
  expect(Object.keys(r.json.error).sort()).toEqual(["code", "message", "param", "type"])
  expect(r.headers.get("content-type")).toBe("application/json")
  expect(r.headers.get("x-request-id")).toBeTruthy()
}

/** A fresh name, so that tests sharing a gateway do not meet. */
let counter = 0
export const fresh = (stem: string) => `${stem}-${process.pid}-${++counter}`
export const freshOrg = (stem: string) => `org_${stem.replaceAll("-", "_")}_${process.pid}_${++counter}`
