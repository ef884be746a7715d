import type { KubeConfig } from "@kubernetes/client-node";
import { ListWatch, Watch, type KubernetesListObject, type KubernetesObject } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { messageOf } from "./client.ts";

export interface WatchedCache<T extends KubernetesObject> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
  /** Resolves after the first successful list. */
  synced(): Promise<void>;
  onEvent(listener: (type: "add" | "update" | "delete", obj: T) => void): void;
  stop(): Promise<void>;
}

/**
 * A list+watch cache that survives the API server going away: client-node's ListWatch stops
 * on an error, so this restarts it with backoff (up to 30 s) until stop() is called. A watch
 * resumes from its last resourceVersion; a 410 relists.
 */
export function watchedCache<T extends KubernetesObject>(
  kc: KubeConfig,
  what: string,
  path: string,
  list: () => Promise<KubernetesListObject<T>>,
  options: { log: Logger; labelSelector?: string; fieldSelector?: string },
): WatchedCache<T> {
  // ListWatch.start() resolves even when its list fails (it reports through "error"), so
  // whether a list succeeded is tracked here.
  let listed = false;
  const trackedList = async () => {
    const result = await list();
    listed = true;
    return result;
  };
  const informer = new ListWatch<T>(
    path,
    new Watch(kc),
    trackedList,
    false,
    options.labelSelector,
    options.fieldSelector,
  );
  let stopped = false;
  let delay = 500;
  let timer: NodeJS.Timeout | undefined;
  let markSynced: () => void = () => {};
  const synced = new Promise<void>((resolve) => (markSynced = resolve));
  const listeners: Array<(type: "add" | "update" | "delete", obj: T) => void> = [];

  informer.on("add", (o) => listeners.forEach((l) => l("add", o)));
  informer.on("update", (o) => listeners.forEach((l) => l("update", o)));
  informer.on("delete", (o) => listeners.forEach((l) => l("delete", o)));
  informer.on("connect", () => {
    delay = 500;
  });
  informer.on("error", (err) => {
    if (stopped) return;
    options.log.warn({ what, retryInMs: delay }, `watch of ${what} failed: ${messageOf(err)}; restarting`);
    clearTimeout(timer);
    timer = setTimeout(start, delay);
    delay = Math.min(delay * 2, 30_000);
  });

  function start(): void {
    if (stopped) return;
    informer.start().then(
      () => listed && markSynced(),
      (err: unknown) => {
        if (stopped) return;
        options.log.warn({ what, retryInMs: delay }, `listing ${what} failed: ${messageOf(err)}; retrying`);
        clearTimeout(timer);
        timer = setTimeout(start, delay);
        delay = Math.min(delay * 2, 30_000);
      },
    );
  }
  start();

  return {
    get: (name, namespace) => informer.get(name, namespace),
    list: (namespace) => informer.list(namespace),
    synced: () => synced,
    onEvent: (listener) => void listeners.push(listener),
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await informer.stop();
    },
  };
}

interface Page<T> {
  items: T[];
  metadata?: { resourceVersion?: string; _continue?: string };
}

/**
 * Lists in pages of `limit`, as kubectl does: one response for every Secret of a large cluster
 * is tens of MB of JSON held three times over (text, parsed, typed) at once; pages keep that
 * transient peak to one page. All pages come from the first page's snapshot.
 */
export async function listInPages<T, L extends Page<T>>(
  fetchPage: (cont: string | undefined) => Promise<L>,
): Promise<L> {
  const first = await fetchPage(undefined);
  const items = [...first.items];
  let cont = first.metadata?._continue;
  while (cont) {
    const page = await fetchPage(cont);
    items.push(...page.items);
    cont = page.metadata?._continue;
  }
  return { ...first, items, metadata: { ...first.metadata, _continue: undefined } };
}
