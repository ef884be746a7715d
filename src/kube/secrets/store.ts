import type { KubeConfig, V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { KubeApi } from "../api.ts";
import { listInPages, watchedCache, type WatchedCache } from "../informer.ts";
import { compact, newer } from "./compare.ts";
import { key } from "./paths.ts";

const PAGE = 250;

export type SecretEvent = "add" | "update" | "delete";

/**
 * What the cluster holds of the Secrets regcred may write: one watch per managed name, across
 * all namespaces (a field selector on the name, which is also what RBAC authorizes by
 * resourceNames), overlaid with the objects the API server returned from regcred's own writes
 * until the watch catches up with them.
 */
export class SecretStore {
  private readonly caches = new Map<string, WatchedCache<V1Secret>>();
  /** Objects as the API server returned them from our writes, until the watch catches up. */
  private readonly written = new Map<string, V1Secret>();

  constructor(kc: KubeConfig, log: Logger, names: Iterable<string>) {
    const api = new KubeApi(kc);
    for (const name of new Set(names)) {
      const fieldSelector = `metadata.name=${name}`;
      const cache = watchedCache<V1Secret>(
        kc,
        `secrets named ${name}`,
        "/api/v1/secrets",
        // Each page is compacted as it arrives: a relist (the watch fell behind by more than the
        // API server remembers) of 10,000 whole Secrets at once was 150 MB of heap, over the
        // daemon's limit.
        () =>
          listInPages(async (cont) => {
            const page = await api.listSecrets(undefined, { fieldSelector, limit: PAGE, continue: cont });
            page.items.forEach(compact);
            return page;
          }),
        { log, fieldSelector },
      );
      cache.onEvent((type, obj) => this.settle(type, obj));
      this.caches.set(name, cache);
    }
  }

  /** Every watch event, after the store has taken it in (data digested). */
  onEvent(listener: (type: SecretEvent, obj: V1Secret) => void): void {
    for (const cache of this.caches.values()) cache.onEvent(listener);
  }

  names(): IterableIterator<string> {
    return this.caches.keys();
  }

  async synced(): Promise<void> {
    await Promise.all([...this.caches.values()].map((c) => c.synced()));
  }

  async stop(): Promise<void> {
    await Promise.all([...this.caches.values()].map((c) => c.stop()));
  }

  /** Every Secret of that name the watch holds. */
  list(name: string): readonly V1Secret[] {
    return this.caches.get(name)?.list() ?? [];
  }

  /** The Secret as the watch last saw it. */
  cached(namespace: string, name: string): V1Secret | undefined {
    return this.caches.get(name)?.get(name, namespace);
  }

  /** The newest version known: the watch's, or our own write's if the watch has not seen it yet. */
  current(namespace: string, name: string): V1Secret | undefined {
    const cached = this.caches.get(name)?.get(name, namespace);
    const ours = this.written.get(key(namespace, name));
    if (!ours) return cached;
    if (!cached || newer(ours, cached)) return ours;
    this.written.delete(key(namespace, name));
    return cached;
  }

  /** What the API server answered to a write of ours. */
  wrote(obj: V1Secret): void {
    this.written.set(key(obj.metadata!.namespace!, obj.metadata!.name!), compact(obj));
  }

  forget(namespace: string, name: string): void {
    this.written.delete(key(namespace, name));
  }

  private settle(type: SecretEvent, obj: V1Secret): void {
    compact(obj);
    const k = key(obj.metadata?.namespace ?? "", obj.metadata?.name ?? "");
    const ours = this.written.get(k);
    if (type === "delete") this.written.delete(k);
    else if (ours && !newer(ours, obj)) this.written.delete(k);
  }
}
