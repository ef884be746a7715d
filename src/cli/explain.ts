import type { V1Secret } from "@kubernetes/client-node";
import { KubeApi } from "../kube/api.ts";
import { loadKubeConfig, statusOf } from "../kube/client.ts";
import { lookup, type KeyringHit, type KeyringSecret } from "../engine/keyring.ts";
import { LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_TARGET } from "../engine/plan.ts";
import { apiHostOf, isLoopbackHost, verifyCredential, type Fetch, type Verdict } from "../registry/verify.ts";
import { secretStatus, type ManagedSecretStatus } from "./status.ts";
import { EXIT } from "./errors.ts";
import type { Io } from "./commands.ts";

export interface ExplainOptions {
  kubeconfig?: string;
  namespace: string;
  pod?: string;
  serviceAccount: string;
  output: string;
  /** Ask the registry (default); off, the verdict rests on expiry alone. */
  verify: boolean;
  /** How the registry is asked (tests trust their own CAs with it); default global fetch. */
  fetch?: Fetch;
}

interface Candidate {
  secret: string;
  key: string;
  entry: string;
  username: string;
  managed: (ManagedSecretStatus & { managedBy: string }) | null;
  registry: Verdict | null;
}

export interface Explanation {
  image: string;
  repository: string | null;
  namespace: string;
  /** Where kubelet's pull secrets come from: the Pod's spec, or what a new Pod gets from its ServiceAccount. */
  source: string;
  pullSecrets: Array<{ name: string; found: boolean; type: string | null }>;
  candidates: Candidate[];
  verdict: { authenticates: boolean; reason: string; uses: { secret: string; key: string } | null };
}

/**
 * Which credential kubelet would use to pull IMAGE in a namespace, and whether the registry
 * takes it: kubelet's keyring rules over the pull Secrets the Pod (or a new Pod of the
 * ServiceAccount) carries, then the registry's v2 auth handshake for each candidate in
 * kubelet's order, as kubelet stops at the first pull that authenticates.
 */
export async function explain(image: string, options: ExplainOptions): Promise<Explanation> {
  const api = new KubeApi(loadKubeConfig(options.kubeconfig));
  const namespace = options.namespace;
  let names: string[];
  let source: string;
  if (options.pod) {
    const pod = await api.readPod(namespace, options.pod);
    names = (pod.spec?.imagePullSecrets ?? []).map((r) => r.name ?? "").filter(Boolean);
    source = `Pod ${namespace}/${options.pod}`;
  } else {
    // ServiceAccount admission copies the ServiceAccount's list into a Pod that names none.
    const sa = await api.readServiceAccount(namespace, options.serviceAccount);
    names = (sa.imagePullSecrets ?? []).map((r) => r.name ?? "").filter(Boolean);
    source = `ServiceAccount ${namespace}/${options.serviceAccount} (what a new Pod without imagePullSecrets gets)`;
  }
  const secrets = await Promise.all(
    names.map(async (name) => {
      try {
        return await api.readSecret(namespace, name);
      } catch (err) {
        if (statusOf(err) === 404) return null;
        throw err;
      }
    }),
  );
  const pullSecrets = names.map((name, i) => ({
    name,
    found: secrets[i] !== null,
    type: secrets[i]?.type ?? null,
  }));
  const present = secrets.filter((s): s is V1Secret => s !== null);
  const result = lookup(present.map(asKeyring), image);
  const base = { image, namespace, source, pullSecrets };
  if (!result.ok) {
    return {
      ...base,
      repository: null,
      candidates: [],
      verdict: { authenticates: false, reason: result.error, uses: null },
    };
  }
  const now = Date.now();
  const candidates: Candidate[] = result.hits.map((hit) => ({
    secret: hit.secret,
    key: hit.key,
    entry: hit.entry,
    username: hit.username,
    managed: managedStatus(
      present.find((s) => s.metadata?.name === hit.secret)!,
      now,
    ),
    registry: null,
  }));
  const path = result.repository.slice(result.repository.indexOf("/") + 1);
  let uses: Candidate | null = null;
  for (const [i, c] of candidates.entries()) {
    if (c.managed?.problem === "expired") continue;
    if (!options.verify) {
      uses = c;
      break;
    }
    c.registry = await check(result.hits[i]!, result.repository, path, options.fetch);
    if (c.registry.result === "accepted" || c.registry.result === "unverifiable") {
      uses = c;
      break;
    }
  }
  return {
    ...base,
    repository: result.repository,
    candidates,
    verdict: judge(candidates, uses, missing(pullSecrets), options.verify),
  };
}

/** kubelet pulls from the image's registry, whichever key supplied the credential. */
function check(hit: KeyringHit, repository: string, path: string, fetch?: Fetch): Promise<Verdict> {
  const host = apiHostOf(repository.slice(0, repository.indexOf("/")));
  return verifyCredential({
    host,
    username: hit.username,
    password: hit.password,
    repository: path,
    plainHttp: isLoopbackHost(host),
    ...(fetch ? { fetch } : {}),
  });
}

const missing = (list: Explanation["pullSecrets"]) => list.filter((s) => !s.found).map((s) => s.name);

function judge(
  candidates: Candidate[],
  uses: Candidate | null,
  absent: string[],
  verified: boolean,
): Explanation["verdict"] {
  const note = absent.length
    ? `; missing Secrets: ${absent.join(", ")} (kubelet reports FailedToRetrieveImagePullSecret)`
    : "";
  if (uses) {
    const how =
      uses.registry?.result === "unverifiable"
        ? "the registry asks for no credential"
        : verified
          ? "the registry accepts it"
          : "not checked against the registry";
    return {
      authenticates: true,
      reason: `kubelet uses key ${JSON.stringify(uses.entry)} of Secret ${uses.secret}: ${how}${note}`,
      uses: { secret: uses.secret, key: uses.entry },
    };
  }
  if (candidates.length === 0) {
    return {
      authenticates: false,
      reason: `no key of the pull secrets matches this image: kubelet pulls without credentials${note}`,
      uses: null,
    };
  }
  const why = candidates
    .map((c) =>
      c.managed?.problem === "expired"
        ? `${c.secret} ${JSON.stringify(c.entry)}: expired at ${c.managed.expiresAt}`
        : `${c.secret} ${JSON.stringify(c.entry)}: ${c.registry ? describe(c.registry) : "not checked"}`,
    )
    .join("; ");
  return { authenticates: false, reason: `no credential authenticates: ${why}${note}`, uses: null };
}

function describe(v: Verdict): string {
  switch (v.result) {
    case "rejected":
      return `rejected by the registry (${v.status})`;
    case "unreachable":
      return `registry unreachable from here (${v.message})`;
    default:
      return v.result;
  }
}

function asKeyring(s: V1Secret): KeyringSecret {
  const data: Record<string, string> = {};
  for (const [k, v] of Object.entries(s.data ?? {})) data[k] = Buffer.from(v, "base64").toString("utf8");
  return { name: s.metadata?.name ?? "", type: s.type ?? "", data };
}

function managedStatus(s: V1Secret, now: number): Candidate["managed"] {
  const labels = s.metadata?.labels ?? {};
  if (labels[LABEL_MANAGED_BY] !== "regcred" || !labels[LABEL_TARGET]) return null;
  return { ...secretStatus(s, now), managedBy: `regcred (instance ${labels[LABEL_INSTANCE] ?? "?"})` };
}

export async function explainCommand(image: string, options: ExplainOptions, io: Io): Promise<number> {
  const e = await explain(image, options);
  if (options.output === "json") io.stdout(JSON.stringify(e, null, 2) + "\n");
  else io.stdout(render(e));
  return e.verdict.authenticates ? EXIT.ok : EXIT.failure;
}

function render(e: Explanation): string {
  const lines = [
    `image:       ${e.image}${e.repository ? ` (kubelet matches ${e.repository})` : ""}`,
    `namespace:   ${e.namespace}`,
    `secrets of:  ${e.source}`,
    `pull secrets: ${e.pullSecrets.length ? e.pullSecrets.map((s) => (s.found ? s.name : `${s.name} (missing)`)).join(", ") : "none"}`,
  ];
  if (e.candidates.length) lines.push("candidates, in kubelet's order:");
  for (const c of e.candidates) {
    const m = c.managed;
    lines.push(
      `  - Secret ${c.secret}, key ${JSON.stringify(c.entry)}, user ${c.username}` +
        (m
          ? `; managed by ${m.managedBy}, registries ${m.registries.join(",") || "?"}, expires ${m.expiresAt ?? "never"}${m.problem ? `, ${m.problem}` : ""}`
          : "; not managed by regcred") +
        (c.registry ? `; registry: ${describe(c.registry)}` : ""),
    );
  }
  lines.push(
    `verdict:     ${e.verdict.authenticates ? "pull authenticates" : "pull does NOT authenticate"}: ${e.verdict.reason}`,
  );
  return lines.join("\n") + "\n";
}
