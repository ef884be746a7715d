// The refresher registers each credential's auth string with the redactor while it is in use.
import { authString } from "../base/redact.ts";

/** Kubernetes refuses Secrets whose data exceeds 1 MiB. */
export const MAX_SECRET_BYTES = 1024 * 1024;

export interface AuthEntry {
  key: string;
  username: string;
  password: string;
  /** Which configured registry supplied it, for messages. */
  source: string;
}

export class RenderError extends Error {
  override name = "RenderError";
}

export interface RenderedConfig {
  json: string;
  /** Keys supplied by more than one registry: the first in the target's order won. */
  shadowed: Array<{ key: string; kept: string; dropped: string }>;
}

/**
 * The `.dockerconfigjson` body: auths keyed and sorted, each with username, password and the
 * `auth` field (kubelet prefers a non-empty `auth`). Deterministic, so an unchanged set of
 * credentials renders to the same bytes and the writer can skip the update.
 */
export function renderDockerConfig(entries: readonly AuthEntry[]): RenderedConfig {
  const chosen = new Map<string, AuthEntry>();
  const shadowed: RenderedConfig["shadowed"] = [];
  for (const entry of entries) {
    const existing = chosen.get(entry.key);
    if (existing) shadowed.push({ key: entry.key, kept: existing.source, dropped: entry.source });
    else chosen.set(entry.key, entry);
  }
  const auths: Record<string, { username: string; password: string; auth: string }> = {};
  for (const key of [...chosen.keys()].sort()) {
    const { username, password } = chosen.get(key)!;
    auths[key] = { username, password, auth: authString(username, password) };
  }
  const json = JSON.stringify({ auths });
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_SECRET_BYTES) {
    throw new RenderError(
      `.dockerconfigjson would be ${bytes} bytes, over the 1 MiB Secret limit: split the registries across several secrets`,
    );
  }
  return { json, shadowed };
}
