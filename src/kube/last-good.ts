import type { V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Credential } from "../../providers/contract.ts";
import {
  ANNOTATION_CREDENTIALS,
  ANNOTATION_EXPIRES,
  ANNOTATION_REGISTRIES,
  type WrittenCredential,
} from "../engine/plan.ts";
import { messageOf } from "./client.ts";

interface Best {
  namespace: string;
  name: string;
  expiresAt: number;
}

/**
 * What regcred's own Secrets say each registry's credential is and until when: per registry,
 * the `regcred.io/credentials` entry (its auth keys and expiry). Secrets written before that
 * annotation existed still count when they hold a single registry (then every key is its, and
 * `regcred.io/expires-at` is its expiry).
 */
export function writtenCredentials(secret: V1Secret): Map<string, WrittenCredential> {
  const annotations = secret.metadata?.annotations ?? {};
  const out = new Map<string, WrittenCredential>();
  const text = annotations[ANNOTATION_CREDENTIALS];
  if (text) {
    try {
      for (const [registry, w] of Object.entries(JSON.parse(text) as Record<string, WrittenCredential>)) {
        if (Array.isArray(w?.keys) && (w.expiresAt === null || typeof w.expiresAt === "string"))
          out.set(registry, { keys: w.keys.map(String), expiresAt: w.expiresAt });
      }
    } catch {
      // Hand-edited: nothing to learn from it.
    }
    return out;
  }
  const registries = (annotations[ANNOTATION_REGISTRIES] ?? "").split(",").filter(Boolean);
  if (registries.length === 1)
    out.set(registries[0]!, { keys: [], expiresAt: annotations[ANNOTATION_EXPIRES] ?? null });
  return out;
}

/**
 * The last good credential of each registry, read back from the cluster: among regcred's
 * Secrets (as the watch cache holds them, data digested) the one whose entry for the registry
 * lives longest is fetched by name, and its dockerconfigjson entries become the credential.
 * Expired entries are ignored. Only Secrets regcred manages are ever read.
 */
export async function readLastGood(
  managed: readonly V1Secret[],
  fetchSecret: (namespace: string, name: string) => Promise<V1Secret>,
  log: Logger,
  now: number = Date.now(),
): Promise<Map<string, Credential[]>> {
  const best = new Map<string, Best>();
  for (const s of managed) {
    for (const [registry, w] of writtenCredentials(s)) {
      const expiresAt = w.expiresAt === null ? Infinity : Date.parse(w.expiresAt);
      if (!(expiresAt > now) || (best.get(registry)?.expiresAt ?? -Infinity) >= expiresAt) continue;
      best.set(registry, { namespace: s.metadata!.namespace!, name: s.metadata!.name!, expiresAt });
    }
  }
  const bySecret = new Map<string, { namespace: string; name: string; registries: string[] }>();
  for (const [registry, b] of best) {
    const k = `${b.namespace}/${b.name}`;
    const entry = bySecret.get(k) ?? { namespace: b.namespace, name: b.name, registries: [] };
    entry.registries.push(registry);
    bySecret.set(k, entry);
  }
  const seeds = new Map<string, Credential[]>();
  for (const { namespace, name, registries } of bySecret.values()) {
    let secret: V1Secret;
    try {
      secret = await fetchSecret(namespace, name);
    } catch (err) {
      log.warn({ namespace, secret: name }, `reading last good credentials failed: ${messageOf(err)}`);
      continue;
    }
    // The Secret as it is now, not as the cache had it.
    const written = writtenCredentials(secret);
    const auths = parseAuths(secret);
    for (const registry of registries) {
      const w = written.get(registry);
      if (!w || !auths) continue;
      const expiresAt = w.expiresAt === null ? null : new Date(w.expiresAt);
      if (expiresAt && !(expiresAt.getTime() > now)) continue;
      const keys = w.keys.length > 0 ? w.keys : Object.keys(auths);
      const credentials = keys.map((key) => {
        const a = auths[key];
        return a?.username !== undefined && a.password
          ? { registries: [key], username: a.username, password: a.password, expiresAt }
          : null;
      });
      if (credentials.length === 0 || credentials.includes(null)) continue;
      seeds.set(registry, credentials as Credential[]);
    }
  }
  return seeds;
}

function parseAuths(secret: V1Secret): Record<string, { username?: string; password?: string }> | null {
  const data = secret.data?.[".dockerconfigjson"];
  if (!data) return null;
  try {
    const parsed = JSON.parse(Buffer.from(data, "base64").toString()) as {
      auths?: Record<string, { username?: string; password?: string }>;
    };
    return parsed.auths ?? null;
  } catch {
    return null;
  }
}
