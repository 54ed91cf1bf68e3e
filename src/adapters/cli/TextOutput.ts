import { MILLI_PER_CREDIT } from "../../domain/Money.ts"

/**
 * What the admin CLI prints for people: aligned tables, credits with up to 3 decimals, times in
 * UTC. Scripts use `--json` instead (AdminJson), so nothing here is meant to be parsed.
 */

/** Millicredits as credits with up to 3 decimals and thousands separators: 10,000 · 48 · 0.5 · -1.25. */
export const credits = (millicredits: number): string => {
  const sign = millicredits < 0 ? "-" : ""
  const abs = Math.abs(millicredits)
  const whole = Math.floor(abs / MILLI_PER_CREDIT)
  const fraction = String(abs % MILLI_PER_CREDIT).padStart(3, "0").replace(/0+$/, "")
  return `${sign}${whole.toLocaleString("en-US")}${fraction === "" ? "" : `.${fraction}`}`
}

/** An epoch-ms time as `2026-03-01 12:00:00Z`, or `-` for none. */
export const time = (at: number | undefined): string =>
  at === undefined ? "-" : new Date(at).toISOString().replace("T", " ").replace(/\.\d{3}Z$/, "Z")

export const orDash = (value: string | number | undefined | null): string =>
  value === undefined || value === null || value === "" ? "-" : String(value)

export const yesNo = (value: boolean): string => (value ? "yes" : "no")

/** A share as a percentage with one decimal: 12.5%. */
export const percent = (part: number, whole: number): string =>
  whole === 0 ? "-" : `${(Math.round((part * 1000) / whole) / 10).toFixed(1)}%`

export interface Column<A> {
  readonly header: string
  readonly cell: (row: A) => string
  /** Numbers read best right-aligned. */
  readonly align?: "left" | "right" | undefined
}

/** Rows under a header, each column as wide as its widest cell; `(none)` for no rows. */
export const table = <A>(rows: ReadonlyArray<A>, columns: ReadonlyArray<Column<A>>): string => {
  if (rows.length === 0) return "(none)"
  const cells = rows.map((row) => columns.map((c) => c.cell(row).replace(/\s+/g, " ")))
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((r) => r[i]!.length)))
  const line = (values: ReadonlyArray<string>) =>
    values
      .map((v, i) => (columns[i]!.align === "right" ? v.padStart(widths[i]!) : v.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd()
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join("\n")
}

/** `label  value` lines with the values aligned. */
export const fields = (entries: ReadonlyArray<readonly [string, string]>): string => {
  const width = Math.max(...entries.map(([label]) => label.length))
  return entries.map(([label, value]) => `${`${label}:`.padEnd(width + 1)}  ${value}`).join("\n")
}
