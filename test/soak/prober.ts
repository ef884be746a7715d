// Reads what the cluster holds, as an admin (never through regcred), and hands it to the
// accounting: every selected namespace's Secret and default ServiceAccount each tick, every
// distinct entry checked against the real registry, and one full pull with crane now and then.
import { CoreV1Api, type KubeConfig, type V1Namespace } from "@kubernetes/client-node";
import { pullWithDockerConfig, type Registry } from "../rig/registry.ts";
import type { Accounting, EntryView, NamespaceView, Oracle } from "./accounting.ts";
import { registryAccepts } from "./registry.ts";

export type Expectation = (ns: V1Namespace, now: number) => Pick<NamespaceView, "expect" | "since">;

interface Snapshot {
  namespaces: V1Namespace[];
  secrets: Map<string, string>;
  sas: Map<string, boolean>;
}

export class Prober {
  /** Ticks at which the API server could not be read (the last snapshot stood in). */
  staleTicks = 0;
  pulls = { agreed: 0, disagreed: 0, examples: [] as string[] };
  /** Every password seen in any Secret: tells minted-and-used from minted-and-wasted. */
  readonly seenPasswords = new Set<string>();
  private readonly core: CoreV1Api;
  private last: Snapshot | undefined;
  private tickNo = 0;

  constructor(
    private readonly deps: {
      kc: KubeConfig;
      labelSelector: string;
      secretName: string;
      expectation: Expectation;
      oracle: Oracle;
      accounting: Accounting;
      registry: Registry;
      repo: string;
      tag: string;
      /** The auth key a pull of the image uses. */
      imageHost: string;
      /** A crane pull every this many ticks. */
      pullEvery: number;
      /**
       * A credential its issuer has expired, checked each tick whether or not a Secret holds
       * it: the registry must refuse it, or the soak could not see an expired entry fail.
       */
      lapsed?: () => EntryView | undefined;
    },
  ) {
    this.core = deps.kc.makeApiClient(CoreV1Api);
  }

  private async read(): Promise<Snapshot> {
    const { secretName, labelSelector } = this.deps;
    const [nsList, secretList, saList] = await Promise.all([
      this.core.listNamespace({ labelSelector }),
      this.core.listSecretForAllNamespaces({ fieldSelector: `metadata.name=${secretName}` }),
      this.core.listServiceAccountForAllNamespaces({ fieldSelector: "metadata.name=default" }),
    ]);
    const secrets = new Map<string, string>();
    for (const s of secretList.items) {
      const raw = s.data?.[".dockerconfigjson"];
      if (raw) secrets.set(s.metadata!.namespace!, Buffer.from(raw, "base64").toString("utf8"));
    }
    const sas = new Map<string, boolean>();
    for (const sa of saList.items) {
      sas.set(
        sa.metadata!.namespace!,
        (sa.imagePullSecrets ?? []).some((r) => r.name === secretName),
      );
    }
    return { namespaces: nsList.items, secrets, sas };
  }

  async tick(): Promise<void> {
    const { accounting, expectation } = this.deps;
    this.tickNo++;
    let snap: Snapshot;
    try {
      snap = await this.read();
      this.last = snap;
    } catch {
      // API server down: nothing can change what etcd holds, so the last snapshot still is
      // the cluster's state; its entries keep ageing against the clock.
      if (!this.last) return;
      snap = this.last;
      this.staleTicks++;
    }
    const now = Date.now();
    const views: NamespaceView[] = [];
    for (const ns of snap.namespaces) {
      if (ns.metadata?.deletionTimestamp) continue; // terminating: nothing can be written there
      const name = ns.metadata!.name!;
      const raw = snap.secrets.get(name);
      const secret = raw === undefined ? null : auths(raw);
      for (const e of secret?.values() ?? []) this.seenPasswords.add(e.password);
      views.push({
        name,
        ...expectation(ns, now),
        secret,
        saHasEntry: snap.sas.get(name) ?? null,
      });
    }
    accounting.observe(now, views);
    await this.checkRegistry(now, views, snap);
  }

  private async checkRegistry(now: number, views: NamespaceView[], snap: Snapshot): Promise<void> {
    const { accounting, oracle, registry, repo, tag, imageHost } = this.deps;
    const selected = views.filter((v) => v.expect === "selected" && v.secret);
    // Every distinct entry any selected namespace holds, each through the real registry.
    const distinct = new Map<string, { host: string; entry: EntryView; namespace: string }>();
    for (const v of selected) {
      for (const [host, entry] of v.secret!) {
        distinct.set(`${host}\u0000${entry.username}\u0000${entry.password}`, {
          host,
          entry,
          namespace: v.name,
        });
      }
    }
    for (const { host, entry, namespace } of distinct.values()) {
      const verdict = oracle(host, entry, now);
      try {
        const r = await registryAccepts(registry, repo, tag, entry.username, entry.password);
        accounting.registryCheck(now, verdict, r.ok, namespace);
      } catch {
        // the registry itself unreachable: not regcred's doing, and not seen in a soak so far
      }
    }
    const lapsed = this.deps.lapsed?.();
    if (lapsed) {
      const r = await registryAccepts(registry, repo, tag, lapsed.username, lapsed.password).catch(
        () => undefined,
      );
      if (r) accounting.registryCheck(now, oracle(imageHost, lapsed, now), r.ok, "(a lapsed token)");
    }
    // And now and then a whole pull with a real client, from one namespace's Secret as stored.
    if (this.tickNo % this.deps.pullEvery !== 0 || selected.length === 0) return;
    const pick = selected[Math.floor(Math.random() * selected.length)]!;
    const entry = pick.secret!.get(imageHost);
    const expected = entry ? oracle(imageHost, entry, Date.now()).state === "valid" : false;
    const result = await pullWithDockerConfig(snap.secrets.get(pick.name)!, `${imageHost}/${repo}:${tag}`);
    if (result.ok === expected) this.pulls.agreed++;
    else {
      this.pulls.disagreed++;
      if (this.pulls.examples.length < 5)
        this.pulls.examples.push(
          `${pick.name}: expected ${expected ? "ok" : "refused"}, got ${result.ok ? "ok" : result.error}`,
        );
    }
  }
}

/** The auths of a .dockerconfigjson by host (password field, else the decoded auth). */
export function auths(dockerconfigjson: string): Map<string, EntryView> {
  const out = new Map<string, EntryView>();
  let parsed: { auths?: Record<string, { username?: string; password?: string; auth?: string }> };
  try {
    parsed = JSON.parse(dockerconfigjson) as typeof parsed;
  } catch {
    return out;
  }
  for (const [host, a] of Object.entries(parsed.auths ?? {})) {
    let { username, password } = a;
    if ((username === undefined || password === undefined) && a.auth) {
      const decoded = Buffer.from(a.auth, "base64").toString("utf8");
      const i = decoded.indexOf(":");
      username = decoded.slice(0, i);
      password = decoded.slice(i + 1);
    }
    if (username !== undefined && password !== undefined) out.set(host, { username, password });
  }
  return out;
}
