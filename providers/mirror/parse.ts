import type { V1Secret } from "@kubernetes/client-node";
import { ProviderError, type Credential } from "../contract.ts";
import { authEntry, authsMap, dockerConfigJson, type MirrorSettings } from "./schema.ts";

type AuthEntry = z.infer<typeof authEntry>;
import type * as z from "zod/mini";
import {
  normalizeRegistryKey,
  ANNOTATION_EXPIRES,
  LABEL_MANAGED_BY,
  SECRET_TYPE,
  registerAuth,
} from "../kit.ts";

export const LEGACY_TYPE = "kubernetes.io/dockercfg";

export interface Mirrored {
  credentials: Credential[];
  /** Entries left out and why (never a value): logged as warnings. */
  notes: string[];
}

type Settings = Pick<MirrorSettings, "source" | "registries" | "key">;

/**
 * The auths of a pull Secret as credentials, read the way kubelet reads them
 * (pkg/credentialprovider/config.go): a non-empty `auth` (base64 of user:pass, split on the
 * first colon) wins over `username`/`password`; a malformed `auth` makes kubelet reject the
 * whole Secret, so it fails here too rather than mirroring something no node would use.
 */
export function mirrorSecret(secret: V1Secret, settings: Settings): Mirrored {
  const where = `Secret ${settings.source.namespace}/${settings.source.name}`;
  const invalid = (message: string) => new ProviderError("invalid_response", `${where} ${message}`);

  // A regcred-managed Secret is regcred's own output: mirroring it (under the same name, or
  // into a target that feeds it) makes regcred its own source, so a failing upstream is
  // masked forever (the copy keeps re-feeding the last value) and a write wakes this watch,
  // which writes again. Mirror the upstream registry entry directly instead.
  if (secret.metadata?.labels?.[LABEL_MANAGED_BY] === "regcred") {
    throw invalid(
      `is managed by regcred (label ${LABEL_MANAGED_BY}=regcred): mirroring regcred's own output would loop; list the registry that produces it in the target instead`,
    );
  }
  const type = secret.type ?? "Opaque";
  if (type !== SECRET_TYPE && type !== LEGACY_TYPE) {
    throw invalid(`has type ${type}; expected ${SECRET_TYPE} (or the legacy ${LEGACY_TYPE})`);
  }
  const key = settings.key ?? (type === LEGACY_TYPE ? ".dockercfg" : ".dockerconfigjson");
  const encoded = secret.data?.[key];
  if (encoded === undefined) {
    const keys = Object.keys(secret.data ?? {});
    throw invalid(`has no data key ${key} (it has: ${keys.length ? keys.join(", ") : "none"})`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(encoded, "base64").toString("utf8"));
  } catch {
    throw invalid(`${key} is not valid JSON`);
  }
  // .dockercfg is the auths map itself; .dockerconfigjson wraps it in {"auths": ...}.
  let auths: Record<string, unknown>;
  if (key === ".dockercfg") {
    const map = authsMap.safeParse(parsed);
    if (!map.success) throw invalid(`${key} is not a JSON object of registries`);
    auths = map.data;
  } else {
    const config = dockerConfigJson.safeParse(parsed);
    if (!config.success) throw invalid(`${key} has no "auths" object`);
    auths = config.data.auths;
  }
  if (Object.keys(auths).length === 0) throw invalid(`${key} has no auths`);

  const notes: string[] = [];
  const wanted = settings.registries ? new Set(settings.registries) : null;
  const seen = new Map<string, string>();
  const expiresAt = expiryOf(secret, notes);
  const credentials: Credential[] = [];
  for (const [rawKey, entry] of Object.entries(auths)) {
    const normalized = normalizeRegistryKey(rawKey);
    if (!normalized.ok) {
      notes.push(`auth ${JSON.stringify(rawKey)} skipped: ${normalized.error}`);
      continue;
    }
    const registry = normalized.key;
    if (wanted && !wanted.has(registry)) continue;
    const fields = authEntry.safeParse(entry);
    if (!fields.success) throw invalid(`${key}: auth ${JSON.stringify(rawKey)} is not an object`);
    const { username, password } = userPass(fields.data, (problem) =>
      invalid(`${key}: auth ${JSON.stringify(rawKey)}: ${problem}`),
    );
    const first = seen.get(registry);
    if (first !== undefined) {
      notes.push(`auth ${JSON.stringify(rawKey)} skipped: same registry as ${JSON.stringify(first)}`);
      continue;
    }
    seen.set(registry, rawKey);
    if (password === "") {
      notes.push(`auth ${JSON.stringify(rawKey)} skipped: it has no password`);
      continue;
    }
    registerAuth(username, password);
    credentials.push({ registries: [registry], username, password, expiresAt });
  }
  if (wanted) {
    for (const registry of wanted) {
      if (!seen.has(registry)) notes.push(`registry ${registry} (from registries:) is not in the source`);
    }
  }
  if (credentials.length === 0) {
    const present = Object.keys(auths).join(", ");
    throw invalid(
      wanted
        ? `has no usable auth for ${[...wanted].join(", ")} (it has: ${present})`
        : `has no usable auth (${notes.join("; ")})`,
    );
  }
  return { credentials, notes };
}

function userPass(
  entry: AuthEntry,
  invalid: (problem: string) => ProviderError,
): { username: string; password: string } {
  const { auth } = entry;
  if (auth !== undefined && auth !== "") {
    const decoded = decodeAuthField(auth);
    if (decoded === null) throw invalid("`auth` is not base64");
    const colon = decoded.indexOf(":");
    if (colon === -1) throw invalid("`auth` does not decode to username:password");
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  return { username: entry.username, password: entry.password };
}

/**
 * kubelet's decodeDockerConfigFieldAuth: padded base64 when the value ends in "=", unpadded
 * otherwise, both strict (Node's own decoder would accept anything).
 */
function decodeAuthField(field: string): string | null {
  const text = field.replace(/[\r\n]/g, "");
  const padded = text.trim().endsWith("=");
  const ok = padded
    ? /^[A-Za-z0-9+/]*={1,2}$/.test(text) && text.length % 4 === 0
    : /^[A-Za-z0-9+/]*$/.test(text) && text.length % 4 !== 1;
  return ok ? Buffer.from(text, "base64").toString("utf8") : null;
}

/** regcred's expiry annotation, when the source carries one (set by hand, or by another tool). */
function expiryOf(secret: V1Secret, notes: string[]): Date | null {
  const text = secret.metadata?.annotations?.[ANNOTATION_EXPIRES];
  if (text === undefined) return null;
  const date = new Date(text);
  if (Number.isNaN(date.getTime())) {
    notes.push(`annotation ${ANNOTATION_EXPIRES}=${JSON.stringify(text)} ignored: not a timestamp`);
    return null;
  }
  return date;
}
