import type { KubeConfig, V1Namespace } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Namespace } from "../engine/plan.ts";
import type { NamespaceSource } from "../engine/sink.ts";
import { KubeApi } from "./api.ts";
import { listInPages, watchedCache, type WatchedCache } from "./informer.ts";

/**
 * The cluster's namespaces, from a watch. Terminating namespaces are left out of the list:
 * nothing can be created in them, and their Secrets go with them. Listeners hear which
 * namespace changed, and only when what selection reads changed (name, labels, terminating).
 */
export class NamespaceWatcher implements NamespaceSource {
  readonly selective = true;
  private readonly cache: WatchedCache<V1Namespace>;
  private readonly listeners: Array<(namespace?: string) => void> = [];
  private snapshot: Namespace[] | null = null;
  /** Per namespace, what selection last saw: to tell a relevant update from any other. */
  private readonly seen = new Map<string, string>();

  constructor(kc: KubeConfig, log: Logger) {
    const api = new KubeApi(kc);
    this.cache = watchedCache(
      kc,
      "namespaces",
      "/api/v1/namespaces",
      () => listInPages((cont) => api.listNamespaces({ limit: 500, continue: cont }), selectionView),
      { log, transform: selectionView },
    );
    this.cache.onEvent((type, ns) => {
      const name = ns.metadata?.name ?? "";
      if (type === "delete") {
        this.seen.delete(name);
      } else {
        const view = JSON.stringify([ns.metadata?.labels ?? {}, terminating(ns)]);
        if (this.seen.get(name) === view) return;
        this.seen.set(name, view);
      }
      this.snapshot = null;
      this.listeners.forEach((l) => l(name));
    });
  }

  synced(): Promise<void> {
    return this.cache.synced();
  }

  list(): readonly Namespace[] {
    this.snapshot ??= this.cache
      .list()
      .filter((ns) => !terminating(ns))
      .map((ns) => ({ name: ns.metadata!.name!, labels: { ...ns.metadata?.labels } }));
    return this.snapshot;
  }

  get(name: string): Namespace | undefined {
    const ns = this.cache.get(name);
    if (!ns || terminating(ns)) return undefined;
    return { name, labels: { ...ns.metadata?.labels } };
  }

  /**
   * Whether the namespace is being deleted. Nothing is written there, and nothing of regcred's
   * is removed there either: a namespace can stay Terminating for a long time (a finalizer
   * waiting), and its Pods keep pulling images with what they have.
   */
  isTerminating(name: string): boolean {
    const ns = this.cache.get(name);
    return ns !== undefined && terminating(ns);
  }

  onChange(listener: (namespace?: string) => void): () => void {
    this.listeners.push(listener);
    return () => this.listeners.splice(this.listeners.indexOf(listener), 1);
  }

  stop(): Promise<void> {
    return this.cache.stop();
  }
}

function terminating(ns: V1Namespace): boolean {
  return Boolean(ns.metadata?.deletionTimestamp) || ns.status?.phase === "Terminating";
}

/** Of a namespace, the cache keeps what selection reads. */
function selectionView(ns: V1Namespace): V1Namespace {
  const m = ns.metadata;
  return {
    metadata: {
      name: m?.name,
      resourceVersion: m?.resourceVersion,
      ...(m?.labels ? { labels: m.labels } : {}),
      ...(m?.deletionTimestamp ? { deletionTimestamp: m.deletionTimestamp } : {}),
    },
    ...(ns.status?.phase ? { status: { phase: ns.status.phase } } : {}),
  };
}
