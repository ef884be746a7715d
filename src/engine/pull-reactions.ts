/**
 * What regcred does about one of kubelet's pull failures: refresh the registry that refused a
 * Pod's credential (once per registry per window, not once per Pod), re-apply a missing Secret,
 * and, with healing on, delete a Pod that can never pull because it was created before regcred
 * wired its ServiceAccount. Everything outside the selection or on an unmanaged registry is left
 * alone. Kubernetes is behind ports (src/kube/pull-events.ts implements them).
 */
import type { Logger } from "pino";
import type { Target } from "../config/schema.ts";
import type { HealingConfig } from "../config/pull-failures.ts";
import type { Metrics } from "../observe/metrics.ts";
import { formatDuration } from "../base/duration.ts";
import { namespaceMatcher, type Namespace } from "./plan.ts";
import { classifyPodEvent, registriesForImage } from "./pull-failure.ts";

/** One kubelet Event about a Pod. */
export interface PullSignal {
  namespace: string;
  pod: string;
  uid?: string;
  type?: string;
  reason?: string;
  message?: string;
}

export interface PodView {
  uid: string;
  serviceAccount: string;
  pullSecrets: string[];
  /** The ownerReference with controller: true, if any. */
  controller: { kind: string; name: string } | null;
  deleting: boolean;
}

export interface PodRef {
  namespace: string;
  name: string;
  uid: string;
}

export interface PullReactionPorts {
  /** The namespaces regcred writes into may be selected from (not terminating). */
  namespaces(): readonly Namespace[];
  /** Per managed registry, the dockerconfig keys its credential is written under. */
  keysByRegistry(): ReadonlyMap<string, readonly string[]>;
  /** Mint now and re-apply; resolves with what happened, for the Pod's Event. */
  refresh(registry: string, why: string): Promise<{ ok: boolean; detail: string }>;
  /** A reconcile pass: re-creates missing Secrets and ServiceAccount entries. */
  reconcile(): void;
  readPod(namespace: string, name: string): Promise<PodView | null>;
  serviceAccountSecrets(namespace: string, name: string): Promise<string[] | null>;
  /** Delete with the UID as precondition: false when that Pod is gone already. */
  deletePod(pod: PodRef): Promise<boolean>;
  event(pod: PodRef, type: "Normal" | "Warning", reason: string, message: string): void;
}

export interface PullReactorOptions {
  targets: readonly Target[];
  ports: PullReactionPorts;
  log: Logger;
  metrics: Metrics;
  /** At most one refresh per registry in this window. */
  minIntervalMs: number;
  healing: HealingConfig;
  /** Leadership: once aborted, nothing more is done. */
  signal?: AbortSignal;
  now?: () => number;
}

/** A missing Secret is re-applied at most this often per namespace (a pass is cluster-wide). */
const RECONCILE_INTERVAL_MS = 10_000;

export type Reaction =
  "ignored" | "refreshed" | "rate-limited" | "reconciled" | "healed" | "stuck" | "not-wired";

export class PullReactor {
  private readonly lastRefresh = new Map<string, number>();
  private readonly lastReconcile = new Map<string, number>();
  private readonly healed = new Set<string>();
  private readonly matchers: Array<{ target: Target; matches: (ns: Namespace) => boolean }>;
  private readonly now: () => number;
  private tokens: number;
  private refilledAt: number;

  constructor(private readonly opts: PullReactorOptions) {
    this.matchers = opts.targets.map((target) => ({ target, matches: namespaceMatcher(target) }));
    this.now = opts.now ?? Date.now;
    this.tokens = opts.healing.maxPerMinute;
    this.refilledAt = this.now();
  }

  private get fenced(): boolean {
    return this.opts.signal?.aborted === true;
  }

  /** The targets that write into this namespace; none outside the selection. */
  private targetsIn(namespace: string): Target[] {
    const ns = this.opts.ports.namespaces().find((n) => n.name === namespace);
    return ns ? this.matchers.filter((m) => m.matches(ns)).map((m) => m.target) : [];
  }

  async react(signal: PullSignal): Promise<Reaction> {
    if (this.fenced) return "ignored";
    const failure = classifyPodEvent(signal);
    if (!failure) return "ignored";
    const targets = this.targetsIn(signal.namespace);
    if (targets.length === 0) return "ignored";
    if (failure.kind === "missing-secrets") {
      const ours = targets.filter((t) => failure.secrets.includes(t.name));
      if (ours.length === 0) return "ignored";
      for (const registry of new Set(ours.flatMap((t) => t.registries)))
        this.opts.metrics.pullFailures.inc({ registry, reason: "missing_secret" });
      return this.reconcile(
        signal,
        ours.map((t) => t.name),
      );
    }
    // Only registries written into this namespace: a refresh of any other would not reach the Pod.
    const here = new Set(targets.flatMap((t) => t.registries));
    const keys = new Map([...this.opts.ports.keysByRegistry()].filter(([r]) => here.has(r)));
    const registries = registriesForImage(keys, failure.image);
    if (registries.length === 0) return "ignored";
    const reason = failure.status === 401 ? "unauthorized" : failure.status === 403 ? "denied" : "auth";
    for (const registry of registries) this.opts.metrics.pullFailures.inc({ registry, reason });

    const pod = await this.opts.ports.readPod(signal.namespace, signal.pod);
    // Gone, replaced by a namesake (the Event is about an older Pod), or on its way out.
    if (!pod || (signal.uid && pod.uid !== signal.uid) || pod.deleting || this.fenced) return "ignored";
    const ref: PodRef = { namespace: signal.namespace, name: signal.pod, uid: pod.uid };
    const registry = registries[0]!;
    // The Secrets regcred writes here that carry that registry's credential.
    const carriers = targets.filter((t) => t.registries.includes(registry)).map((t) => t.name);
    if (carriers.some((s) => pod.pullSecrets.includes(s))) {
      return this.refresh(registry, ref, failure.image);
    }
    return this.stuck(registry, ref, pod, carriers, failure.image);
  }

  private async refresh(registry: string, ref: PodRef, image: string): Promise<Reaction> {
    const now = this.now();
    const last = this.lastRefresh.get(registry);
    if (last !== undefined && now - last < this.opts.minIntervalMs) {
      this.opts.ports.event(
        ref,
        "Normal",
        "PullCredentialRefreshed",
        `kubelet was refused pulling ${image} with registry ${registry}'s credential: regcred refreshed ${registry} ${Math.round((now - last) / 1000)}s ago (at most once per ${formatDuration(this.opts.minIntervalMs)})`,
      );
      return "rate-limited";
    }
    this.lastRefresh.set(registry, now);
    this.opts.metrics.pullFailureRefreshes.inc({ registry });
    this.opts.log.warn(
      { registry, namespace: ref.namespace, pod: ref.name, image },
      `kubelet was refused pulling ${image} with ${registry}'s credential: refreshing ${registry} now`,
    );
    const outcome = await this.opts.ports.refresh(registry, "pull failure");
    if (this.fenced) return "refreshed";
    this.opts.ports.event(
      ref,
      outcome.ok ? "Normal" : "Warning",
      "PullCredentialRefreshed",
      `kubelet was refused pulling ${image} with registry ${registry}'s credential: regcred refreshed ${registry}: ${outcome.detail}`,
    );
    return "refreshed";
  }

  private reconcile(signal: PullSignal, secrets: string[]): Reaction {
    const now = this.now();
    const last = this.lastReconcile.get(signal.namespace);
    if (last !== undefined && now - last < RECONCILE_INTERVAL_MS) return "rate-limited";
    this.lastReconcile.set(signal.namespace, now);
    this.opts.log.warn(
      { namespace: signal.namespace, pod: signal.pod, secrets },
      `kubelet found no pull Secret ${secrets.join(", ")} in ${signal.namespace}: re-applying`,
    );
    this.opts.ports.reconcile();
    if (signal.uid) {
      this.opts.ports.event(
        { namespace: signal.namespace, name: signal.pod, uid: signal.uid },
        "Normal",
        "PullSecretReapplied",
        `kubelet found no Secret ${secrets.join(", ")}: regcred re-applied its Secrets in ${signal.namespace}`,
      );
    }
    return "reconciled";
  }

  /** The Pod carries none of regcred's Secrets for the registry: a refresh cannot help it. */
  private async stuck(
    registry: string,
    ref: PodRef,
    pod: PodView,
    carriers: string[],
    image: string,
  ): Promise<Reaction> {
    const heal = (result: string) => this.opts.metrics.podHeals.inc({ registry, result });
    if (pod.pullSecrets.length > 0) {
      // ServiceAccount admission fills in a Pod's list only when it names none: a recreated Pod
      // would get the same list again, so deleting it cannot help.
      heal("own_pull_secrets");
      this.opts.ports.event(
        ref,
        "Warning",
        "PodLacksPullSecret",
        `Pod lists its own imagePullSecrets (${pod.pullSecrets.join(", ")}) without regcred's ${carriers.join(" or ")} for ${image}: add it to the Pod's template`,
      );
      return "stuck";
    }
    const wired = (await this.opts.ports.serviceAccountSecrets(ref.namespace, pod.serviceAccount)) ?? [];
    const secret = carriers.find((s) => wired.includes(s));
    if (!secret) {
      // Its ServiceAccount is not (yet) wired: a pass adds the entry if a target asks for it.
      this.reconcile({ namespace: ref.namespace, pod: ref.name }, carriers);
      return "not-wired";
    }
    if (this.fenced || this.healed.has(pod.uid)) return "stuck";
    const why = `Pod was created before regcred added Secret ${secret} to ServiceAccount ${pod.serviceAccount}, so it has no pull Secret for ${image}`;
    if (!this.opts.healing.enabled) {
      heal("disabled");
      this.opts.ports.event(
        ref,
        "Warning",
        "PodLacksPullSecret",
        `${why}: recreate the Pod (or turn healing on)`,
      );
      return "stuck";
    }
    if (!pod.controller) {
      heal("no_controller");
      this.opts.ports.event(
        ref,
        "Warning",
        "PodLacksPullSecret",
        `${why}; it has no controller to recreate it: recreate it by hand`,
      );
      return "stuck";
    }
    if (!this.takeToken()) {
      heal("rate_limited");
      return "stuck";
    }
    this.healed.add(pod.uid);
    this.opts.ports.event(
      ref,
      "Normal",
      "PodRecreatedForPullSecret",
      `${why}: regcred deleted it so that ${pod.controller.kind} ${pod.controller.name} recreates it with the ServiceAccount's pull Secrets`,
    );
    const deleted = await this.opts.ports.deletePod(ref);
    if (deleted) heal("deleted");
    this.opts.log.warn(
      { registry, namespace: ref.namespace, pod: ref.name, controller: pod.controller },
      `healing: ${deleted ? "deleted" : "already gone:"} Pod ${ref.namespace}/${ref.name} (${why})`,
    );
    return "healed";
  }

  /** healing.maxPerMinute as a bucket: that many at once, then a steady rate. */
  private takeToken(): boolean {
    const now = this.now();
    const per = this.opts.healing.maxPerMinute;
    this.tokens = Math.min(per, this.tokens + ((now - this.refilledAt) / 60_000) * per);
    this.refilledAt = now;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
