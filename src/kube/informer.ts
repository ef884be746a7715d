import type { KubeConfig, KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { setTimeout as sleep } from "node:timers/promises";
import { messageOf, statusOf } from "./client.ts";
import { watchOnce, type WatchEvent } from "./watch.ts";

export interface WatchedCache<T extends KubernetesObject> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
  /** Resolves after the first successful list. */
  synced(): Promise<void>;
  onEvent(listener: (type: "add" | "update" | "delete", obj: T) => void): void;
  stop(): Promise<void>;
}

export interface WatchedCacheOptions<T extends KubernetesObject = KubernetesObject> {
  log: Logger;
  labelSelector?: string;
  fieldSelector?: string;
  /** Seconds the server keeps one watch open; default a random 5-10 minutes, as client-go. */
  watchTimeoutSeconds?: () => number;
  /**
   * What the cache keeps of each object (client-go's TransformFunc): only what its readers
   * compare, so thousands of namespaces or ServiceAccounts do not sit in memory whole. It must
   * keep metadata.name, namespace and resourceVersion. `previous` is the version the cache
   * holds of the same object, if any.
   */
  transform?: (obj: T, previous: T | undefined) => T;
  /**
   * The watch's Accept header, when it should not be plain JSON: e.g. metadata only
   * (`as=PartialObjectMetadata`). The list is the caller's own and asks for what it needs.
   */
  accept?: string;
  /**
   * Keep a per-namespace index, for list(namespace). Off, objects sit in one map: a cache of
   * one Secret name across 10,000 namespaces held 10,000 one-entry maps.
   */
  byNamespace?: boolean;
}

/** The API server's answer when a resourceVersion is older than what it still remembers. */
const GONE = 410;
const MIN_DELAY = 500;
const MAX_DELAY = 30_000;

/**
 * A list+watch cache, as client-go's reflector: one list, then watches that each resume from
 * the newest resourceVersion seen (objects and bookmarks alike). Only the server saying that
 * version is gone (410, or an ERROR event "Expired") makes it list again. A failed list or
 * watch (API server away, network) is retried with backoff up to 30 s, from where it was,
 * until stop().
 */
export function watchedCache<T extends KubernetesObject>(
  kc: KubeConfig,
  what: string,
  path: string,
  list: () => Promise<KubernetesListObject<T>>,
  options: WatchedCacheOptions<T>,
): WatchedCache<T> {
  const { log } = options;
  const timeout = options.watchTimeoutSeconds ?? (() => Math.floor(300 * (1 + Math.random())));
  /** namespace/name -> object; and, with byNamespace, namespace -> name -> the same object. */
  const objects = new Map<string, T>();
  const index = options.byNamespace ? new Map<string, Map<string, T>>() : null;
  const keyOf = (ns: string, name: string) => `${ns}/${name}`;
  const listeners: Array<(type: "add" | "update" | "delete", obj: T) => void> = [];
  const emit = (type: "add" | "update" | "delete", obj: T) => listeners.forEach((l) => l(type, obj));
  const stopper = new AbortController();
  let markSynced: () => void = () => {};
  const synced = new Promise<void>((resolve) => (markSynced = resolve));

  const keep = options.transform ?? ((obj: T) => obj);
  const upsert = (whole: T) => {
    const k = keyOf(whole.metadata?.namespace ?? "", whole.metadata?.name ?? "");
    const found = objects.get(k);
    const obj = keep(whole, found);
    const ns = obj.metadata?.namespace ?? "";
    const name = obj.metadata?.name ?? "";
    if (found && found.metadata?.resourceVersion === obj.metadata?.resourceVersion) return;
    objects.set(k, obj);
    if (index) {
      let byName = index.get(ns);
      if (!byName) index.set(ns, (byName = new Map()));
      byName.set(name, obj);
    }
    emit(found ? "update" : "add", obj);
  };
  const remove = (obj: T) => {
    const ns = obj.metadata?.namespace ?? "";
    const name = obj.metadata?.name ?? "";
    const k = keyOf(ns, name);
    const found = objects.get(k);
    if (!found) return;
    objects.delete(k);
    const byName = index?.get(ns);
    byName?.delete(name);
    if (byName?.size === 0) index!.delete(ns);
    emit("delete", found);
  };
  /** A fresh list replaces the cache: what vanished meanwhile is reported as deleted. */
  const replace = (items: readonly T[]) => {
    const keep = new Set(items.map((o) => keyOf(o.metadata?.namespace ?? "", o.metadata?.name ?? "")));
    for (const [k, obj] of [...objects]) if (!keep.has(k)) remove(obj);
    items.forEach(upsert);
  };

  async function run(): Promise<void> {
    let resourceVersion = "";
    let delay = MIN_DELAY;
    const backoff = async (err: unknown, doing: string) => {
      log.warn({ what, retryInMs: delay }, `${doing} ${what} failed: ${messageOf(err)}; retrying`);
      await sleep(delay, undefined, { signal: stopper.signal });
      delay = Math.min(delay * 2, MAX_DELAY);
    };
    while (!stopper.signal.aborted) {
      if (!resourceVersion) {
        try {
          const result = await list();
          replace(result.items);
          resourceVersion = result.metadata?.resourceVersion ?? "";
          markSynced();
        } catch (err) {
          await backoff(err, "listing");
          continue;
        }
      }
      const started = Date.now();
      let expired = false;
      let events = 0;
      try {
        await watchOnce<T>(
          kc,
          path,
          {
            resourceVersion,
            timeoutSeconds: timeout(),
            signal: stopper.signal,
            ...(options.labelSelector ? { labelSelector: options.labelSelector } : {}),
            ...(options.fieldSelector ? { fieldSelector: options.fieldSelector } : {}),
            ...(options.accept ? { accept: options.accept } : {}),
          },
          (event: WatchEvent<T>) => {
            events++;
            if (event.type === "ERROR") {
              if (event.object.code === GONE || event.object.reason === "Expired") expired = true;
              else throw new Error(`watch error event: ${event.object.message ?? event.object.code}`);
              return;
            }
            if (event.type === "ADDED" || event.type === "MODIFIED") upsert(event.object);
            else if (event.type === "DELETED") remove(event.object);
            resourceVersion = event.object.metadata?.resourceVersion ?? resourceVersion;
          },
        );
      } catch (err) {
        if (stopper.signal.aborted) return;
        if (statusOf(err) === GONE) {
          expired = true;
        } else {
          // Resume from the same version: a broken connection forgets nothing.
          await backoff(err, "watching");
          continue;
        }
      }
      if (expired) {
        log.info({ what, resourceVersion }, `watch of ${what}: resourceVersion expired; listing again`);
        resourceVersion = "";
        continue;
      }
      // The server ended the watch at its deadline: resume at once. One that ends at once with
      // nothing in it (a server shutting down) is retried with backoff, not in a tight loop.
      if (events === 0 && Date.now() - started < 1_000) {
        await sleep(delay, undefined, { signal: stopper.signal }).catch(() => undefined);
        delay = Math.min(delay * 2, MAX_DELAY);
      } else {
        delay = MIN_DELAY;
      }
    }
  }
  const running = run().catch((err: unknown) => {
    if (!stopper.signal.aborted) log.error({ what }, `watch of ${what} stopped: ${messageOf(err)}`);
  });

  return {
    get: (name, namespace) => objects.get(keyOf(namespace ?? "", name)),
    list: (namespace) => {
      if (namespace === undefined) return [...objects.values()];
      if (!index) throw new Error(`${what}: list(namespace) needs the byNamespace option`);
      return [...(index.get(namespace)?.values() ?? [])];
    },
    synced: () => synced,
    onEvent: (listener) => void listeners.push(listener),
    async stop() {
      stopper.abort();
      await running;
    },
  };
}

interface Page<T> {
  items: T[];
  metadata?: { resourceVersion?: string; continue?: string };
}

/**
 * Lists in pages of `limit`, as kubectl does: one response for every Secret of a large cluster
 * is tens of MB of JSON held three times over (text, parsed, typed) at once; pages keep that
 * transient peak to one page. All pages come from the first page's snapshot.
 */
export async function listInPages<T, L extends Page<T>>(
  fetchPage: (cont: string | undefined) => Promise<L>,
  /** What is kept of each item, applied page by page (the cache's transform). */
  keep: (item: T) => T = (item) => item,
): Promise<L> {
  const first = await fetchPage(undefined);
  const items = first.items.map(keep);
  let cont = first.metadata?.continue;
  while (cont) {
    const page = await fetchPage(cont);
    for (const item of page.items) items.push(keep(item));
    cont = page.metadata?.continue;
  }
  return { ...first, items, metadata: { ...first.metadata, continue: undefined } };
}
