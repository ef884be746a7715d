import {
  CoordinationV1Api,
  V1MicroTime,
  type KubeConfig,
  type V1Lease,
  type V1LeaseSpec,
} from "@kubernetes/client-node";
import type { Logger } from "pino";
import { makeApi, messageOf, statusOf } from "./client.ts";

export interface LeaderElectionOptions {
  kc: KubeConfig;
  namespace: string;
  name: string;
  /** Unique per process (pod name + random suffix): two processes with one identity would both lead. */
  identity: string;
  /** How long followers wait after last seeing the Lease change before taking it. Default 15 s. */
  leaseDurationMs?: number;
  /** The leader steps down when it has not renewed for this long. Default 10 s; must be < leaseDuration. */
  renewDeadlineMs?: number;
  /** Interval between attempts (renewals, and acquisition attempts with jitter). Default 2 s. */
  retryPeriodMs?: number;
  log: Logger;
  onStartedLeading(): void;
  /** Must stop writing at once: the lease may pass to another replica after leaseDuration. */
  onStoppedLeading(): void;
  onLeaderChange?(leader: boolean): void;
}

// As client-go: followers spread their attempts over retryPeriod * (1 + [0, 1.2)).
const JITTER = 1.2;

type Attempt = "held" | "other" | "failed";

/**
 * Leader election on a coordination.k8s.io/v1 Lease with client-go's semantics: acquire a Lease
 * that is absent, released (no holder), expired or already ours; every write carries the
 * resourceVersion it was based on (409 = lost a race). Expiry is judged, as in client-go, from
 * the local time at which this process last saw the Lease record change, not from the
 * renewTime written by another machine, so clock skew between replicas cannot make a follower
 * take a live lease.
 *
 * After stepping down (renew deadline missed, lease taken) the elector keeps contending, so
 * onStartedLeading/onStoppedLeading can alternate several times over a process's life.
 */
export class LeaderElector {
  private readonly api: CoordinationV1Api;
  private readonly opts: LeaderElectionOptions;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly durationSeconds: number;

  private running = false;
  private leader = false;
  /** The Lease as last read or written (its resourceVersion guards the next write). */
  private lease: V1Lease | undefined;
  private observedKey = "";
  private observedAt = 0;
  private loopTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private cycle: Promise<void> | undefined;

  constructor(opts: LeaderElectionOptions) {
    this.opts = opts;
    this.leaseMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryMs = opts.retryPeriodMs ?? 2_000;
    if (!(this.leaseMs > this.renewDeadlineMs))
      throw new Error("leaseDurationMs must be greater than renewDeadlineMs");
    if (!(this.renewDeadlineMs > JITTER * this.retryMs)) {
      throw new Error(`renewDeadlineMs must be greater than ${JITTER} x retryPeriodMs`);
    }
    if (!opts.identity) throw new Error("identity must not be empty");
    // Rounded up: followers then wait at least leaseDurationMs, never less.
    this.durationSeconds = Math.ceil(this.leaseMs / 1000);
    // Each request may take at most half the renew deadline, so a leader behind a black-holed
    // connection still gets a second attempt before it must step down.
    this.api = makeApi(opts.kc, CoordinationV1Api, Math.max(this.retryMs, this.renewDeadlineMs / 2));
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.opts.log.info(
      { lease: this.describe(), identity: this.opts.identity },
      "leader election: contending",
    );
    this.schedule(0);
  }

  isLeader(): boolean {
    return this.leader;
  }

  /**
   * Stops contending. A leader steps down first (onStoppedLeading), then, unless
   * `release: false`, hands the Lease back (no holder) so a follower takes over on its next
   * attempt instead of waiting for expiry. `release: false` leaves the Lease as a crashed
   * process would.
   */
  async stop(opts: { release?: boolean } = {}): Promise<void> {
    if (!this.running) return;
    this.running = false;
    clearTimeout(this.loopTimer);
    this.loopTimer = undefined;
    // An attempt in flight is bounded by the request timeout; let it finish so the Lease we
    // release is the one the server has.
    await this.cycle;
    this.stepDown("stopping");
    if (opts.release !== false) await this.release();
  }

  private describe(): string {
    return `${this.opts.namespace}/${this.opts.name}`;
  }

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.loopTimer = setTimeout(() => {
      this.cycle = this.tick().finally(() => (this.cycle = undefined));
    }, delayMs);
  }

  private async tick(): Promise<void> {
    const started = performance.now();
    const result = await this.tryAcquireOrRenew();
    if (!this.running) return;
    if (result === "held") {
      if (!this.leader) {
        this.leader = true;
        this.opts.log.info(
          { lease: this.describe(), identity: this.opts.identity },
          "leader election: acquired lease",
        );
        this.callback(() => this.opts.onStartedLeading());
        this.callback(() => this.opts.onLeaderChange?.(true));
      }
      this.opts.log.trace({ lease: this.describe() }, "leader election: renewed");
      this.armDeadline(started);
    } else if (this.leader && result === "other") {
      this.stepDown(`lease taken by ${this.lease?.spec?.holderIdentity ?? "another holder"}`);
    }
    // A failed renewal retries every retryPeriod until the deadline timer decides.
    this.schedule(this.leader ? this.retryMs : this.retryMs * (1 + Math.random() * JITTER));
  }

  /**
   * Renewed at `renewedAt` (when the successful request began: the server's renewTime is no
   * earlier). The leader must be gone before any follower can consider the lease expired,
   * which is at least leaseDuration after that; renewDeadline < leaseDuration is the margin.
   */
  private armDeadline(renewedAt: number): void {
    clearTimeout(this.deadlineTimer);
    const wait = Math.max(0, renewedAt + this.renewDeadlineMs - performance.now());
    this.deadlineTimer = setTimeout(
      () => this.stepDown(`could not renew within ${this.renewDeadlineMs} ms`),
      wait,
    );
  }

  private stepDown(why: string): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    if (!this.leader) return;
    this.leader = false;
    this.opts.log.warn(
      { lease: this.describe(), identity: this.opts.identity },
      `leader election: stepped down: ${why}`,
    );
    this.callback(() => this.opts.onStoppedLeading());
    this.callback(() => this.opts.onLeaderChange?.(false));
  }

  private callback(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.opts.log.error({ err }, "leader election: callback failed");
    }
  }

  private async tryAcquireOrRenew(): Promise<Attempt> {
    const { namespace, name, identity, log } = this.opts;
    const now = new V1MicroTime();
    // Fast path: the leader renews the Lease it last wrote, guarded by its resourceVersion.
    if (this.leader && this.lease && this.validNow()) {
      try {
        const body = withSpec(this.lease, { ...this.lease.spec, renewTime: now });
        this.observe(await this.api.replaceNamespacedLease({ namespace, name, body }));
        return "held";
      } catch (err) {
        log.debug(
          { lease: this.describe(), status: statusOf(err) },
          `leader election: renew failed: ${messageOf(err)}`,
        );
        if (statusOf(err) !== 409) return "failed";
        // 409: someone wrote the Lease; read it and decide below.
      }
    }

    let current: V1Lease;
    try {
      current = await this.api.readNamespacedLease({ namespace, name });
    } catch (err) {
      if (statusOf(err) !== 404) {
        log.debug(
          { lease: this.describe(), status: statusOf(err) },
          `leader election: read failed: ${messageOf(err)}`,
        );
        return "failed";
      }
      return this.create(now);
    }
    this.observe(current);
    const spec = current.spec ?? {};
    const holder = spec.holderIdentity ?? "";
    const ours = holder === identity;
    if (holder && !ours && this.validNow()) return "other";

    const body = withSpec(current, {
      ...spec,
      holderIdentity: identity,
      leaseDurationSeconds: this.durationSeconds,
      renewTime: now,
      acquireTime: ours && spec.acquireTime ? spec.acquireTime : now,
      leaseTransitions: (spec.leaseTransitions ?? 0) + (ours ? 0 : 1),
    });
    try {
      this.observe(await this.api.replaceNamespacedLease({ namespace, name, body }));
      return "held";
    } catch (err) {
      log.debug(
        { lease: this.describe(), status: statusOf(err) },
        `leader election: acquire failed: ${messageOf(err)}`,
      );
      return statusOf(err) === 409 ? "other" : "failed";
    }
  }

  private async create(now: V1MicroTime): Promise<Attempt> {
    const { namespace, name, identity, log } = this.opts;
    try {
      const created = await this.api.createNamespacedLease({
        namespace,
        body: {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name, namespace },
          spec: {
            holderIdentity: identity,
            leaseDurationSeconds: this.durationSeconds,
            acquireTime: now,
            renewTime: now,
            leaseTransitions: 0,
          },
        },
      });
      this.observe(created);
      return "held";
    } catch (err) {
      log.debug(
        { lease: this.describe(), status: statusOf(err) },
        `leader election: create failed: ${messageOf(err)}`,
      );
      // 409 AlreadyExists: another replica created it first.
      return statusOf(err) === 409 ? "other" : "failed";
    }
  }

  /** Hands the Lease back (as client-go: no holder, 1 s duration), if the server still shows it as ours. */
  private async release(): Promise<void> {
    const lease = this.lease;
    if (!lease || lease.spec?.holderIdentity !== this.opts.identity) return;
    const now = new V1MicroTime();
    const body = withSpec(lease, {
      ...lease.spec,
      holderIdentity: "",
      leaseDurationSeconds: 1,
      acquireTime: now,
      renewTime: now,
    });
    try {
      this.observe(
        await this.api.replaceNamespacedLease({ namespace: this.opts.namespace, name: this.opts.name, body }),
      );
      this.opts.log.info({ lease: this.describe() }, "leader election: released lease");
    } catch (err) {
      // 409: it changed hands already; otherwise it simply expires.
      this.opts.log.warn(
        { lease: this.describe(), status: statusOf(err) },
        `leader election: release failed: ${messageOf(err)}`,
      );
    }
  }

  /** Records the Lease and, when its record differs from the last one seen, the local time of that change. */
  private observe(lease: V1Lease): void {
    this.lease = lease;
    const s = lease.spec ?? {};
    const key = JSON.stringify([
      s.holderIdentity,
      s.leaseDurationSeconds,
      s.renewTime,
      s.acquireTime,
      s.leaseTransitions,
    ]);
    if (key !== this.observedKey) {
      this.observedKey = key;
      this.observedAt = performance.now();
    }
  }

  private validNow(): boolean {
    const seconds = this.lease?.spec?.leaseDurationSeconds ?? 0;
    return this.observedAt + seconds * 1000 > performance.now();
  }
}

function withSpec(lease: V1Lease, spec: V1LeaseSpec): V1Lease {
  return { apiVersion: "coordination.k8s.io/v1", kind: "Lease", metadata: lease.metadata, spec };
}
