import { Effect, Layer, Option } from "effect"
import { type AdminSession, AdminSessionStore } from "../../application/ports/AdminSessionStore.ts"

/** Dashboard sessions in process memory (`STORAGE=memory`): lost on restart, as every memory store. */
export const MemoryAdminSessionStore = Layer.sync(AdminSessionStore, () => {
  const rows = new Map<string, AdminSession>()
  return AdminSessionStore.of({
    create: (session) => Effect.sync(() => void rows.set(session.idHash, session)),
    find: (idHash) => Effect.sync(() => Option.fromUndefinedOr(rows.get(idHash))),
    touch: (idHash, at) =>
      Effect.sync(() => {
        const row = rows.get(idHash)
        if (row !== undefined) rows.set(idHash, { ...row, lastSeenAt: Math.max(row.lastSeenAt, at) })
      }),
    remove: (idHash) => Effect.sync(() => void rows.delete(idHash)),
    removeStale: (now, idleBefore) =>
      Effect.sync(() => {
        for (const [hash, row] of rows) if (row.expiresAt <= now || row.lastSeenAt < idleBefore) rows.delete(hash)
      })
  })
})
