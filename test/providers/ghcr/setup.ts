import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createGhcrProvider, ghcrProvider, type GhcrClients } from "../../../providers/ghcr/index.ts";
import type { Provider } from "../../../providers/contract.ts";
import { DEFAULT_REFRESH, type RefreshPolicy } from "../../../src/base/refresh.ts";
import { captureLogger } from "../../helpers/log.ts";
import { buildProvider, underRefresher as underRealRefresher } from "../../helpers/provider-kit.ts";

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
  const { provider } = buildProvider(ghcrProvider, settings, {
    dir,
    capture,
    create: (s, ctx) => createGhcrProvider(s, ctx, clients),
  });
  return { provider, capture, ...capture };
}

/** The provider under the real Refresher, jitter pinned to zero. */
export function underRefresher(
  provider: Provider,
  policy: RefreshPolicy = DEFAULT_REFRESH,
  capture = captureLogger(),
) {
  const { refresher, metrics } = underRealRefresher(provider, { kind: "ghcr", policy, capture });
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
