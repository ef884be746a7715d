/**
 * kubelet's pull failures, as it reports them in Pod Events (Kubernetes v1.35, containerd's
 * wording; TESTING.md "What kubelet reports"), turned into what regcred can act on: an image
 * refused for its credential, or pull Secrets the Pod names that do not exist. Pure: the
 * watch lives in src/kube/pull-failures.ts.
 */
import { lookup, type KeyringSecret } from "./keyring.ts";

export type PullFailure =
  { kind: "auth"; image: string; status: 401 | 403 | null } | { kind: "missing-secrets"; secrets: string[] };

export interface PodEvent {
  reason?: string;
  message?: string;
  type?: string;
}

const PULL_FAILED = /^Failed to pull image "([^"]+)": (.*)$/s;
// 401/403 from the registry or its token realm; anything else (not found, unreachable, TLS)
// is not something a fresh credential would fix.
const AUTH = /\b401\b|\b403\b|unauthorized|denied|authorization failed|failed to authorize/i;
const MISSING = /^Unable to retrieve some image pull secrets \(([^)]*)\)/;

export function classifyPodEvent(event: PodEvent): PullFailure | null {
  if (event.type !== undefined && event.type !== "Warning") return null;
  const message = event.message ?? "";
  if (event.reason === "Failed") {
    const m = PULL_FAILED.exec(message);
    if (!m || !AUTH.test(m[2]!)) return null;
    const status = /\b403\b|forbidden|denied/i.test(m[2]!)
      ? 403
      : /\b401\b|unauthorized/i.test(m[2]!)
        ? 401
        : null;
    return { kind: "auth", image: m[1]!, status };
  }
  if (event.reason === "FailedToRetrieveImagePullSecret") {
    const m = MISSING.exec(message);
    if (!m) return null;
    const secrets = m[1]!
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
    return secrets.length ? { kind: "missing-secrets", secrets } : null;
  }
  return null;
}

/**
 * The managed registries whose keys kubelet would try for `image`, in kubelet's order (a
 * failed pull means each of them was refused): kubelet's own lookup, with one pull Secret per
 * registry holding that registry's keys.
 */
export function registriesForImage(
  keysByRegistry: ReadonlyMap<string, readonly string[]>,
  image: string,
): string[] {
  const secrets: KeyringSecret[] = [...keysByRegistry].map(([registry, keys]) => ({
    name: registry,
    type: "kubernetes.io/dockerconfigjson",
    data: {
      ".dockerconfigjson": JSON.stringify({
        auths: Object.fromEntries(keys.map((k) => [k, { username: "", password: "" }])),
      }),
    },
  }));
  const found = lookup(secrets, image);
  return found.ok ? [...new Set(found.hits.map((h) => h.secret))] : [];
}
