import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createGhcrProvider, type GhcrClients } from "../../../providers/ghcr/index.ts";
import { ghcrSchema } from "../../../providers/ghcr/schema.ts";
import type { Provider } from "../../../providers/contract.ts";
import { createSecretReader } from "../../../src/config/secret-reader.ts";
import { Refresher } from "../../../src/engine/refresher.ts";
import { DEFAULT_REFRESH, type RefreshPolicy } from "../../../src/base/refresh.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { captureLogger } from "../../helpers/log.ts";

export function tempDir(): string {
  return mkdtempSync(path.join(tmpdir(), "regcred-ghcr-"));
}

export function writeSecret(dir: string, name: string, value: string): string {
  const file = path.join(dir, name);
  writeFileSync(file, `${value}\n`);
  return file;
}

/** A ghcr provider built the way the daemon builds it: settings through the schema, a real secret reader. */
export function ghcr(
  settings: Record<string, unknown>,
  dir = "/",
  clients: GhcrClients = {},
  capture = captureLogger(),
) {
  const parsed = ghcrSchema.parse({ name: "ghcr", provider: "ghcr", ...settings });
  const provider = createGhcrProvider(
    parsed,
    { log: capture.log, secrets: createSecretReader(dir, {}) },
    clients,
  );
  return { provider, capture, ...capture };
}

/** The provider under the real Refresher, jitter pinned to zero. */
export function underRefresher(
  provider: Provider,
  policy: RefreshPolicy = DEFAULT_REFRESH,
  capture = captureLogger(),
) {
  const metrics = new Metrics();
  const refresher = new Refresher([{ name: "ghcr", kind: "ghcr", policy, provider }], {
    log: capture.log,
    metrics,
    random: () => 0.5,
  });
  return { refresher, metrics, ...capture };
}

export async function waitFor(cond: () => boolean, ms = 5000): Promise<void> {
  const until = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > until) throw new Error("condition not met in time");
    await new Promise((r) => setTimeout(r, 25));
  }
}

export const warnings = (records: () => Array<Record<string, unknown>>) =>
  records()
    .filter((r) => r.level === "warn")
    .map((r) => String(r.msg));
