import { Config, Option, Redacted, Schema } from "effect"

/**
 * Where and how traces are exported, from OpenTelemetry's standard variables. Kept apart from
 * the exporter (Tracing.ts), which the gateway loads only when tracing is on.
 */
export interface TracingSettings {
  /** The OTLP/HTTP traces URL: `<OTEL_EXPORTER_OTLP_ENDPOINT>/v1/traces`, or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as given. */
  readonly url: string
  readonly serviceName: string
  readonly protocol: "http/protobuf" | "http/json"
  /** Sent with every export (a hosted collector's credentials): kept redacted. */
  readonly headers: Redacted.Redacted<Record<string, string>>
  /** How long one export request may take (OTEL_EXPORTER_OTLP_TIMEOUT, milliseconds). */
  readonly timeoutMs: number
  /** How often ended spans are sent (OTEL_BSP_SCHEDULE_DELAY, milliseconds). */
  readonly scheduleDelayMs: number
}

const httpUrl = (name: string) =>
  Config.schema(
    Schema.String.check(Schema.makeFilter((text: string) => {
      if (text === "") return undefined
      try {
        const url = new URL(text)
        return url.protocol === "http:" || url.protocol === "https:" ? undefined : "must be an http:// or https:// URL"
      } catch {
        return "must be an http:// or https:// URL (e.g. http://127.0.0.1:4318)"
      }
    })),
    name
  ).pipe(Config.option, Config.map(Option.filter((text) => text !== "")))

/** `name=value,…` with URL-encoded values (OTel's format) → the headers, or what is wrong (never a value). */
export const parseHeaders = (text: string): Record<string, string> | string => {
  const headers: Record<string, string> = {}
  for (const entry of text.split(",").map((part) => part.trim()).filter((part) => part !== "")) {
    const at = entry.indexOf("=")
    if (at <= 0) return "expected name=value pairs separated by commas (e.g. authorization=Bearer%20…)"
    try {
      headers[decodeURIComponent(entry.slice(0, at).trim()).toLowerCase()] = decodeURIComponent(entry.slice(at + 1).trim())
    } catch {
      return "a header name or value is not valid URL encoding"
    }
  }
  return headers
}

const headersConfig = (name: string) =>
  Config.schema(
    Schema.String.check(Schema.makeFilter((text: string) => {
      const parsed = parseHeaders(text)
      return typeof parsed === "string" ? parsed : undefined
    })),
    name
  ).pipe(Config.option)

/** The signal-specific variable when set, else the general one. */
const either = <A>(specific: Config.Config<Option.Option<A>>, general: Config.Config<Option.Option<A>>) =>
  Config.all([specific, general]).pipe(Config.map(([s, g]) => Option.orElse(s, () => g)))

const PROTOCOLS = ["http/protobuf", "http/json"] as const

const protocol = (name: string) =>
  Config.schema(
    Schema.String.check(Schema.makeFilter((text: string) =>
      (PROTOCOLS as ReadonlyArray<string>).includes(text)
        ? undefined
        : "must be http/protobuf or http/json (traces are exported over OTLP/HTTP; grpc is not supported)"
    )),
    name
  ).pipe(Config.option, Config.map(Option.map((text) => text as TracingSettings["protocol"])))

/**
 * Tracing is on when OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set,
 * unless OTEL_SDK_DISABLED=true or OTEL_TRACES_EXPORTER=none. Spans go as protobuf by default
 * (OTLP/HTTP's default), or JSON with OTEL_EXPORTER_OTLP_PROTOCOL=http/json.
 */
export const TracingConfig: Config.Config<Option.Option<TracingSettings>> = Config.all({
  base: httpUrl("OTEL_EXPORTER_OTLP_ENDPOINT"),
  traces: httpUrl("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"),
  disabled: Config.Boolean("OTEL_SDK_DISABLED").pipe(Config.withDefault(false)),
  exporter: Config.schema(Schema.Literals(["otlp", "none"]), "OTEL_TRACES_EXPORTER").pipe(Config.withDefault("otlp" as const)),
  serviceName: Config.NonEmptyString("OTEL_SERVICE_NAME").pipe(Config.withDefault("image-gateway")),
  protocol: either(protocol("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"), protocol("OTEL_EXPORTER_OTLP_PROTOCOL")),
  headers: either(headersConfig("OTEL_EXPORTER_OTLP_TRACES_HEADERS"), headersConfig("OTEL_EXPORTER_OTLP_HEADERS")),
  timeoutMs: Config.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), "OTEL_EXPORTER_OTLP_TIMEOUT").pipe(
    Config.withDefault(10_000)
  ),
  scheduleDelayMs: Config.schema(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)), "OTEL_BSP_SCHEDULE_DELAY").pipe(
    Config.withDefault(5_000)
  )
}).pipe(
  Config.map((c) => {
    const url = Option.orElse(c.traces, () => Option.map(c.base, (base) => `${base.replace(/\/+$/, "")}/v1/traces`))
    if (Option.isNone(url) || c.disabled || c.exporter === "none") return Option.none()
    const headers = Option.match(c.headers, { onNone: () => ({}), onSome: parseHeaders })
    return Option.some({
      url: url.value,
      serviceName: c.serviceName,
      protocol: Option.getOrElse(c.protocol, () => "http/protobuf" as const),
      // Checked by its config above: a string here would have failed there.
      headers: Redacted.make(typeof headers === "string" ? {} : headers),
      timeoutMs: c.timeoutMs,
      scheduleDelayMs: c.scheduleDelayMs
    })
  })
)
