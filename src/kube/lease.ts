import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { messageOf, statusOf } from "./client.ts";
import { LeaseLock, LockConflict, type LeaseRecord, type Lock, type Versioned } from "./lease-lock.ts";

export interface ElectorOptions {
  lock: Lock;
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
  /** Monotonic milliseconds (default performance.now): deadlines and expiry are judged on it. */
  now?: () => number;
  /** Wall-clock time written into the Lease (default new Date()). */
  wallClock?: () => Date;
  random?: () => number;
}

/** A Lease in the API server, for the elector. */
export interface LeaderElectionOptions extends Omit<ElectorOptions, "lock"> {
  kc: KubeConfig;
  namespace: string;
  name: string;
}

// As client-go: followers spread their attempts over retryPeriod * (1 + [0, 1.2)).
const JITTER = 1.2;

type Attempt = "held" | "other" | "failed";

/** An elector on a Lease in the API server. Each request may take at most half the renew deadline. */
export function leaseElector(opts: LeaderElectionOptions): LeaderElector {
  const { kc, namespace, name, ...rest } = opts;
  const timeout = Math.max(opts.retryPeriodMs ?? 2_000, (opts.renewDeadlineMs ?? 10_000) / 2);
  return new LeaderElector({ ...rest, lock: new LeaseLock(kc, namespace, name, timeout) });
}

/**
 * Leader election with client-go's semantics over any Lock: acquire a lock that is absent,
 * released (no holder), expired or already ours; every write is guarded by the version it was
 * based on (LockConflict = lost a race). Expiry is judged, as in client-go, from the local
 * time at which this process last saw the record change, not from the renewTime written by
 * another machine, so clock skew between replicas cannot make a follower take a live lease.
 *
 * After stepping down (renew deadline missed, lease taken) the elector keeps contending, so
 * onStartedLeading/onStoppedLeading can alternate several times over a process's life.
 */
export class LeaderElector {
  private readonly opts: ElectorOptions;
  private readonly lock: Lock;
  private readonly leaseMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryMs: number;
  private readonly durationSeconds: number;
  private readonly now: () => number;
  private readonly wallClock: () => Date;
  private readonly random: () => number;

  private running = false;
  private leader = false;
  /** The record as last read or written (its version guards the next write). */
  private current: Versioned | null = null;
  private observedKey = "";
  private observedAt = 0;
  /** Start of the last successful renewal: leadership ends renewDeadline after it. */
  private renewedAt = 0;
  private loopTimer: NodeJS.Timeout | undefined;
  private deadlineTimer: NodeJS.Timeout | undefined;
  private cycle: Promise<void> | undefined;

  constructor(opts: ElectorOptions) {
    this.opts = opts;
    this.lock = opts.lock;
    this.leaseMs = opts.leaseDurationMs ?? 15_000;
    this.renewDeadlineMs = opts.renewDeadlineMs ?? 10_000;
    this.retryMs = opts.retryPeriodMs ?? 2_000;
    this.now = opts.now ?? (() => performance.now());
    this.wallClock = opts.wallClock ?? (() => new Date());
    this.random = opts.random ?? Math.random;
    if (!(this.leaseMs > this.renewDeadlineMs))
      throw new Error("leaseDurationMs must be greater than renewDeadlineMs");
    if (!(this.renewDeadlineMs > JITTER * this.retryMs)) {
      throw new Error(`renewDeadlineMs must be greater than ${JITTER} x retryPeriodMs`);
    }
    if (!opts.identity) throw new Error("identity must not be empty");
    // Rounded up: followers then wait at least leaseDurationMs, never less.
    this.durationSeconds = Math.ceil(this.leaseMs / 1000);
  }

  start(): void {
    if (this.running) return;
    this.running = true;
    this.opts.log.info(
      { lease: this.lock.describe(), identity: this.opts.identity },
      "leader election: contending",
    );
    this.schedule(0);
  }

  /**
   * Whether this process leads right now. Checks the renew deadline on the clock rather than
   * trusting the deadline timer: after the process was frozen (SIGSTOP, a paused VM) I/O
   * callbacks can run before any timer does, and a write issued then must see that leadership
   * is gone. Steps down (onStoppedLeading) when the deadline has passed.
   */
  isLeader(): boolean {
    if (this.leader && this.now() - this.renewedAt >= this.renewDeadlineMs) {
      this.stepDown(`could not renew within ${this.renewDeadlineMs} ms`);
    }
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

  private schedule(delayMs: number): void {
    if (!this.running) return;
    this.loopTimer = setTimeout(() => {
      this.cycle = this.tick().finally(() => (this.cycle = undefined));
    }, delayMs);
  }

  private async tick(): Promise<void> {
    const started = this.now();
    // A leader past its deadline (the process was frozen) must not renew: it steps down first.
    this.isLeader();
    const result = await this.tryAcquireOrRenew();
    if (!this.running) return;
    if (result === "held") {
      this.renewedAt = started;
      if (!this.leader) {
        this.leader = true;
        this.opts.log.info(
          { lease: this.lock.describe(), identity: this.opts.identity },
          "leader election: acquired lease",
        );
        this.callback(() => this.opts.onStartedLeading());
        this.callback(() => this.opts.onLeaderChange?.(true));
      }
      this.opts.log.trace({ lease: this.lock.describe() }, "leader election: renewed");
      this.armDeadline();
    } else if (this.leader && result === "other") {
      this.stepDown(`lease taken by ${this.current?.record.holderIdentity || "another holder"}`);
    }
    // A failed renewal retries every retryPeriod until the deadline decides.
    this.schedule(this.leader ? this.retryMs : this.retryMs * (1 + this.random() * JITTER));
  }

  /**
   * The leader must be gone before any follower can consider the lease expired, which is at
   * least leaseDuration after the start of the last renewal (the server's renewTime is no
   * earlier); renewDeadline < leaseDuration is the margin.
   */
  private armDeadline(): void {
    clearTimeout(this.deadlineTimer);
    const wait = Math.max(0, this.renewedAt + this.renewDeadlineMs - this.now());
    this.deadlineTimer = setTimeout(() => this.isLeader(), wait);
  }

  private stepDown(why: string): void {
    clearTimeout(this.deadlineTimer);
    this.deadlineTimer = undefined;
    if (!this.leader) return;
    this.leader = false;
    this.opts.log.warn(
      { lease: this.lock.describe(), identity: this.opts.identity },
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

  private failed(what: string, err: unknown): void {
    this.opts.log.debug(
      { lease: this.lock.describe(), status: statusOf(err) },
      `leader election: ${what} failed: ${messageOf(err)}`,
    );
  }

  private async tryAcquireOrRenew(): Promise<Attempt> {
    const { identity } = this.opts;
    const now = this.wallClock();
    // Fast path: the leader renews the record it last wrote, guarded by its version.
    if (this.leader && this.current && this.validNow()) {
      try {
        this.observe(await this.lock.update(this.current, { ...this.current.record, renewTime: now }));
        return "held";
      } catch (err) {
        this.failed("renew", err);
        if (!(err instanceof LockConflict)) return "failed";
        // Someone wrote the lock; read it and decide below.
      }
    }

    let current: Versioned | null;
    try {
      current = await this.lock.get();
    } catch (err) {
      this.failed("read", err);
      return "failed";
    }
    if (!current) return this.create(now);
    this.observe(current);
    const r = current.record;
    const ours = r.holderIdentity === identity;
    if (r.holderIdentity && !ours && this.validNow()) return "other";

    const record: LeaseRecord = {
      holderIdentity: identity,
      leaseDurationSeconds: this.durationSeconds,
      renewTime: now,
      acquireTime: ours && r.acquireTime ? r.acquireTime : now,
      leaseTransitions: r.leaseTransitions + (ours ? 0 : 1),
    };
    try {
      this.observe(await this.lock.update(current, record));
      return "held";
    } catch (err) {
      this.failed("acquire", err);
      return err instanceof LockConflict ? "other" : "failed";
    }
  }

  private async create(now: Date): Promise<Attempt> {
    try {
      this.observe(
        await this.lock.create({
          holderIdentity: this.opts.identity,
          leaseDurationSeconds: this.durationSeconds,
          acquireTime: now,
          renewTime: now,
          leaseTransitions: 0,
        }),
      );
      return "held";
    } catch (err) {
      this.failed("create", err);
      // Another replica created it first.
      return err instanceof LockConflict ? "other" : "failed";
    }
  }

  /** Hands the lock back (as client-go: no holder, 1 s duration), if the server still shows it as ours. */
  private async release(): Promise<void> {
    const current = this.current;
    if (!current || current.record.holderIdentity !== this.opts.identity) return;
    const now = this.wallClock();
    try {
      this.observe(
        await this.lock.update(current, {
          ...current.record,
          holderIdentity: "",
          leaseDurationSeconds: 1,
          acquireTime: now,
          renewTime: now,
        }),
      );
      this.opts.log.info({ lease: this.lock.describe() }, "leader election: released lease");
    } catch (err) {
      // A conflict: it changed hands already; otherwise it simply expires.
      this.opts.log.warn(
        { lease: this.lock.describe(), status: statusOf(err) },
        `leader election: release failed: ${messageOf(err)}`,
      );
    }
  }

  /** Records the lock and, when its record differs from the last one seen, the local time of that change. */
  private observe(v: Versioned): void {
    this.current = v;
    const r = v.record;
    const key = JSON.stringify([
      r.holderIdentity,
      r.leaseDurationSeconds,
      r.renewTime?.getTime(),
      r.acquireTime?.getTime(),
      r.leaseTransitions,
    ]);
    if (key !== this.observedKey) {
      this.observedKey = key;
      this.observedAt = this.now();
    }
  }

  private validNow(): boolean {
    const seconds = this.current?.record.leaseDurationSeconds ?? 0;
    return this.observedAt + seconds * 1000 > this.now();
  }
}
