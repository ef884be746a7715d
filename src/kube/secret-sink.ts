import { CoreV1Api, type KubeConfig, type V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Target } from "../config/schema.ts";
import {
  DEFAULT_INSTANCE,
  LABEL_INSTANCE,
  LABEL_MANAGED_BY,
  LABEL_TARGET,
  type DesiredSecret,
  type Plan,
} from "../engine/plan.ts";
import type { Metrics } from "../observe/metrics.ts";
import { secretManifest, type SecretManifest } from "../output/manifest.ts";
import { emptyResult, type Sink, type SinkResult } from "../engine/sink.ts";
import { makeApi, messageOf, statusOf, withRetry } from "./client.ts";
import { RawClient } from "./raw.ts";
import type { ObjectRef } from "./events.ts";
import { listInPages, watchedCache, type WatchedCache } from "./informer.ts";
import { forEachLimit } from "./limit.ts";
import { fenced, fenceDown, requestSignal } from "./fence.ts";
import type { ServiceAccountReconciler, PullSecretWant } from "./serviceaccounts.ts";
import { compact, FIELD_MANAGER, matches, newer } from "./secrets/compare.ts";

export { FIELD_MANAGER };
/** The manager of the create request, which carries only fields no regcred Secret ever loses. */
export const CREATE_MANAGER = "regcred-create";
const PAGE = 250;

/** What the writer reports to; the EventRecorder implements it (tests may pass none). */
export interface EventSink {
  warning(regarding: ObjectRef, reason: string, message: string): void;
  normal(regarding: ObjectRef, reason: string, message: string): void;
}

type Outcome = "created" | "updated" | "unchanged" | "conflict" | "failed" | "skipped";

const key = (namespace: string, name: string) => `${namespace}/${name}`;
const secretPath = (namespace: string, name: string) =>
  `/api/v1/namespaces/${encodeURIComponent(namespace)}/secrets/${encodeURIComponent(name)}`;

export interface KubeSinkOptions {
  kc: KubeConfig;
  log: Logger;
  metrics: Metrics;
  targets: readonly Target[];
  serviceAccounts: ServiceAccountReconciler;
  instance?: string;
  events?: EventSink;
  /** Parallel writes; enough to fill the API server's pipe, few enough not to trip its limits. */
  concurrency?: number;
  /** Namespaces being deleted: nothing of regcred's is removed there (see NamespaceWatcher). */
  namespaces?: { isTerminating(name: string): boolean };
}

/**
 * Makes the cluster hold the plan's Secrets, and nothing else of regcred's.
 *
 * Each target name is watched across all namespaces (a field selector on the name), so the
 * writer sees both its own Secrets and foreign ones that share the name without a GET per
 * namespace. A foreign same-named Secret is left alone unless the target says adopt.
 *
 * Every field regcred sets is owned by its server-side apply, so a label or annotation taken
 * out of the config is removed by the next apply. Server-side apply cannot create without the
 * risk of clobbering: it has no create-only precondition (a `metadata.uid` in an apply body is
 * a precondition on an existing object, but makes the API server refuse to create one, and a
 * look at the watch cache before an apply is a race with whoever creates the same name in
 * between). So a new Secret takes two writes: a POST, which fails with 409 rather than
 * overwrite a Secret someone else created meanwhile, carrying only what no regcred Secret ever
 * drops (type, data, the identity labels) under its own field manager; then at once an apply of
 * the whole object. Every apply names the UID regcred saw, so a Secret deleted and recreated by
 * someone else since is refused (422/409), not taken over.
 */
export class KubeSecretSink implements Sink {
  readonly description = "the Kubernetes API server";
  private readonly core: CoreV1Api;
  /** Writes go through the raw client: see raw.ts for why. */
  private readonly raw: RawClient;
  private readonly caches = new Map<string, WatchedCache<V1Secret>>();
  /** Objects as the API server returned them from our writes, until the watch catches up. */
  private readonly written = new Map<string, V1Secret>();
  private lastDesired = new Map<string, DesiredSecret>();
  private readonly driftListeners: Array<() => void> = [];
  private readonly reportedConflicts = new Set<string>();
  private swept = false;
  private readonly concurrency: number;
  private readonly instance: string;
  private readonly isOurs: (s: V1Secret) => boolean;

  constructor(private readonly options: KubeSinkOptions) {
    this.core = makeApi(options.kc, CoreV1Api);
    this.raw = new RawClient(options.kc);
    this.concurrency = options.concurrency ?? 32;
    const instance = (this.instance = options.instance ?? DEFAULT_INSTANCE);
    this.isOurs = (s) =>
      s.metadata?.labels?.[LABEL_MANAGED_BY] === "regcred" && s.metadata.labels[LABEL_INSTANCE] === instance;
    for (const name of new Set(options.targets.map((t) => t.name))) {
      const cache = watchedCache<V1Secret>(
        options.kc,
        `secrets named ${name}`,
        "/api/v1/secrets",
        () =>
          listInPages((cont) =>
            this.core.listSecretForAllNamespaces({
              fieldSelector: `metadata.name=${name}`,
              limit: PAGE,
              _continue: cont,
            }),
          ),
        { log: options.log, fieldSelector: `metadata.name=${name}` },
      );
      cache.onEvent((type, obj) => this.observe(type, obj));
      this.caches.set(name, cache);
    }
  }

  async synced(): Promise<void> {
    await Promise.all([...this.caches.values()].map((c) => c.synced()));
  }

  /** Called when the cluster drifts from the plan: a Secret deleted or edited, a foreign one gone. */
  onDrift(listener: () => void): void {
    this.driftListeners.push(listener);
  }

  async stop(): Promise<void> {
    await Promise.all([...this.caches.values()].map((c) => c.stop()));
  }

  /** regcred's own Secrets as the watch caches hold them (data digested): where last good is found. */
  managed(): V1Secret[] {
    return [...this.caches.values()].flatMap((c) => c.list().filter(this.isOurs));
  }

  apply(plan: Plan, signal?: AbortSignal): Promise<SinkResult> {
    return fenced(signal, () => this.write(plan));
  }

  private async write(plan: Plan): Promise<SinkResult> {
    const { log, metrics } = this.options;
    const result = emptyResult();
    const desired = new Map(plan.secrets.map((s) => [key(s.namespace, s.name), s]));
    this.lastDesired = desired;
    const conflicts = new Map<string, number>();
    const outOfSync = new Map<string, number>();

    await forEachLimit(plan.secrets, this.concurrency, async (secret) => {
      if (fenceDown()) return;
      const outcome = await this.ensure(secret);
      if (outcome === "conflict") {
        conflicts.set(secret.name, (conflicts.get(secret.name) ?? 0) + 1);
        outOfSync.set(secret.name, (outOfSync.get(secret.name) ?? 0) + 1);
        return;
      }
      if (outcome === "skipped") return;
      if (outcome === "failed") {
        result.failed++;
        outOfSync.set(secret.name, (outOfSync.get(secret.name) ?? 0) + 1);
      } else {
        result[outcome]++;
      }
      metrics.secretWrites.inc({ secret: secret.name, result: outcome });
    });

    for (const target of this.options.targets) {
      metrics.conflicts.set({ secret: target.name }, conflicts.get(target.name) ?? 0);
      metrics.outOfSync.set({ secret: target.name }, outOfSync.get(target.name) ?? 0);
    }

    // Keep what a target without any usable credential wrote last: stale beats missing.
    const keep = new Set(plan.problems.map((p) => p.target));
    requestSignal(); // fenced: no garbage collection or ServiceAccount patch once leadership is gone
    result.deleted += await this.collectGarbage(desired, keep);

    const sa = await this.options.serviceAccounts.reconcile(this.pullSecretWants(plan), keep, this.frozen);
    result.failed += sa.failed;
    if (result.failed > 0) log.warn({ failed: result.failed }, "some writes failed; they are retried");
    return result;
  }

  private readonly frozen = (namespace: string): boolean =>
    this.options.namespaces?.isTerminating(namespace) ?? false;

  /**
   * ServiceAccount entries from the desired state: wherever the plan puts a Secret. How this
   * pass's writes went does not matter (a Secret whose update failed still works); only where
   * no Secret of regcred's is there (a foreign one, or none yet) is an entry kept, not added.
   */
  private pullSecretWants(plan: Plan): PullSecretWant[] {
    return plan.secrets
      .filter((s) => s.body.target.serviceAccounts.length > 0)
      .map((s) => {
        const live = this.current(s.namespace, s.name);
        return {
          namespace: s.namespace,
          secret: s.name,
          serviceAccounts: s.body.target.serviceAccounts,
          ...(live && this.isOurs(live) ? {} : { keepOnly: true }),
        };
      });
  }

  private current(namespace: string, name: string): V1Secret | undefined {
    const cached = this.caches.get(name)?.get(name, namespace);
    const ours = this.written.get(key(namespace, name));
    if (!ours) return cached;
    if (!cached || newer(ours, cached)) return ours;
    this.written.delete(key(namespace, name));
    return cached;
  }

  private async ensure(secret: DesiredSecret): Promise<Outcome> {
    const existing = this.current(secret.namespace, secret.name);
    try {
      if (!existing) return await this.create(secret);
      if (!this.isOurs(existing)) {
        if (!secret.body.target.adopt) return this.conflict(secret, existing);
        this.options.log.info(
          { namespace: secret.namespace, secret: secret.name },
          "adopting existing Secret (adopt: true)",
        );
        await this.serverSideApply(secret, existing);
        return "updated";
      }
      this.reportedConflicts.delete(key(secret.namespace, secret.name));
      if (existing.type !== secret.type) {
        // type is immutable: the one case where regcred deletes and recreates.
        await this.raw.call("DELETE", secretPath(secret.namespace, secret.name), {
          preconditions: { uid: existing.metadata!.uid! },
        });
        this.written.delete(key(secret.namespace, secret.name));
        this.options.log.info(
          { namespace: secret.namespace, secret: secret.name, from: existing.type, to: secret.type },
          `Secret ${secret.namespace}/${secret.name} has type ${existing.type}: deleted to recreate it as ${secret.type}`,
        );
        await this.create(secret);
        return "updated";
      }
      if (matches(existing, secret)) return "unchanged";
      await this.serverSideApply(secret, existing);
      return "updated";
    } catch (err) {
      const status = statusOf(err);
      const message = messageOf(err);
      // A namespace being deleted refuses new content; it is about to vanish from the plan.
      if (
        (status === 403 && /being terminated/.test(message)) ||
        (status === 404 && /namespaces? .*not found/.test(message))
      ) {
        return "skipped";
      }
      // The UID precondition: the Secret was deleted or replaced since regcred saw it.
      const replaced = (status === 422 && /metadata\.uid/.test(message)) || /uid mismatch/.test(message);
      this.options.log.error(
        { namespace: secret.namespace, secret: secret.name, status },
        replaced
          ? `Secret ${secret.namespace}/${secret.name} changed hands since regcred read it: not written, retried`
          : `writing Secret ${secret.namespace}/${secret.name} failed: ${message}`,
      );
      return "failed";
    }
  }

  private async create(secret: DesiredSecret): Promise<Outcome> {
    let created: V1Secret;
    try {
      created = await withRetry(
        `create Secret ${secret.namespace}/${secret.name}`,
        () =>
          this.raw.call<V1Secret>(
            "POST",
            `/api/v1/namespaces/${encodeURIComponent(secret.namespace)}/secrets?fieldManager=${CREATE_MANAGER}`,
            creationManifest(secret),
          ),
        { log: this.options.log },
      );
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
      // Someone created it between our cache and our POST: look before touching it.
      const existing = await this.raw.call<V1Secret>("GET", secretPath(secret.namespace, secret.name));
      if (this.isOurs(existing) || secret.body.target.adopt) {
        await this.serverSideApply(secret, existing);
        return "updated";
      }
      return this.conflict(secret, existing);
    }
    this.written.set(key(secret.namespace, secret.name), compact(created));
    this.options.events?.normal(
      secretRef(secret, created),
      "Created",
      `regcred created pull secret ${secret.name} (registries: ${secret.body.registries.join(", ")})`,
    );
    // Labels and annotations come with the apply, owned by it alone (see the class comment).
    // Should it fail, the Secret already works; the next pass sees it unfinished and applies.
    await this.serverSideApply(secret, created);
    return "created";
  }

  /** Applies the whole Secret over `seen`, and only over it: its UID is the precondition. */
  private async serverSideApply(secret: DesiredSecret, seen: V1Secret): Promise<void> {
    const manifest = secretManifest(secret);
    const body = { ...manifest, metadata: { ...manifest.metadata, uid: seen.metadata!.uid! } };
    const applied = await withRetry(
      `apply Secret ${secret.namespace}/${secret.name}`,
      () =>
        this.raw.call<V1Secret>(
          "PATCH",
          `${secretPath(secret.namespace, secret.name)}?fieldManager=${FIELD_MANAGER}&force=true`,
          body,
          // JSON is YAML: server-side apply takes it as is.
          "application/apply-patch+yaml",
        ),
      { log: this.options.log },
    );
    this.written.set(key(secret.namespace, secret.name), compact(applied));
  }

  private conflict(secret: DesiredSecret, existing: V1Secret): Outcome {
    const k = key(secret.namespace, secret.name);
    if (!this.reportedConflicts.has(k)) {
      this.reportedConflicts.add(k);
      const message = `Secret ${k} exists and was not created by regcred: left untouched (set adopt: true on target ${secret.name} to take it over)`;
      this.options.log.warn({ namespace: secret.namespace, secret: secret.name }, message);
      this.options.events?.warning(secretRef(secret, existing), "Conflict", message);
    }
    return "conflict";
  }

  /** Deletes regcred's own Secrets that no target wants: by label, with the UID as precondition. */
  private async collectGarbage(desired: Map<string, DesiredSecret>, keep: Set<string>): Promise<number> {
    const configured = new Set(this.options.targets.map((t) => t.name));
    const doomed: V1Secret[] = [];
    for (const [name, cache] of this.caches) {
      if (keep.has(name)) continue;
      for (const s of cache.list()) {
        if (
          this.isOurs(s) &&
          !this.frozen(s.metadata!.namespace!) &&
          s.metadata?.labels?.[LABEL_TARGET] === name &&
          !desired.has(key(s.metadata!.namespace!, name))
        ) {
          doomed.push(s);
        }
      }
    }
    if (!this.swept) {
      // Once per start: Secrets of targets that have left the config are not in any cache.
      const all = await withRetry(
        "list regcred's Secrets",
        () =>
          this.core.listSecretForAllNamespaces({
            labelSelector: `${LABEL_MANAGED_BY}=regcred,${LABEL_INSTANCE}=${this.instance}`,
          }),
        { log: this.options.log },
      );
      for (const s of all.items) {
        const target = s.metadata?.labels?.[LABEL_TARGET];
        if (target && !configured.has(target) && !this.frozen(s.metadata!.namespace!)) doomed.push(s);
      }
      this.swept = true;
    }
    let deleted = 0;
    await forEachLimit(doomed, this.concurrency, async (s) => {
      if (fenceDown()) return;
      const { name, namespace, uid } = s.metadata!;
      try {
        await this.raw.call("DELETE", secretPath(namespace!, name!), { preconditions: { uid: uid! } });
        this.written.delete(key(namespace!, name!));
        deleted++;
        this.options.metrics.secretWrites.inc({ secret: name!, result: "deleted" });
        this.options.log.info(
          { namespace, secret: name },
          `deleted Secret ${namespace}/${name}: no target wants it`,
        );
      } catch (err) {
        if (statusOf(err) !== 404 && statusOf(err) !== 409) {
          this.options.log.error(
            { namespace, secret: name },
            `deleting Secret ${namespace}/${name} failed: ${messageOf(err)}`,
          );
        }
      }
    });
    return deleted;
  }

  /** Watch events: anything that leaves a namespace out of step with the plan is drift. */
  private observe(type: "add" | "update" | "delete", obj: V1Secret): void {
    compact(obj);
    const k = key(obj.metadata?.namespace ?? "", obj.metadata?.name ?? "");
    const ours = this.written.get(k);
    if (ours && type !== "delete" && !newer(ours, obj)) this.written.delete(k);
    const want = this.lastDesired.get(k);
    let drift: boolean;
    if (type === "delete") {
      this.written.delete(k);
      drift = want !== undefined;
    } else if (!want) {
      drift = this.isOurs(obj); // ours but unwanted: garbage to collect
    } else {
      drift = !this.isOurs(obj) ? want.body.target.adopt : !matches(obj, want);
    }
    if (drift) this.driftListeners.forEach((l) => l());
  }
}

/** The Event's subject: the Secret as the API server returned it. */
function secretRef(secret: DesiredSecret, live: V1Secret): ObjectRef {
  return {
    kind: "Secret",
    apiVersion: "v1",
    namespace: secret.namespace,
    name: secret.name,
    uid: live.metadata?.uid,
  };
}

/**
 * What the create request carries: only what every regcred Secret keeps for its whole life
 * (type, data, the identity labels), so the create's field manager never holds on to a field
 * regcred may later drop. The apply right after adds the rest and owns all of it.
 */
function creationManifest(secret: DesiredSecret): SecretManifest {
  const manifest = secretManifest(secret);
  const labels: Record<string, string> = {};
  for (const k of [LABEL_MANAGED_BY, LABEL_INSTANCE, LABEL_TARGET]) {
    const v = manifest.metadata.labels[k];
    if (v !== undefined) labels[k] = v;
  }
  return { ...manifest, metadata: { ...manifest.metadata, labels, annotations: {} } };
}
