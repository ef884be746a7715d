import { CoreV1Api, type KubeConfig, type V1Namespace } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Namespace } from "../engine/plan.ts";
import type { NamespaceSource } from "../engine/sink.ts";
import { makeApi } from "./client.ts";
import { listInPages, watchedCache, type WatchedCache } from "./informer.ts";

/**
 * The cluster's namespaces, from a watch. Terminating namespaces are left out of the list:
 * nothing can be created in them, and their Secrets go with them.
 */
export class NamespaceWatcher implements NamespaceSource {
  readonly selective = true;
  private readonly cache: WatchedCache<V1Namespace>;
  private readonly listeners: Array<() => void> = [];
  private snapshot: Namespace[] | null = null;

  constructor(kc: KubeConfig, log: Logger) {
    const core = makeApi(kc, CoreV1Api);
    this.cache = watchedCache(
      kc,
      "namespaces",
      "/api/v1/namespaces",
      () => listInPages((cont) => core.listNamespace({ limit: 500, _continue: cont })),
      { log },
    );
    this.cache.onEvent((type, ns) => {
      // Only what selection reads: the name, labels and whether it is terminating.
      if (
        type === "update" &&
        this.snapshot?.some(
          (s) => s.name === ns.metadata?.name && sameLabels(s.labels, ns) && !terminating(ns),
        )
      ) {
        return;
      }
      this.snapshot = null;
      this.listeners.forEach((l) => l());
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

  /**
   * Whether the namespace is being deleted. Nothing is written there, and nothing of regcred's
   * is removed there either: a namespace can stay Terminating for a long time (a finalizer
   * waiting), and its Pods keep pulling images with what they have.
   */
  isTerminating(name: string): boolean {
    const ns = this.cache.get(name);
    return ns !== undefined && terminating(ns);
  }

  onChange(listener: () => void): () => void {
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

function sameLabels(labels: Record<string, string>, ns: V1Namespace): boolean {
  const other = ns.metadata?.labels ?? {};
  const keys = Object.keys(labels);
  return keys.length === Object.keys(other).length && keys.every((k) => labels[k] === other[k]);
}
