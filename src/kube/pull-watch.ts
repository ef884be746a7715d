/**
 * The leader's pull-failure watcher: kubelet's Events in (pull-events.ts), decisions in the
 * reactor (src/engine/pull-reactions.ts), refreshes and passes out through the leader's own
 * refresher and sync loop. Started with leadership, stopped with it: a follower watches nothing.
 */
import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Config } from "../config/schema.ts";
import type { Refresher } from "../engine/refresher.ts";
import type { SyncLoop } from "../engine/sync.ts";
import type { Metrics } from "../observe/metrics.ts";
import type { NamespaceSource } from "../engine/sink.ts";
import { PullReactor } from "../engine/pull-reactions.ts";
import type { EventRecorder } from "./events.ts";
import { kubePullPorts, watchPullEvents } from "./pull-events.ts";
import { messageOf } from "./client.ts";

export interface PullWatchDeps {
  kc: KubeConfig;
  config: Config;
  refresher: Refresher;
  sync: SyncLoop;
  namespaces: NamespaceSource;
  log: Logger;
  metrics: Metrics;
  events?: EventRecorder;
  /** Leadership. */
  signal: AbortSignal;
}

export function startPullWatch(deps: PullWatchDeps): { stop(): Promise<void> } {
  const { refresher, sync, log } = deps;
  const kube = kubePullPorts(deps.kc, deps.events);
  const reactor = new PullReactor({
    targets: deps.config.secrets,
    log,
    metrics: deps.metrics,
    minIntervalMs: deps.config.pullFailures.minInterval,
    healing: deps.config.healing,
    signal: deps.signal,
    ports: {
      ...kube,
      namespaces: () => deps.namespaces.list(),
      keysByRegistry: () =>
        new Map(
          [...refresher.credentials()].map(([name, creds]) => [name, creds.flatMap((c) => c.registries)]),
        ),
      reconcile: () => sync.trigger(),
      refresh: async (registry, why) => {
        const before = refresher.credentials().get(registry);
        const started = Date.now();
        await refresher.refresh(registry, why);
        await sync.idle();
        const status = refresher.status().find((s) => s.name === registry);
        if (status?.lastError && status.lastError.at.getTime() >= started) {
          return {
            ok: false,
            detail: `the refresh failed (${status.lastError.reason}): ${status.lastError.message}; Secrets keep the last good credential`,
          };
        }
        return refresher.credentials().get(registry) === before
          ? { ok: true, detail: "the provider returned the credential the Secrets already hold" }
          : { ok: true, detail: "a new credential was minted and written to the Secrets" };
      },
    },
  });
  const inFlight = new Set<Promise<unknown>>();
  const watch = watchPullEvents(deps.kc, log, (signal) => {
    const p = reactor
      .react(signal)
      .catch((err: unknown) =>
        log.warn(
          { namespace: signal.namespace, pod: signal.pod },
          `reacting to a pull failure failed: ${messageOf(err)}`,
        ),
      )
      .finally(() => inFlight.delete(p));
    inFlight.add(p);
  });
  return {
    async stop() {
      await watch.stop();
      await Promise.allSettled([...inFlight]);
    },
  };
}
