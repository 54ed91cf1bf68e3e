/** Every sample of a Prometheus text exposition, keyed by `name{labels}`. */
export const samples = (text: string): Map<string, number> => {
  const found = new Map<string, number>()
  for (const line of text.split("\n")) {
    if (line.startsWith("#") || line.trim() === "") continue
    const at = line.lastIndexOf(" ")
    found.set(line.slice(0, at), Number(line.slice(at + 1)))
  }
  return found
}

/** The samples of `GET /metrics` at `origin`. */
export const scrape = async (origin: string): Promise<Map<string, number>> => {
  const response = await fetch(`${origin}/metrics`, { signal: AbortSignal.timeout(10_000) })
  if (response.status !== 200) throw new Error(`GET /metrics answered ${response.status}`)
  return samples(await response.text())
}

/** How much `key` grew between two scrapes (absent counts as 0). */
export const delta = (before: Map<string, number>, after: Map<string, number>, key: string) =>
  (after.get(key) ?? 0) - (before.get(key) ?? 0)

/** Scrapes until `accept` holds, for at most `deadlineMs`; the last scrape either way. */
export const scrapeUntil = async (
  origin: string,
  accept: (found: Map<string, number>) => boolean,
  deadlineMs = 10_000
): Promise<Map<string, number>> => {
  const until = Date.now() + deadlineMs
  for (;;) {
    const found = await scrape(origin)
    if (accept(found) || Date.now() > until) return found
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

export const HOLDS = "image_gateway_ledger_pending_holds"
export const HELD = "image_gateway_ledger_pending_hold_millicredits"
export const consumedBy = (service: string) => `image_gateway_service_consumed_millicredits_total{service="${service}"}`
