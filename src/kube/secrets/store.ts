import type { KubeConfig, V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { setTimeout as sleep } from "node:timers/promises";
import { KubeApi } from "../api.ts";
import { messageOf, statusOf } from "../client.ts";
import { listInPages, watchedCache, type WatchedCache } from "../informer.ts";
import { compact, contentOf, hasContent, newer, withContent, type Content } from "./compare.ts";
import { key } from "./paths.ts";

const PAGE = 250;

/**
 * Metadata only, for the watch and for the answers to regcred's own writes: the API server
 * sends each Secret without its data (tens of kilobytes with four registries' tokens) and
 * without its type. Both are known otherwise: from the list, from what regcred itself wrote,
 * or, after an edit by someone else, from one read of that Secret.
 */
export const METADATA_ONLY = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1";

export type SecretEvent = "add" | "update" | "delete";

const MIN_DELAY = 500;
const MAX_DELAY = 30_000;

/**
 * What the cluster holds of the Secrets regcred may write: one watch per managed name, across
 * all namespaces (a field selector on the name, which is also what RBAC authorizes by
 * resourceNames), overlaid with the objects the API server returned from regcred's own writes
 * until the watch catches up with them.
 *
 * The list is whole (its data digested page by page); the watch and the write answers are
 * metadata only (METADATA_ONLY). A watch event gets its content from the version it follows
 * when its resourceVersion is one regcred wrote or read itself; any other (an edit by someone
 * else) is marked stale, keeps the content of the version before it for the time being, and is
 * read once by name. Listeners hear of an event only once its content is known.
 */
export class SecretStore {
  private readonly caches = new Map<string, WatchedCache<V1Secret>>();
  /** Versions whose content is known (our writes' answers, our reads) until the watch has them. */
  private readonly known = new Map<string, V1Secret>();
  /** regcred's writes under way, per key: the watch may report one before its answer arrives. */
  private readonly writes = new Map<string, Promise<unknown>>();
  /** Cached versions whose content is not known yet (see resolve). */
  private readonly stale = new WeakSet<V1Secret>();
  private readonly resolving = new Set<string>();
  private readonly listeners: Array<(type: SecretEvent, obj: V1Secret) => void> = [];
  private readonly api: KubeApi;
  private readonly stopper = new AbortController();

  constructor(
    kc: KubeConfig,
    private readonly log: Logger,
    names: Iterable<string>,
  ) {
    const api = (this.api = new KubeApi(kc));
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
        { log, fieldSelector, accept: METADATA_ONLY, transform: (obj, previous) => this.take(obj, previous) },
      );
      cache.onEvent((type, obj) => this.settle(name, type, obj));
      this.caches.set(name, cache);
    }
  }

  /** Every change the watches report, once its content is known (data digested). */
  onEvent(listener: (type: SecretEvent, obj: V1Secret) => void): void {
    this.listeners.push(listener);
  }

  names(): IterableIterator<string> {
    return this.caches.keys();
  }

  async synced(): Promise<void> {
    await Promise.all([...this.caches.values()].map((c) => c.synced()));
  }

  async stop(): Promise<void> {
    this.stopper.abort();
    await Promise.all([...this.caches.values()].map((c) => c.stop()));
  }

  /** Every Secret of that name the watch holds: metadata at least (content may be pending). */
  list(name: string): readonly V1Secret[] {
    return this.caches.get(name)?.list() ?? [];
  }

  /** The Secret as the watch last saw it: metadata at least (content may be pending). */
  cached(namespace: string, name: string): V1Secret | undefined {
    return this.caches.get(name)?.get(name, namespace);
  }

  /**
   * The newest version whose content is known: the watch's, or our own write's if the watch
   * has not seen it yet. A Secret that appeared under a new UID and has not been read yet
   * counts as absent: a create then meets 409 and reads it.
   */
  current(namespace: string, name: string): V1Secret | undefined {
    const cached = this.caches.get(name)?.get(name, namespace);
    const seen = cached && hasContent(cached) ? cached : undefined;
    const k = key(namespace, name);
    const ours = this.known.get(k);
    if (!ours) return seen;
    if (!cached || newer(ours, cached)) return ours;
    if (!this.stale.has(cached)) this.known.delete(k);
    return seen;
  }

  /**
   * Runs one write of ours to that Secret; `content` is what it leaves there (type and data
   * digests), as its metadata-only answer does not say.
   */
  async write(
    namespace: string,
    name: string,
    content: Content,
    send: () => Promise<V1Secret>,
  ): Promise<V1Secret> {
    const k = key(namespace, name);
    const written = send().then((obj) => this.wrote(obj, content));
    const tracked = written.catch(() => undefined);
    this.writes.set(k, tracked);
    try {
      return await written;
    } finally {
      if (this.writes.get(k) === tracked) this.writes.delete(k);
    }
  }

  /** A Secret as read whole from the API server (e.g. after a 409): its content is known. */
  read(obj: V1Secret): V1Secret {
    return this.remember(compact(obj));
  }

  forget(namespace: string, name: string): void {
    this.known.delete(key(namespace, name));
  }

  private wrote(obj: V1Secret, content: Content): V1Secret {
    compact(obj);
    // An API server that ignored METADATA_ONLY sent the whole object: its own content stands.
    if (!hasContent(obj)) withContent(obj, content);
    return this.remember(obj);
  }

  private remember(obj: V1Secret): V1Secret {
    const k = key(obj.metadata!.namespace!, obj.metadata!.name!);
    const before = this.known.get(k);
    if (!before || !newer(before, obj)) this.known.set(k, obj);
    return obj;
  }

  /** The watch cache's transform: gives a metadata-only event the content it can. */
  private take(obj: V1Secret, previous: V1Secret | undefined): V1Secret {
    compact(obj);
    if (hasContent(obj)) return obj; // whole, from the list
    const known = this.known.get(key(obj.metadata?.namespace ?? "", obj.metadata?.name ?? ""));
    if (known && sameVersion(known, obj)) return withContent(obj, contentOf(known)!);
    // Until it is read, the same Secret (same UID) keeps its last known content: a write
    // compared against it is one the coming drift event corrects; type never changes by UID.
    // (An event repeating the cached version is dropped by the cache after this.)
    const carried =
      previous && previous.metadata?.uid === obj.metadata?.uid ? contentOf(previous) : undefined;
    if (carried) withContent(obj, carried);
    this.stale.add(obj);
    return obj;
  }

  private settle(name: string, type: SecretEvent, obj: V1Secret): void {
    const namespace = obj.metadata?.namespace ?? "";
    const k = key(namespace, name);
    const ours = this.known.get(k);
    if (type === "delete") this.known.delete(k);
    else if (ours && !newer(ours, obj)) this.known.delete(k);
    if (type !== "delete" && this.stale.has(obj)) {
      void this.resolve(name, namespace, type);
      return;
    }
    this.emit(type, obj);
  }

  private emit(type: SecretEvent, obj: V1Secret): void {
    for (const l of this.listeners) l(type, obj);
  }

  /**
   * Finds the content of a stale cached Secret: first from a write of ours under way (its
   * answer may simply be late), else by one read by name, retried with backoff. A newer event
   * meanwhile takes over (it is what gets resolved); a 404 means a delete event is coming.
   */
  private async resolve(name: string, namespace: string, type: SecretEvent): Promise<void> {
    const k = key(namespace, name);
    if (this.resolving.has(k)) return;
    this.resolving.add(k);
    let delay = MIN_DELAY;
    try {
      while (!this.stopper.signal.aborted) {
        await this.writes.get(k);
        const cached = this.cached(namespace, name);
        if (!cached || !this.stale.has(cached)) return;
        const known = this.known.get(k);
        if (known && sameVersion(known, cached)) {
          withContent(cached, contentOf(known)!);
          this.stale.delete(cached);
          this.known.delete(k);
          this.emit(type, cached);
          return;
        }
        // A later write of ours is answered already (the watch is behind both): its event
        // is coming, and that one is resolved from what was written.
        if (known && newer(known, cached)) return;
        // Read only when no write of ours began meanwhile (its answer may be the version).
        if (this.writes.has(k)) continue;
        try {
          const whole = this.read(await this.api.readSecret(namespace, name, this.stopper.signal));
          // Older than the cache is impossible for a quorum read; newer, the event is coming.
          if (newer(whole, cached)) return;
          delay = MIN_DELAY;
        } catch (err) {
          if (this.stopper.signal.aborted) return;
          if (statusOf(err) === 404) return;
          this.log.warn(
            { namespace, secret: name, retryInMs: delay },
            `reading Secret ${k} after a change by someone else failed: ${messageOf(err)}; retrying`,
          );
          await sleep(delay, undefined, { signal: this.stopper.signal }).catch(() => undefined);
          delay = Math.min(delay * 2, MAX_DELAY);
        }
      }
    } finally {
      this.resolving.delete(k);
    }
  }
}

const sameVersion = (a: V1Secret, b: V1Secret) =>
  a.metadata?.uid === b.metadata?.uid && a.metadata?.resourceVersion === b.metadata?.resourceVersion;
