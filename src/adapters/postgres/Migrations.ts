import { Effect, Layer } from "effect"
import { PgMigrator } from "@effect/sql-pg"
import * as SqlClient from "effect/sql/SqlClient"

/** Runs each statement in turn: the extended protocol takes one statement per query. */
const statements = (...sql: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const client = yield* SqlClient.SqlClient
    for (const statement of sql) yield* client.unsafe(statement)
  })

/*
 * Money and times are `bigint` (millicredits, epoch milliseconds); the client reads them back as
 * JS numbers (PgDatabase.ts). Names of the domain's fields map one-to-one to snake_case columns.
 */
export const migrations = {
  "0001_ledger": statements(
    // Customer accounts only. The system accounts (issuance, revenue) take part in every
    // grant or settlement; as rows they would be a lock every payer queues on, so their
    // balances are sums over the journal instead (PgLedgerStore.balance).
    `CREATE TABLE accounts (
      id text PRIMARY KEY,
      posted bigint NOT NULL DEFAULT 0,
      pending bigint NOT NULL DEFAULT 0,
      CONSTRAINT accounts_customer_only CHECK (id NOT LIKE 'system:%'),
      CONSTRAINT accounts_pending_not_negative CHECK (pending >= 0),
      -- invariant 1, second line of defence: the ledger's statements already refuse overdrafts
      CONSTRAINT accounts_available_not_negative CHECK (posted - pending >= 0)
    )`,
    `CREATE TABLE holds (
      id text PRIMARY KEY,
      account text NOT NULL REFERENCES accounts (id),
      amount bigint NOT NULL CHECK (amount > 0),
      status text NOT NULL CHECK (status IN ('pending', 'settled', 'released', 'expired')),
      settled bigint NOT NULL DEFAULT 0,
      created_at bigint NOT NULL,
      expires_at bigint NOT NULL,
      resolved_at bigint,
      CONSTRAINT holds_settled_within_amount CHECK (settled >= 0 AND settled <= amount),
      CONSTRAINT holds_settled_only_when_settled CHECK (status = 'settled' OR settled = 0)
    )`,
    `CREATE INDEX holds_status_expiry ON holds (status, expires_at)`,
    `CREATE TABLE transfers (
      seq bigint GENERATED ALWAYS AS IDENTITY,
      id text PRIMARY KEY,
      kind text NOT NULL CHECK (kind IN ('grant', 'settle', 'refund')),
      debit text NOT NULL,
      credit text NOT NULL,
      amount bigint NOT NULL CHECK (amount > 0),
      at bigint NOT NULL,
      reason text NOT NULL,
      hold text REFERENCES holds (id),
      refund_of text REFERENCES transfers (id),
      CONSTRAINT transfers_two_accounts CHECK (debit <> credit),
      CONSTRAINT transfers_settle_has_hold CHECK ((kind = 'settle') = (hold IS NOT NULL)),
      CONSTRAINT transfers_refund_has_original CHECK ((kind = 'refund') = (refund_of IS NOT NULL))
    )`,
    `CREATE UNIQUE INDEX transfers_seq ON transfers (seq)`,
    `CREATE INDEX transfers_debit ON transfers (debit, at) INCLUDE (kind, amount)`,
    `CREATE INDEX transfers_credit ON transfers (credit, at) INCLUDE (kind, amount)`,
    `CREATE FUNCTION journal_is_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'the journal is append-only (% on %)', TG_OP, TG_TABLE_NAME
          USING ERRCODE = 'restrict_violation';
      END
    $$`,
    `CREATE TRIGGER transfers_append_only BEFORE UPDATE OR DELETE ON transfers
      FOR EACH ROW EXECUTE FUNCTION journal_is_append_only()`,
    // How much of each settlement has been refunded; the row lock serialises refunds of it.
    `CREATE TABLE refund_totals (
      transfer text PRIMARY KEY REFERENCES transfers (id),
      amount bigint NOT NULL,
      refunded bigint NOT NULL,
      CONSTRAINT refund_totals_within_transfer CHECK (refunded >= 0 AND refunded <= amount)
    )`,
    `CREATE TABLE idempotency_records (
      scope text NOT NULL,
      key text NOT NULL,
      fingerprint text NOT NULL,
      expires_at bigint NOT NULL,
      done boolean NOT NULL DEFAULT false,
      -- json keeps the response's text (and so its key order) as stored
      response json,
      PRIMARY KEY (scope, key)
    )`
  ),

  "0002_directory": statements(
    `CREATE TABLE users (
      id text PRIMARY KEY,
      status text NOT NULL CHECK (status IN ('active', 'suspended')),
      tier text NOT NULL,
      billing_org text,
      monthly_cap bigint
    )`,
    `CREATE TABLE organizations (
      id text PRIMARY KEY,
      name text NOT NULL,
      tier text NOT NULL,
      bills_members boolean NOT NULL,
      monthly_cap bigint
    )`,
    `CREATE TABLE services (
      seq bigint GENERATED ALWAYS AS IDENTITY,
      name text PRIMARY KEY,
      org text,
      user_id_policy text NOT NULL CHECK (user_id_policy IN ('optional', 'required', 'forbidden')),
      scopes text[],
      -- Stored as given for now; encrypting it at rest is a separate issue.
      jwt_secret text,
      active boolean NOT NULL
    )`,
    `CREATE TABLE api_keys (
      seq bigint GENERATED ALWAYS AS IDENTITY,
      id text PRIMARY KEY,
      prefix text NOT NULL,
      -- SHA-256 of the secret; the secret itself is never stored
      hash text NOT NULL UNIQUE,
      owner_kind text NOT NULL CHECK (owner_kind IN ('service', 'user')),
      owner text NOT NULL,
      status text NOT NULL CHECK (status IN ('active', 'revoked', 'expired')),
      created_at bigint NOT NULL,
      expires_at bigint,
      scopes text[],
      deprecated_sunset bigint,
      legacy boolean NOT NULL
    )`,
    `CREATE INDEX api_keys_owner ON api_keys (owner_kind, owner, seq)`,
    `CREATE TABLE sessions (
      token_hash text PRIMARY KEY,
      user_id text NOT NULL,
      expires_at bigint NOT NULL
    )`,
    `CREATE TABLE byok_keys (
      seq bigint GENERATED ALWAYS AS IDENTITY,
      account text NOT NULL,
      id text NOT NULL,
      provider text NOT NULL,
      -- AES-256-GCM: 12-byte iv, 16-byte tag, then the ciphertext
      ciphertext bytea NOT NULL,
      last4 text NOT NULL,
      enabled boolean NOT NULL,
      created_at bigint NOT NULL,
      PRIMARY KEY (account, id)
    )`,
    `CREATE INDEX byok_keys_account_provider ON byok_keys (account, provider, seq)`
  ),

  "0003_usage_and_images": statements(
    `CREATE TABLE usage_events (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      request_id text NOT NULL,
      at bigint NOT NULL,
      actor_kind text NOT NULL CHECK (actor_kind IN ('service', 'user')),
      actor text NOT NULL,
      service text,
      on_behalf_of text,
      auth_method text NOT NULL,
      payer text NOT NULL,
      model text NOT NULL,
      provider text,
      n integer NOT NULL,
      images integer NOT NULL,
      cost_millicredits bigint NOT NULL,
      mode text NOT NULL CHECK (mode IN ('billed', 'byok', 'exempt')),
      outcome text NOT NULL,
      latency_ms bigint NOT NULL
    )`,
    `CREATE INDEX usage_events_payer ON usage_events (payer, seq)`,
    `CREATE INDEX usage_events_service ON usage_events (service, seq)`,
    `CREATE TABLE images (
      id text PRIMARY KEY,
      bytes bytea NOT NULL,
      content_type text NOT NULL,
      expires_at bigint NOT NULL
    )`,
    `CREATE INDEX images_expiry ON images (expires_at)`
  ),

  "0004_administration": statements(
    // Operators' keys live beside the others, hashed the same way.
    `ALTER TABLE api_keys DROP CONSTRAINT api_keys_owner_kind_check`,
    `ALTER TABLE api_keys ADD CONSTRAINT api_keys_owner_kind_check CHECK (owner_kind IN ('service', 'user', 'admin'))`,
    `ALTER TABLE api_keys ADD COLUMN last_used_at bigint`,
    `CREATE INDEX usage_events_at ON usage_events (at)`,
    `CREATE TABLE audit_log (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      at bigint NOT NULL,
      kind text NOT NULL CHECK (kind IN ('admin', 'credential')),
      actor text NOT NULL,
      action text NOT NULL,
      target text NOT NULL,
      request_id text,
      key_id text,
      payer text,
      outcome text NOT NULL,
      before jsonb,
      after jsonb
    )`,
    `CREATE INDEX audit_log_kind ON audit_log (kind, seq)`,
    `CREATE INDEX audit_log_actor ON audit_log (actor, seq)`,
    `CREATE INDEX audit_log_target ON audit_log (target, seq)`,
    `CREATE INDEX audit_log_action ON audit_log (action, seq)`,
    `CREATE INDEX audit_log_at ON audit_log (at)`,
    `CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
      FOR EACH ROW EXECUTE FUNCTION journal_is_append_only()`,
    // One row: the price table, tier multipliers, exemptions and the billing switch, versioned.
    `CREATE TABLE pricing (
      id boolean PRIMARY KEY DEFAULT true CHECK (id),
      version bigint NOT NULL,
      data jsonb NOT NULL,
      updated_at bigint NOT NULL
    )`
  ),

  "0005_byok_key_ids": statements(
    // The id of the encryption key that sealed the row (ByokKeyring.ts); NULL for rows sealed
    // before key ids, whose AES key was the SHA-256 of the configured text.
    `ALTER TABLE byok_keys ADD COLUMN key_id text`
  ),

  "0006_usage_provider_cost": statements(
    // What the provider reported a call cost it (OpenRouter's usage.cost), in millionths of a US
    // dollar, beside the gateway's own price; NULL when it reported none.
    `ALTER TABLE usage_events ADD COLUMN provider_cost_micro_usd bigint`
  ),

  "0007_alerts": statements(
    // Per account: its own low-balance threshold (NULL: the default) and whether its alert has
    // fired since the balance was last at or above the threshold (PgAlertStore.ts).
    `CREATE TABLE alert_states (
      account text PRIMARY KEY,
      threshold bigint CHECK (threshold >= 0),
      fired boolean NOT NULL DEFAULT false
    )`,
    // The outbox: alerts to deliver, written in the transaction that fired them, drained by
    // every instance's delivery worker (claims skip rows another instance holds).
    `CREATE TABLE alert_outbox (
      seq bigint GENERATED ALWAYS AS IDENTITY,
      id text PRIMARY KEY,
      type text NOT NULL,
      created_at bigint NOT NULL,
      data jsonb NOT NULL,
      status text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
      attempts integer NOT NULL DEFAULT 0,
      next_attempt_at bigint,
      leased_until bigint NOT NULL DEFAULT 0,
      last_error text,
      delivered_at bigint
    )`,
    `CREATE UNIQUE INDEX alert_outbox_seq ON alert_outbox (seq)`,
    `CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt_at) WHERE status = 'pending'`
  ),

  "0008_usage_analytics": statements(
    // Requests refused before (`unauthenticated`) or right after (`service_refused`) authentication
    // (AuthFailureLog.ts). Nothing secret: a key's stored public prefix at most.
    `CREATE TABLE auth_failures (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      at bigint NOT NULL,
      route text NOT NULL CHECK (route IN ('generation', 'other')),
      kind text NOT NULL CHECK (kind IN ('unauthenticated', 'service_refused')),
      reason text NOT NULL,
      service text,
      key_prefix text
    )`,
    // Counts over a time range per route and kind (error rates, rate alerts), and per service.
    `CREATE INDEX auth_failures_route_kind_at ON auth_failures (route, kind, at)`,
    `CREATE INDEX auth_failures_service_at ON auth_failures (service, at) WHERE service IS NOT NULL`
  ),

  "0009_admin_sessions": statements(
    // The dashboard's sessions (PgAdminSessionStore.ts): a hash of the session id, never the id.
    `CREATE TABLE admin_sessions (
      id_hash text PRIMARY KEY,
      key_id text NOT NULL,
      created_at bigint NOT NULL,
      last_seen_at bigint NOT NULL,
      expires_at bigint NOT NULL
    )`,
    `CREATE INDEX admin_sessions_expires_at ON admin_sessions (expires_at)`
  ),

  "0010_alert_episodes": statements(
    // Rate alerts (auth failures, generation 401s): per key, whether its episode has fired, and
    // the time of the evaluation last applied, which later evaluations compare against (PgAlertStore.ts).
    `CREATE TABLE alert_episodes (
      key text PRIMARY KEY,
      fired boolean NOT NULL,
      evaluated_at bigint NOT NULL
    )`,
    // Alerts raised once per key (the weekly report: its week's start): the second insert conflicts.
    `ALTER TABLE alert_outbox ADD COLUMN dedupe_key text`,
    `CREATE UNIQUE INDEX alert_outbox_dedupe_key ON alert_outbox (dedupe_key) WHERE dedupe_key IS NOT NULL`
  ),

  "0011_service_rate_limits": statements(
    // A service's rate limits (docs/rate-limits.md); NULL is no limit.
    `ALTER TABLE services ADD COLUMN requests_per_minute integer CHECK (requests_per_minute > 0)`,
    `ALTER TABLE services ADD COLUMN per_key_requests_per_minute integer CHECK (per_key_requests_per_minute > 0)`,
    `ALTER TABLE services ADD COLUMN concurrent_requests integer CHECK (concurrent_requests > 0)`
  ),

  "0012_change_notifications": statements(
    // What every request looks up is cached in each instance (PgCachedLookups.ts); a change to
    // one of these rows, by whoever makes it, tells every instance which entry to drop:
    // NOTIFY image_gateway_changes, '<table>:<key>' (sent when the transaction commits). A key's
    // last use, written in the background, is not a change of what is cached.
    `CREATE FUNCTION image_gateway_notify_change() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE
      old_key text;
      new_key text;
    BEGIN
      IF TG_OP = 'UPDATE' AND (to_jsonb(OLD) - 'last_used_at') = (to_jsonb(NEW) - 'last_used_at') THEN
        RETURN NULL;
      END IF;
      IF TG_OP <> 'INSERT' THEN
        old_key := to_jsonb(OLD) ->> TG_ARGV[0];
        PERFORM pg_notify('image_gateway_changes', TG_TABLE_NAME || ':' || old_key);
      END IF;
      IF TG_OP <> 'DELETE' THEN
        new_key := to_jsonb(NEW) ->> TG_ARGV[0];
        IF old_key IS DISTINCT FROM new_key THEN
          PERFORM pg_notify('image_gateway_changes', TG_TABLE_NAME || ':' || new_key);
        END IF;
      END IF;
      RETURN NULL;
    END $$`,
    ...[["api_keys", "hash"], ["services", "name"], ["users", "id"], ["organizations", "id"], ["byok_keys", "account"]].map(
      ([table, key]) =>
        `CREATE TRIGGER ${table}_changed AFTER INSERT OR UPDATE OR DELETE ON ${table}
        FOR EACH ROW EXECUTE FUNCTION image_gateway_notify_change('${key}')`
    )
  ),

  "0013_idempotency_attempts": statements(
    // Which attempt holds a claim, and since when: a claim left running by a process that died
    // is taken over by a retry once it is stale (IdempotencyStore.ts). Claims made before this
    // migration count as begun at 0: stale.
    `ALTER TABLE idempotency_records ADD COLUMN attempt text NOT NULL DEFAULT ''`,
    `ALTER TABLE idempotency_records ADD COLUMN started_at bigint NOT NULL DEFAULT 0`
  )
}

/** Every table the adapters write, for emptying a test database. */
export const TABLES = [
  "refund_totals",
  "transfers",
  "holds",
  "accounts",
  "idempotency_records",
  "users",
  "organizations",
  "services",
  "api_keys",
  "sessions",
  "byok_keys",
  "usage_events",
  "images",
  "audit_log",
  "pricing",
  "alert_states",
  "alert_outbox",
  "alert_episodes",
  "auth_failures",
  "admin_sessions"
] as const

/**
 * Applies pending migrations; safe to run from several instances at once (the migrator
 * takes a table lock). Built with `PgMigrator.make` and no schema dump, so it needs only the
 * SQL client, not the process and file-system services `PgMigrator.run` asks for.
 */
export const migrate = PgMigrator.make({})({ loader: PgMigrator.fromRecord(migrations) })

export const MigrationsLayer = Layer.effectDiscard(migrate)
