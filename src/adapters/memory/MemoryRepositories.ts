import { Effect, Layer, Option } from "effect"
import { OrganizationRepository, ServiceRegistry, SessionStore, UserRepository } from "../../application/ports/Repositories.ts"
import type { Organization, Service, Session, User } from "../../domain/Entities.ts"
import type { OrgId, ServiceName, UserId } from "../../domain/Ids.ts"

const table = <K, V>() => {
  const rows = new Map<K, V>()
  return {
    rows,
    find: (k: K) => Effect.sync(() => Option.fromUndefinedOr(rows.get(k))),
    put: (k: K, v: V) => Effect.sync(() => void rows.set(k, v))
  }
}

/** One page of `rows` by id (code-unit order, as PostgreSQL's "C" collation orders ASCII ids): those after `after`. */
const pageById = <K extends string, V>(rows: Map<K, V>, page: { readonly after?: string | undefined; readonly limit: number }) =>
  Effect.sync(() => {
    const after = page.after
    const ids = [...rows.keys()].filter((id) => after === undefined || id > after).sort()
    return ids.slice(0, Math.max(0, page.limit)).map((id) => rows.get(id)!)
  })

export const MemoryUserRepository = Layer.sync(UserRepository, () => {
  const t = table<UserId, User>()
  return UserRepository.of({ find: t.find, save: (u) => t.put(u.id, u), list: (page) => pageById(t.rows, page) })
})

export const MemoryOrganizationRepository = Layer.sync(OrganizationRepository, () => {
  const t = table<OrgId, Organization>()
  return OrganizationRepository.of({ find: t.find, save: (o) => t.put(o.id, o), list: (page) => pageById(t.rows, page) })
})

export const MemoryServiceRegistry = Layer.sync(ServiceRegistry, () => {
  const t = table<ServiceName, Service>()
  return ServiceRegistry.of({
    find: t.find,
    save: (s) => t.put(s.name, s),
    list: Effect.sync(() => [...t.rows.values()])
  })
})

export const MemorySessionStore = Layer.sync(SessionStore, () => {
  const t = table<string, Session>()
  return SessionStore.of({
    find: t.find,
    save: (s) => t.put(s.tokenHash, s),
    remove: (h) => Effect.sync(() => void t.rows.delete(h))
  })
})
