/**
 * Just enough of Redis' protocol for `npm run bench:cluster` to ask whether a Redis answers and to
 * remove the keys of its run's prefix afterwards (the gateways do the real work through
 * REDIS_URL). Every call has a deadline.
 */
import { connect } from "node:net"

const encode = (args: ReadonlyArray<string>) =>
  `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join("")}`

/**
 * Sends `commands` (each answered with one line: `+OK`, `:3`, `-ERR …`) after AUTH when the URL
 * carries a password; resolves with the replies, or undefined if Redis cannot be reached or
 * does not answer within `timeoutMs`.
 */
export const redisCommands = (redisUrl: string, commands: ReadonlyArray<ReadonlyArray<string>>, timeoutMs = 2_000) =>
  new Promise<ReadonlyArray<string> | undefined>((resolve) => {
    const url = new URL(redisUrl)
    const auth = url.password === "" ? [] : [url.username === "" ? ["AUTH", decodeURIComponent(url.password)] : ["AUTH", decodeURIComponent(url.username), decodeURIComponent(url.password)]]
    const all = [...auth, ...commands]
    const socket = connect({ host: url.hostname, port: Number(url.port || 6379) })
    let data = ""
    const finish = (replies: ReadonlyArray<string> | undefined) => {
      clearTimeout(timer)
      socket.destroy()
      resolve(replies)
    }
    const timer = setTimeout(() => finish(undefined), timeoutMs)
    socket.on("connect", () => socket.write(all.map(encode).join("")))
    socket.on("data", (chunk) => {
      data += chunk.toString()
      const lines = data.split("\r\n").slice(0, -1)
      if (lines.length >= all.length) finish(lines.slice(auth.length, all.length))
    })
    socket.on("error", () => finish(undefined))
  })

/** Whether a Redis answers PING at `redisUrl`. */
export const redisAnswers = async (redisUrl: string) => (await redisCommands(redisUrl, [["PING"]]))?.[0] === "+PONG"

/** Deletes every key under `prefix` (a run's own prefix); the number removed, or undefined. */
export const removeKeys = async (redisUrl: string, prefix: string) => {
  const script = "local n = 0 for _, k in ipairs(redis.call('KEYS', ARGV[1])) do n = n + redis.call('DEL', k) end return n"
  const reply = (await redisCommands(redisUrl, [["EVAL", script, "0", `${prefix}*`]], 5_000))?.[0]
  return reply?.startsWith(":") === true ? Number(reply.slice(1)) : undefined
}
