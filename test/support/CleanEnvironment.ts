// Runs before every test file (vitest's setupFiles). The gateway processes and CLI commands the
// tests start inherit this environment: a developer's own provider keys or gateway settings must
// never reach them (a test would call the real OpenAI, or run against another configuration).
for (const name of [
  "OPENAI_API_KEY",
  "OPENAI_BASE_URL",
  "OPENROUTER_API_KEY",
  "OPENROUTER_BASE_URL",
  "PROVIDER_ROUTES",
  "LOCAL_PROVIDER",
  "PROVIDER_CIRCUIT_FAILURES",
  "PROVIDER_CIRCUIT_OPEN_SECONDS",
  "ADMIN_API_KEY",
  "BYOK_ENCRYPTION_KEY",
  "BYOK_ENCRYPTION_KEYS_OLD",
  "STORAGE",
  "DEMO",
  "PUBLIC_URL",
  "METRICS_TOKEN",
  "ACCESS_LOG",
  "MIGRATE"
]) {
  delete process.env[name]
}
