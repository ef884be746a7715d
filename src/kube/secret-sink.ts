import type { KubeConfig, V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Target } from "../config/schema.ts";
import { DEFAULT_INSTANCE, type DesiredSecret, type Plan } from "../engine/plan.ts";
import type { Metrics } from "../observe/metrics.ts";
import { emptyResult, type Sink, type SinkResult } from "../engine/sink.ts";
import { messageOf, statusOf } from "./client.ts";
import type { ObjectRef } from "./events.ts";
import { forEachLimit } from "./limit.ts";
import { fenced, fenceDown, requestSignal } from "./fence.ts";
import type { ServiceAccountReconciler, PullSecretWant } from "./serviceaccounts.ts";
import { FIELD_MANAGER, matches, ownedBy } from "./secrets/compare.ts";
import { DriftDetector } from "./secrets/drift.ts";
import { GarbageCollector } from "./secrets/gc.ts";
import { key } from "./secrets/paths.ts";
import { SecretStore } from "./secrets/store.ts";
import { CREATE_MANAGER, SecretWriter } from "./secrets/writer.ts";

export { CREATE_MANAGER, FIELD_MANAGER };

/** What the writer reports to; the EventRecorder implements it (tests may pass none). */
export interface EventSink {
  warning(regarding: ObjectRef, reason: string, message: string): void;
  normal(regarding: ObjectRef, reason: string, message: string): void;
}

type Outcome = "created" | "updated" | "unchanged" | "conflict" | "failed" | "skipped";

export interface KubeSinkOptions {
  kc: KubeConfig;
  log: Logger;
  metrics: Metrics;
  targets: readonly Target[];
  /** Names of targets taken out of the config (kubernetes.retiredSecrets): collected. */
  retired?: readonly string[];
  serviceAccounts: ServiceAccountReconciler;
  instance?: string;
  events?: EventSink;
  /** Parallel writes; enough to fill the API server's pipe, few enough not to trip its limits. */
  concurrency?: number;
  /** Namespaces being deleted: nothing of regcred's is removed there (see NamespaceWatcher). */
  namespaces?: { isTerminating(name: string): boolean };
}

/**
 * Makes the cluster hold the plan's Secrets, and nothing else of regcred's. The pieces, each
 * in src/kube/secrets/: the store (what exists, from one watch per target name: regcred sees
 * its own Secrets and foreign same-named ones without a GET per namespace), comparison (is a
 * live Secret what regcred would write), the writer (create, apply, delete, each with its
 * precondition), the garbage collector and the drift detector. Here: the pass, and what to do
 * with each desired Secret. A foreign same-named Secret is left alone unless the target says
 * adopt.
 */
export class KubeSecretSink implements Sink {
  readonly description = "the Kubernetes API server";
  private readonly store: SecretStore;
  private readonly writer: SecretWriter;
  private readonly drift: DriftDetector;
  private readonly gc: GarbageCollector;
  private readonly reportedConflicts = new Set<string>();
  private readonly outOfStep = new OutOfStep();
  private readonly concurrency: number;
  private readonly isOurs: (s: V1Secret) => boolean;

  constructor(private readonly options: KubeSinkOptions) {
    this.concurrency = options.concurrency ?? 32;
    const instance = options.instance ?? DEFAULT_INSTANCE;
    this.isOurs = ownedBy(instance);
    // Retired names are watched too: their Secrets of regcred's are garbage (see GarbageCollector).
    this.store = new SecretStore(options.kc, options.log, [
      ...options.targets.map((t) => t.name),
      ...(options.retired ?? []),
    ]);
    this.writer = new SecretWriter(options.kc, options.log, this.store);
    this.drift = new DriftDetector(this.isOurs);
    this.store.onEvent((type, obj) => this.drift.observe(type, obj));
    this.gc = new GarbageCollector(
      {
        log: options.log,
        metrics: options.metrics,
        concurrency: this.concurrency,
        isOurs: this.isOurs,
        frozen: this.frozen,
      },
      this.store,
      this.writer,
    );
  }

  synced(): Promise<void> {
    return this.store.synced();
  }

  /**
   * Called when the cluster drifts from the plan (a Secret deleted or edited, a foreign one
   * gone), with the namespace where it did.
   */
  onDrift(listener: (namespace: string) => void): void {
    this.drift.onDrift(listener);
  }

  stop(): Promise<void> {
    return this.store.stop();
  }

  /** regcred's own Secrets as the watch caches hold them (data digested): where last good is found. */
  managed(): V1Secret[] {
    return [...this.store.names()].flatMap((name) => this.store.list(name).filter(this.isOurs));
  }

  /** Takes a scope (see Sink.apply): a namespace's pass costs that namespace's targets only. */
  readonly scoped = true;

  apply(plan: Plan, signal?: AbortSignal, scope?: ReadonlySet<string>): Promise<SinkResult> {
    return fenced(signal, () => this.write(plan, scope));
  }

  private async write(plan: Plan, scope?: ReadonlySet<string>): Promise<SinkResult> {
    const { log, metrics } = this.options;
    const result = emptyResult();
    this.drift.want(plan.secrets, scope ? { namespaces: scope, names: this.store.names() } : undefined);
    this.outOfStep.forget(scope);

    await forEachLimit(plan.secrets, this.concurrency, async (secret) => {
      if (fenceDown()) return;
      const outcome = await this.ensure(secret);
      if (outcome === "conflict") {
        this.outOfStep.add(secret, true);
        return;
      }
      if (outcome === "skipped") return;
      if (outcome === "failed") {
        result.failed++;
        this.outOfStep.add(secret, false);
      } else {
        result[outcome]++;
      }
      metrics.secretWrites.inc({ secret: secret.name, result: outcome });
    });
    this.outOfStep.publish(metrics, this.options.targets);

    // Keep what a target without any usable credential wrote last: stale beats missing.
    const keep = new Set(plan.problems.map((p) => p.target));
    requestSignal(); // fenced: no garbage collection or ServiceAccount patch once leadership is gone
    result.deleted += await this.gc.collect((ns, name) => this.drift.wanted(ns, name), keep, scope);

    const sa = await this.options.serviceAccounts.reconcile(
      this.pullSecretWants(plan),
      keep,
      this.frozen,
      scope,
    );
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
        const live = this.store.current(s.namespace, s.name);
        return {
          namespace: s.namespace,
          secret: s.name,
          serviceAccounts: s.body.target.serviceAccounts,
          ...(live && this.isOurs(live) ? {} : { keepOnly: true }),
        };
      });
  }

  /** Makes one desired Secret so: create, adopt, recreate, apply, or leave it. */
  private async ensure(secret: DesiredSecret): Promise<Outcome> {
    const existing = this.store.current(secret.namespace, secret.name);
    try {
      if (!existing) return await this.create(secret);
      if (!this.isOurs(existing)) {
        if (!secret.body.target.adopt) return this.conflict(secret, existing);
        this.options.log.info(
          { namespace: secret.namespace, secret: secret.name },
          "adopting existing Secret (adopt: true)",
        );
        await this.writer.apply(secret, existing);
        return "updated";
      }
      this.reportedConflicts.delete(key(secret.namespace, secret.name));
      if (existing.type !== secret.type) {
        // type is immutable: the one case where regcred deletes and recreates.
        await this.writer.remove(secret.namespace, secret.name, existing.metadata!.uid!);
        this.options.log.info(
          { namespace: secret.namespace, secret: secret.name, from: existing.type, to: secret.type },
          `Secret ${secret.namespace}/${secret.name} has type ${existing.type}: deleted to recreate it as ${secret.type}`,
        );
        await this.create(secret);
        return "updated";
      }
      if (matches(existing, secret)) return "unchanged";
      await this.writer.apply(secret, existing);
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
      created = await this.writer.create(secret);
    } catch (err) {
      if (statusOf(err) !== 409) throw err;
      // Someone created it between our cache and our POST: look before touching it.
      const existing = await this.writer.read(secret.namespace, secret.name);
      if (this.isOurs(existing) || secret.body.target.adopt) {
        await this.writer.apply(secret, existing);
        return "updated";
      }
      return this.conflict(secret, existing);
    }
    this.options.events?.normal(
      secretRef(secret, created),
      "Created",
      `regcred created pull secret ${secret.name} (registries: ${secret.body.registries.join(", ")})`,
    );
    // Labels and annotations come with the apply, owned by it alone (see SecretWriter).
    // Should it fail, the Secret already works; the next pass sees it unfinished and applies.
    await this.writer.apply(secret, created);
    return "created";
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
 * Which desired Secrets are not as planned (conflicts among them), per target: kept across
 * passes, so a namespace's pass updates its own part and the gauges stay the cluster's.
 */
class OutOfStep {
  private readonly conflicts = new Map<string, Set<string>>();
  private readonly failing = new Map<string, Set<string>>();

  /** Starts a pass: everything (no scope) or those namespaces' entries are forgotten. */
  forget(scope?: ReadonlySet<string>): void {
    for (const table of [this.conflicts, this.failing]) {
      if (!scope) table.clear();
      else for (const set of table.values()) for (const ns of scope) set.delete(ns);
    }
  }

  add(secret: DesiredSecret, conflict: boolean): void {
    const table = conflict ? this.conflicts : this.failing;
    let set = table.get(secret.name);
    if (!set) table.set(secret.name, (set = new Set()));
    set.add(secret.namespace);
  }

  publish(metrics: Metrics, targets: readonly Target[]): void {
    for (const { name } of targets) {
      const conflicts = this.conflicts.get(name)?.size ?? 0;
      metrics.conflicts.set({ secret: name }, conflicts);
      metrics.outOfSync.set({ secret: name }, conflicts + (this.failing.get(name)?.size ?? 0));
    }
  }
}
