import { Effect, Layer } from "effect"
import { type UsageEvent, UsageLog } from "../../application/ports/UsageLog.ts"

export const MemoryUsageLog = Layer.sync(UsageLog, () => {
  const events: Array<UsageEvent> = []
  return UsageLog.of({
    record: (e) => Effect.sync(() => void events.push(e)),
    list: (filter) =>
      Effect.sync(() => {
        const out: Array<UsageEvent> = []
        for (let i = events.length - 1; i >= 0 && out.length < (filter.limit ?? Infinity); i--) {
          const e = events[i]!
          if (filter.payer !== undefined && e.payer !== filter.payer) continue
          if (filter.service !== undefined && e.service !== filter.service) continue
          if (filter.since !== undefined && e.at < filter.since) continue
          out.push(e)
        }
        return out
      })
  })
})
