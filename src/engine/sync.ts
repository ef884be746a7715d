import type { Logger } from "pino";
import type { Target } from "../config/schema.ts";
import type { Refresher } from "./refresher.ts";
import { BodyCache, planFrom, type Namespace, type Plan } from "./plan.ts";
import { emptyResult, type NamespaceSource, type Sink, type SinkResult } from "./sink.ts";
import { backoffDelay } from "./schedule.ts";
import type { RefreshPolicy } from "../base/refresh.ts";

export interface SyncOutcome {
  at: Date;
  /** The last full pass's plan: every namespace (a namespace's own pass does not replace it). */
  plan: Plan;
  result: SinkResult | null;
  error: string | null;
}

/** Default full resync: a safety net under the watches, as controller-runtime's SyncPeriod. */
export const DEFAULT_RESYNC_MS = 10 * 60_000;

/**
 * Turns the refresher's credentials and the namespace list into a plan and hands it to the
 * sink. Two kinds of pass, both from the desired state (targets x credentials x namespaces),
 * never from an earlier pass's outcomes:
 *   - full: every namespace; at start, on a credential change (it fans out), on a periodic
 *     resync, and on a retry after a failed full pass;
 *   - one namespace's (touch): a namespace added or relabelled, a Secret or ServiceAccount
 *     there drifted. Its cost is that namespace's targets, not the cluster's size.
 * Triggers coalesce: however many arrive during a write, one more pass follows (a pending full
 * pass covers every touched namespace).
 */
export class SyncLoop {
  private full = false;
  private touched = new Set<string>();
  private running: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private resyncTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private retryFull = false;
  private retryNamespaces = new Set<string>();
  private stopped = false;
  private readonly bodies = new BodyCache();
  last: SyncOutcome | null = null;
  /** Every pass's writes added up, for one-shot runs that report what they did. */
  readonly totals: SinkResult = emptyResult();

  constructor(
    private readonly deps: {
      targets: readonly Target[];
      refresher: Refresher;
      namespaces: NamespaceSource;
      sink: Sink;
      log: Logger;
      policy: RefreshPolicy;
      instance?: string;
      /** Leadership: once aborted, no pass starts and the running one stops writing. */
      signal?: AbortSignal;
      /** Full pass every this many ms (0: never); default DEFAULT_RESYNC_MS. */
      resyncMs?: number;
    },
  ) {}

  private get fenced(): boolean {
    return this.deps.signal?.aborted === true;
  }

  /** A full pass. */
  trigger(): void {
    if (this.stopped || this.fenced) return;
    this.full = true;
    this.schedule();
  }

  /** A pass over one namespace; a full pass where the sink or namespace source cannot scope. */
  touch(namespace: string): void {
    if (this.stopped || this.fenced) return;
    if (!this.deps.sink.scoped || !this.deps.namespaces.get) return this.trigger();
    this.touched.add(namespace);
    this.schedule();
  }

  private schedule(): void {
    if (this.resyncTimer === undefined) {
      const every = this.deps.resyncMs ?? DEFAULT_RESYNC_MS;
      if (every > 0) {
        this.resyncTimer = setInterval(() => this.trigger(), every);
        this.resyncTimer.unref?.();
      }
    }
    if (!this.running) this.running = this.loop().finally(() => (this.running = null));
  }

  /** Resolves when no pass is running or pending. */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  /** Stops further passes; lets a write in progress finish. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.resyncTimer);
    await this.idle();
  }

  private async loop(): Promise<void> {
    // A pass before every registry has had its first try would write half-merged Secrets
    // and rewrite them a moment later.
    await this.deps.refresher.settled();
    while ((this.full || this.touched.size > 0) && !this.stopped && !this.fenced) {
      const scope = this.full ? null : this.touched;
      this.full = false;
      this.touched = new Set();
      await this.pass(scope);
    }
  }

  /** scope: the namespaces of a touch pass; null for a full pass. */
  private async pass(scope: ReadonlySet<string> | null): Promise<void> {
    const { targets, refresher, namespaces, sink, log } = this.deps;
    const rendered = this.bodies.bodies(targets, refresher.credentials(), this.deps.instance);
    const inScope = scope
      ? [...scope].map((n) => namespaces.get!(n)).filter((n): n is Namespace => n !== undefined)
      : namespaces.list();
    const desired = planFrom(rendered, inScope, { ignoreSelection: !namespaces.selective });
    if (!scope) this.report(desired);
    try {
      const result = await (scope
        ? sink.apply(desired, this.deps.signal, scope)
        : sink.apply(desired, this.deps.signal));
      for (const k of Object.keys(this.totals) as Array<keyof SinkResult>) this.totals[k] += result[k];
      this.last = {
        at: new Date(),
        plan: scope && this.last ? this.last.plan : desired,
        result,
        error: null,
      };
      if (result.failed > 0) throw new Error(`${result.failed} writes failed`);
      this.failures = 0;
      if (scope) {
        log.debug(
          { ...result, namespaces: [...scope] },
          `synced ${desired.secrets.length} secrets in ${scope.size} namespaces`,
        );
      } else {
        log.info({ ...result, sink: sink.description }, `synced ${desired.secrets.length} secrets`);
      }
    } catch (err) {
      if (this.fenced) {
        log.warn(`writing secrets to ${sink.description} stopped: not the leader any more`);
        return;
      }
      this.failures++;
      const message = err instanceof Error ? err.message : String(err);
      this.last = {
        at: new Date(),
        plan: scope && this.last ? this.last.plan : desired,
        result: this.last?.result ?? null,
        error: message,
      };
      const delay = backoffDelay(this.deps.policy, this.failures, Math.random);
      log.error(
        { err, failures: this.failures, retryInMs: Math.round(delay) },
        `writing secrets to ${sink.description} failed`,
      );
      // A failed namespace pass retries those namespaces, a failed full pass a full one; one
      // timer for both, so a later failure never drops an earlier one's retry.
      if (scope) scope.forEach((n) => this.retryNamespaces.add(n));
      else this.retryFull = true;
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => {
        const [full, namespaces] = [this.retryFull, this.retryNamespaces];
        this.retryFull = false;
        this.retryNamespaces = new Set();
        if (full) this.trigger();
        else namespaces.forEach((n) => this.touch(n));
      }, delay);
      this.retryTimer.unref?.();
    }
  }

  private report(desired: Plan): void {
    const { log } = this.deps;
    for (const problem of desired.problems) {
      log.error({ secret: problem.target }, `secret ${problem.target} not written: ${problem.message}`);
    }
    for (const body of desired.bodies) {
      if (body.missing.length > 0) {
        log.warn(
          { secret: body.target.name, missing: body.missing },
          `secret ${body.target.name} written without ${body.missing.join(", ")}: no usable credential`,
        );
      }
    }
  }
}
