import { Effect } from "effect"
import { Command } from "effect/cli"
import { ByokStore } from "../../application/ports/ByokStore.ts"
import { emit, onStore } from "./CliSupport.ts"

/**
 * `admin byok reencrypt`: after a rotation of BYOK_ENCRYPTION_KEY (the old key kept in
 * BYOK_ENCRYPTION_KEYS_OLD), rewrites every stored provider key under the current encryption key.
 * Idempotent (a second run moves nothing) and safe while gateways serve, provided each of them
 * already runs with the new key and the old one listed, so that it opens rows of both.
 */
const reencrypt = Command.make("reencrypt", {}, () =>
  Effect.gen(function*() {
    const report = yield* onStore(ByokStore.use((byok) => byok.reseal))
    yield* emit(
      () => ({
        object: "byok_reencryption",
        current_key_id: report.currentKeyId,
        reencrypted: report.resealed,
        already_current: report.alreadyCurrent,
        unreadable: report.unreadable.map((u) => ({ account_id: u.account, id: u.id, key_id: u.keyId }))
      }),
      () =>
        `Re-encrypted ${report.resealed} provider key(s) under encryption key ${report.currentKeyId || "(none: nothing is encrypted)"}; ` +
        `${report.alreadyCurrent} already were.`
    )
    if (report.unreadable.length > 0) {
      const ids = [...new Set(report.unreadable.map((u) => u.keyId ?? "(before key ids)"))].join(", ")
      // Loaded with the store (as `onStore` does), so that --help does not load the gateway's layers.
      const { StartupError } = yield* Effect.promise(() => import("../../Layers.ts"))
      return yield* new StartupError({
        message: `${report.unreadable.length} provider key(s) open with none of the configured encryption keys (sealed by: ${ids}); ` +
          "add the key that sealed them to BYOK_ENCRYPTION_KEYS_OLD and run again. They were left as they were."
      })
    }
  })).pipe(
    Command.withDescription(
      "Rewrite every stored BYOK key under BYOK_ENCRYPTION_KEY (after a rotation, with the old key in BYOK_ENCRYPTION_KEYS_OLD); idempotent"
    ),
    Command.withExamples([{ command: "admin byok reencrypt" }])
  )

export const ByokCommands = Command.make("byok").pipe(
  Command.withDescription("The encryption of accounts' own provider keys at rest"),
  Command.withSubcommands([reencrypt])
)
