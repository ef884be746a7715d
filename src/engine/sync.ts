import type { Logger } from "pino";
import type { Target } from "../config/schema.ts";
import type { Refresher } from "./refresher.ts";
import { plan, type Plan } from "./plan.ts";
import { emptyResult, type NamespaceSource, type Sink, type SinkResult } from "./sink.ts";
import { backoffDelay } from "./schedule.ts";
import type { RefreshPolicy } from "../base/refresh.ts";

export interface SyncOutcome {
  at: Date;
  plan: Plan;
  result: SinkResult | null;
  error: string | null;
}

/**
 * Turns the refresher's credentials and the namespace list into a plan and hands it to the
 * sink. Triggers coalesce: however many changes arrive during a write, one more pass follows.
 */
export class SyncLoop {
  private dirty = false;
  private running: Promise<void> | null = null;
  private retryTimer: NodeJS.Timeout | undefined;
  private failures = 0;
  private stopped = false;
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
    },
  ) {}

  private get fenced(): boolean {
    return this.deps.signal?.aborted === true;
  }

  trigger(): void {
    if (this.stopped || this.fenced) return;
    this.dirty = true;
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
    await this.idle();
  }

  private async loop(): Promise<void> {
    // A pass before every registry has had its first try would write half-merged Secrets
    // and rewrite them a moment later.
    await this.deps.refresher.settled();
    while (this.dirty && !this.stopped && !this.fenced) {
      this.dirty = false;
      await this.pass();
    }
  }

  private async pass(): Promise<void> {
    const { targets, refresher, namespaces, sink, log } = this.deps;
    const desired = plan(targets, refresher.credentials(), namespaces.list(), {
      ignoreSelection: !namespaces.selective,
      ...(this.deps.instance ? { instance: this.deps.instance } : {}),
    });
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
    try {
      const result = await sink.apply(desired, this.deps.signal);
      for (const k of Object.keys(this.totals) as Array<keyof SinkResult>) this.totals[k] += result[k];
      this.last = { at: new Date(), plan: desired, result, error: null };
      if (result.failed > 0) throw new Error(`${result.failed} writes failed`);
      this.failures = 0;
      log.info({ ...result, sink: sink.description }, `synced ${desired.secrets.length} secrets`);
    } catch (err) {
      if (this.fenced) {
        log.warn(`writing secrets to ${sink.description} stopped: not the leader any more`);
        return;
      }
      this.failures++;
      const message = err instanceof Error ? err.message : String(err);
      this.last = { at: new Date(), plan: desired, result: this.last?.result ?? null, error: message };
      const delay = backoffDelay(this.deps.policy, this.failures, Math.random);
      log.error(
        { err, failures: this.failures, retryInMs: Math.round(delay) },
        `writing secrets to ${sink.description} failed`,
      );
      clearTimeout(this.retryTimer);
      this.retryTimer = setTimeout(() => this.trigger(), delay);
      this.retryTimer.unref?.();
    }
  }
}
