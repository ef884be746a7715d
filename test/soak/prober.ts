// Reads what the cluster holds, as an admin (never through regcred), and hands it to the
// accounting: every selected namespace's Secret and default ServiceAccount each tick, every
// distinct entry checked against the real registry, and one full pull with crane now and then.
import { CoreV1Api, type KubeConfig, type V1Namespace } from "@kubernetes/client-node";
import { pullWithDockerConfig, type Registry } from "../rig/registry.ts";
import type { Accounting, EntryView, NamespaceView, Oracle, Verdict } from "./accounting.ts";
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
  /** Registry checks and pulls during which the credential expired: judged neither way. */
  straddled = 0;
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
    await this.checkRegistry(views, snap);
  }

  /** One entry through the real registry, its answer recorded against the issuer's verdict. */
  private async checkEntry(host: string, entry: EntryView, namespace: string): Promise<void> {
    const { accounting, oracle, registry, repo, tag } = this.deps;
    const ask = () => registryAccepts(registry, repo, tag, entry.username, entry.password).then((r) => r.ok);
    // the registry itself unreachable: not regcred's doing, and not seen in a soak so far
    const judged = await judgeAgainstIssuer(oracle, host, entry, ask).catch(() => undefined);
    if (judged === "straddled") this.straddled++;
    else if (judged) accounting.registryCheck(judged.at, judged.verdict, judged.accepted, namespace);
  }

  private async checkRegistry(views: NamespaceView[], snap: Snapshot): Promise<void> {
    const { oracle, repo, tag, imageHost } = this.deps;
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
    for (const { host, entry, namespace } of distinct.values()) await this.checkEntry(host, entry, namespace);
    const lapsed = this.deps.lapsed?.();
    if (lapsed) await this.checkEntry(imageHost, lapsed, "(a lapsed token)");
    // And now and then a whole pull with a real client, from one namespace's Secret as stored.
    if (this.tickNo % this.deps.pullEvery !== 0 || selected.length === 0) return;
    const pick = selected[Math.floor(Math.random() * selected.length)]!;
    const entry = pick.secret!.get(imageHost);
    const image = `${imageHost}/${repo}:${tag}`;
    let error = "";
    const pull = () =>
      pullWithDockerConfig(snap.secrets.get(pick.name)!, image).then((r) => {
        if (!r.ok) error = r.error;
        return r.ok;
      });
    // No entry for the image's host: nothing to judge, the pull must simply be refused.
    const judged = entry
      ? await judgeAgainstIssuer(oracle, imageHost, entry, pull)
      : { verdict: { state: "unknown" as const }, accepted: await pull(), at: Date.now() };
    if (judged === "straddled") {
      this.straddled++;
      return;
    }
    const expected = judged.verdict.state === "valid";
    if (judged.accepted === expected) this.pulls.agreed++;
    else {
      this.pulls.disagreed++;
      if (this.pulls.examples.length < 5)
        this.pulls.examples.push(
          `${pick.name}: expected ${expected ? "ok" : "refused"}, got ${judged.accepted ? "ok" : error}`,
        );
    }
  }
}

/**
 * A registry's answer beside its issuer's verdict. The registry decides at some instant while
 * the request is in flight, so the issuer is asked at both ends: a credential that expires in
 * between has no one verdict to hold the answer against, and is "straddled" rather than
 * counted either way. (Judged at the start alone, a token that lapses during a slow check on a
 * loaded machine reads as a valid one refused.)
 */
export async function judgeAgainstIssuer(
  oracle: Oracle,
  host: string,
  entry: EntryView,
  ask: () => Promise<boolean>,
  clock: () => number = Date.now,
): Promise<{ verdict: Verdict; accepted: boolean; at: number } | "straddled"> {
  const before = oracle(host, entry, clock());
  const accepted = await ask();
  const at = clock();
  const verdict = oracle(host, entry, at);
  if (verdict.state !== before.state) return "straddled";
  return { verdict, accepted, at };
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
