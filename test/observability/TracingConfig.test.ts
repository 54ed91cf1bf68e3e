/** OpenTelemetry's variables as the gateway reads them: when tracing is on, and where spans go. */
import { ConfigProvider, Effect, Option, Redacted } from "effect"
import { describe, expect, it } from "vitest"
import { describeConfigError } from "../../src/adapters/config/ConfigErrors.ts"
import { TracingConfig } from "../../src/adapters/observability/TracingConfig.ts"

const read = (env: Record<string, string>) => Effect.runPromise(TracingConfig.parse(ConfigProvider.fromEnv({ env })))
const refusal = (env: Record<string, string>) =>
  Effect.runPromise(Effect.flip(TracingConfig.parse(ConfigProvider.fromEnv({ env }))).pipe(Effect.map(describeConfigError)))

describe("TracingConfig", () => {
  it("is off without an endpoint, and with one when OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none", async () => {
    expect(Option.isNone(await read({}))).toBe(true)
    expect(Option.isNone(await read({ OTEL_EXPORTER_OTLP_ENDPOINT: "" }))).toBe(true)
    const endpoint = { OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318" }
    expect(Option.isNone(await read({ ...endpoint, OTEL_SDK_DISABLED: "true" }))).toBe(true)
    expect(Option.isNone(await read({ ...endpoint, OTEL_TRACES_EXPORTER: "none" }))).toBe(true)
  })

  it("sends to <endpoint>/v1/traces as protobuf under image-gateway by default; the traces endpoint is used as given", async () => {
    const base = Option.getOrThrow(await read({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318/" }))
    expect(base).toMatchObject({ url: "http://collector:4318/v1/traces", serviceName: "image-gateway", protocol: "http/protobuf" })
    expect(Redacted.value(base.headers)).toEqual({})
    const under = Option.getOrThrow(await read({ OTEL_EXPORTER_OTLP_ENDPOINT: "https://otel.example.com/otlp" }))
    expect(under.url).toBe("https://otel.example.com/otlp/v1/traces")
    const exact = Option.getOrThrow(
      await read({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://a:4318", OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://b:9999/traces" })
    )
    expect(exact.url).toBe("http://b:9999/traces")
  })

  it("reads the service name, the protocol and URL-encoded headers, the traces-specific ones first, and keeps headers redacted", async () => {
    const settings = Option.getOrThrow(await read({
      OTEL_EXPORTER_OTLP_ENDPOINT: "http://collector:4318",
      OTEL_SERVICE_NAME: "gateway-eu",
      OTEL_EXPORTER_OTLP_PROTOCOL: "http/protobuf",
      OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: "http/json",
      OTEL_EXPORTER_OTLP_HEADERS: "Authorization=Bearer%20collector-token,x-tenant=eu"
    }))
    expect(settings).toMatchObject({ serviceName: "gateway-eu", protocol: "http/json" })
    expect(Redacted.value(settings.headers)).toEqual({ authorization: "Bearer collector-token", "x-tenant": "eu" })
    expect(String(settings.headers)).not.toContain("collector-token")
  })

  it("refuses gRPC, a non-HTTP endpoint and a malformed header list, naming the variable and never a header's value", async () => {
    expect(await refusal({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4317", OTEL_EXPORTER_OTLP_PROTOCOL: "grpc" })).toMatch(
      /^OTEL_EXPORTER_OTLP_PROTOCOL: .*grpc is not supported/
    )
    expect(await refusal({ OTEL_EXPORTER_OTLP_ENDPOINT: "collector:4318" })).toMatch(/^OTEL_EXPORTER_OTLP_ENDPOINT: must be an http/)
    const headers = await refusal({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_EXPORTER_OTLP_HEADERS: "token-without-a-name" })
    expect(headers).toMatch(/^OTEL_EXPORTER_OTLP_HEADERS: expected name=value/)
    expect(headers).not.toContain("token-without-a-name")
  })
})
