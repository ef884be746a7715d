import type { KubeConfig, V1ServiceAccount } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { KubeApi } from "./api.ts";
import { messageOf, statusOf } from "./client.ts";
import { listInPages, watchedCache, type WatchedCache } from "./informer.ts";
import { forEachLimit } from "./limit.ts";
import { fenceDown } from "./fence.ts";
import { DEFAULT_INSTANCE } from "../engine/plan.ts";

/**
 * Which imagePullSecrets entries regcred added, so it removes only those. An entry that was
 * there before regcred (someone listed the same name by hand) is never recorded, never removed.
 */
export function ownedEntriesAnnotation(instance: string): string {
  return `regcred.io/image-pull-secrets.${instance}`;
}

export interface PullSecretWant {
  namespace: string;
  secret: string;
  /** ServiceAccount names, "default", or "*" for every one in the namespace. */
  serviceAccounts: readonly string[];
  /**
   * Keep an entry regcred added, but add none: the Secret of that name there is someone
   * else's (regcred does not point Pods at a Secret it does not own, nor pulls an entry away).
   */
  keepOnly?: boolean;
}

/**
 * Keeps regcred's entries in ServiceAccount.imagePullSecrets. The API marks that list atomic
 * (x-kubernetes-list-type: atomic, checked on the real server in the integration tests):
 * server-side apply would own the whole list and drop other managers' entries, so each change
 * is a JSON patch that carries the resourceVersion it was computed from: a write in between
 * makes the API server answer 409 Conflict, and the change is computed again from a fresh
 * read. Other entries keep their order; regcred's are appended.
 *
 * Wants come from the desired state (every namespace the plan selects), never from how one
 * pass's Secret writes went: a Secret that failed to update still holds a working credential.
 */
export class ServiceAccountReconciler {
  private readonly api: KubeApi;
  private readonly cache: WatchedCache<V1ServiceAccount>;
  private readonly listeners: Array<(namespace: string) => void> = [];
  /** namespace -> ServiceAccount name or "*" -> secrets wanted, from the last pass. */
  private wanted = new Map<string, Map<string, Set<string>>>();
  /** Same shape: entries kept where present, never added (keepOnly wants). */
  private held = new Map<string, Map<string, Set<string>>>();
  private keep: ReadonlySet<string> = new Set();
  private frozen: (namespace: string) => boolean = () => false;

  private readonly annotation: string;

  constructor(
    kc: KubeConfig,
    private readonly log: Logger,
    instance: string = DEFAULT_INSTANCE,
  ) {
    this.annotation = ownedEntriesAnnotation(instance);
    this.api = new KubeApi(kc);
    this.cache = watchedCache(
      kc,
      "serviceaccounts",
      "/api/v1/serviceaccounts",
      () =>
        listInPages(
          (cont) => this.api.listServiceAccounts({ limit: 500, continue: cont }),
          (sa: V1ServiceAccount) => pullSecretsView(sa, this.annotation),
        ),
      { log, transform: (sa) => pullSecretsView(sa, this.annotation), byNamespace: true },
    );
    this.cache.onEvent((type, sa) => {
      if (type === "delete") return;
      // A new ServiceAccount, or an edit that dropped one of regcred's entries.
      if (this.pending(sa)) this.listeners.forEach((l) => l(sa.metadata?.namespace ?? ""));
    });
  }

  synced(): Promise<void> {
    return this.cache.synced();
  }

  /** Told of a ServiceAccount out of step with the wants, with its namespace. */
  onDrift(listener: (namespace: string) => void): void {
    this.listeners.push(listener);
  }

  stop(): Promise<void> {
    return this.cache.stop();
  }

  /**
   * Adds the wanted entries and removes regcred's entries nobody wants any more. `keep`: target
   * names whose entries stay even where not wanted now (their Secrets are kept too). `frozen`:
   * namespaces left exactly as they are (being deleted). `scope`: the wants are those
   * namespaces' only; only their ServiceAccounts are looked at, the rest keep their wants.
   */
  async reconcile(
    wants: readonly PullSecretWant[],
    keep: ReadonlySet<string> = new Set(),
    frozen: (namespace: string) => boolean = () => false,
    scope?: ReadonlySet<string>,
  ): Promise<{ patched: number; failed: number }> {
    const wanted = byNamespace(wants.filter((w) => !w.keepOnly));
    const held = byNamespace(wants.filter((w) => w.keepOnly));
    if (scope) {
      for (const ns of scope) {
        replaceEntry(this.wanted, ns, wanted.get(ns));
        replaceEntry(this.held, ns, held.get(ns));
      }
    } else {
      this.wanted = wanted;
      this.held = held;
    }
    this.keep = keep;
    this.frozen = frozen;
    const accounts = scope ? [...scope].flatMap((ns) => this.cache.list(ns)) : this.cache.list();
    let patched = 0;
    let failed = 0;
    await forEachLimit(accounts, 16, async (sa) => {
      if (fenceDown() || !this.pending(sa)) return;
      try {
        if (await this.fix(sa.metadata!.namespace!, sa.metadata!.name!)) patched++;
      } catch (err) {
        failed++;
        this.log.error(
          { namespace: sa.metadata?.namespace, serviceAccount: sa.metadata?.name },
          `updating imagePullSecrets of ServiceAccount ${sa.metadata?.namespace}/${sa.metadata?.name} failed: ${messageOf(err)}`,
        );
      }
    });
    return { patched, failed };
  }

  /** The change this ServiceAccount needs now; null if none (or its namespace is frozen). */
  private next(sa: V1ServiceAccount): Change | null {
    if (this.frozen(sa.metadata?.namespace ?? "")) return null;
    const keep = new Set([...this.keep, ...entriesFor(this.held, sa)]);
    return change(sa, entriesFor(this.wanted, sa), keep, this.annotation);
  }

  private pending(sa: V1ServiceAccount): boolean {
    return this.next(sa) !== null;
  }

  private async fix(namespace: string, name: string): Promise<boolean> {
    for (let attempt = 1; ; attempt++) {
      // The cache may lag behind our own last patch; the test op catches that and we re-read.
      const sa =
        attempt === 1
          ? (this.cache.get(name, namespace) ?? (await this.read(namespace, name)))
          : await this.read(namespace, name);
      if (!sa) return false;
      const next = this.next(sa);
      if (!next) return false;
      try {
        await this.api.jsonPatchServiceAccount(namespace, name, next.patch);
        this.log.info(
          { namespace, serviceAccount: name, added: next.added, removed: next.removed },
          `ServiceAccount ${namespace}/${name}: imagePullSecrets updated`,
        );
        return true;
      } catch (err) {
        const status = statusOf(err);
        // 409: someone wrote in between; compute the change again from what they wrote.
        if (status === 409 && attempt < 5) continue;
        if (status === 404) return false;
        throw err;
      }
    }
  }

  private async read(namespace: string, name: string): Promise<V1ServiceAccount | undefined> {
    try {
      return await this.api.readServiceAccount(namespace, name);
    } catch (err) {
      if (statusOf(err) === 404) return undefined;
      throw err;
    }
  }
}

function replaceEntry<V>(table: Map<string, V>, key: string, value: V | undefined): void {
  if (value === undefined) table.delete(key);
  else table.set(key, value);
}

/** Of a ServiceAccount, the cache keeps what change() reads: its entries and regcred's annotation. */
function pullSecretsView(sa: V1ServiceAccount, annotation: string): V1ServiceAccount {
  const m = sa.metadata;
  const owned = m?.annotations?.[annotation];
  return {
    metadata: {
      name: m?.name,
      namespace: m?.namespace,
      resourceVersion: m?.resourceVersion,
      // Whether it has annotations at all matters: change() adds the map itself only when
      // there is none (adding it over others' annotations would replace them).
      ...(m?.annotations ? { annotations: owned !== undefined ? { [annotation]: owned } : {} } : {}),
    },
    ...(sa.imagePullSecrets ? { imagePullSecrets: sa.imagePullSecrets.map((e) => ({ name: e.name })) } : {}),
  };
}

function byNamespace(wants: readonly PullSecretWant[]): Map<string, Map<string, Set<string>>> {
  const out = new Map<string, Map<string, Set<string>>>();
  for (const w of wants) {
    const byAccount = out.get(w.namespace) ?? new Map<string, Set<string>>();
    out.set(w.namespace, byAccount);
    for (const account of w.serviceAccounts) {
      const set = byAccount.get(account) ?? new Set<string>();
      set.add(w.secret);
      byAccount.set(account, set);
    }
  }
  return out;
}

function entriesFor(table: Map<string, Map<string, Set<string>>>, sa: V1ServiceAccount): Set<string> {
  const byAccount = table.get(sa.metadata?.namespace ?? "");
  if (!byAccount) return new Set();
  return new Set([...(byAccount.get(sa.metadata?.name ?? "") ?? []), ...(byAccount.get("*") ?? [])]);
}

interface Change {
  patch: object[];
  added: string[];
  removed: string[];
}

/** The JSON patch that gives this ServiceAccount exactly regcred's wanted entries; null if none is needed. */
export function change(
  sa: V1ServiceAccount,
  want: ReadonlySet<string>,
  keep: ReadonlySet<string>,
  annotation: string,
): Change | null {
  const list = sa.imagePullSecrets ?? [];
  const present = new Set(list.map((e) => e.name));
  const ownedText = sa.metadata?.annotations?.[annotation];
  const owned = new Set(ownedText ? ownedText.split(",").filter(Boolean) : []);
  const added = [...want].filter((s) => !present.has(s)).sort();
  const removed = [...owned].filter((s) => !want.has(s) && !keep.has(s) && present.has(s)).sort();
  const nextOwned = [...new Set([...[...owned].filter((s) => want.has(s) || keep.has(s)), ...added])].filter(
    (s) => present.has(s) || added.includes(s),
  );
  nextOwned.sort();
  const nextOwnedText = nextOwned.join(",");
  if (added.length === 0 && removed.length === 0 && nextOwnedText === (ownedText ?? "")) return null;

  // The resourceVersion read is the patch's precondition: a write since makes it a 409.
  const patch: object[] = [
    { op: "replace", path: "/metadata/resourceVersion", value: sa.metadata!.resourceVersion },
  ];
  if (added.length > 0 || removed.length > 0) {
    const nextList = [
      ...list.filter((e) => !removed.includes(e.name ?? "")),
      ...added.map((name) => ({ name })),
    ];
    patch.push({ op: "add", path: "/imagePullSecrets", value: nextList });
  }
  const annotationPath = `/metadata/annotations/${annotation.replace(/~/g, "~0").replace(/\//g, "~1")}`;
  if (nextOwnedText === "") {
    if (ownedText !== undefined) patch.push({ op: "remove", path: annotationPath });
  } else if (!sa.metadata?.annotations) {
    patch.push({ op: "add", path: "/metadata/annotations", value: { [annotation]: nextOwnedText } });
  } else {
    patch.push({ op: "add", path: annotationPath, value: nextOwnedText });
  }
  return { patch, added, removed };
}
