import type { Logger } from "pino";
import type { Config } from "./config/schema.ts";
import { providerFor } from "../providers/index.ts";
import type { Provider, ProviderContext } from "../providers/contract.ts";
import { createSecretReader } from "./config/secret-reader.ts";
import { Refresher, type RegistryRuntime } from "./engine/refresher.ts";
import { SyncLoop } from "./engine/sync.ts";
import type { Metrics } from "./observe/metrics.ts";
import { startHttpServer, type HttpServer } from "./observe/server.ts";
import type { NamespaceSource, Sink } from "./output/sink.ts";
import type { CronStarter } from "./engine/cron.ts";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { LeaderElector } from "./kube/lease.ts";
import type { KubeConfig } from "@kubernetes/client-node";

export interface DaemonOptions {
  config: Config;
  log: Logger;
  metrics: Metrics;
  sink: Sink;
  namespaces: NamespaceSource;
  /** Serve /metrics etc.; off for one-shot commands. */
  serve?: boolean;
  /** Replace a registry's provider (tests inject clients this way). */
  providers?: Record<string, Provider>;
  cron?: CronStarter;
  /** The cluster, for providers that read from it (mirror), and for leader election. */
  kube?: KubeConfig;
  /** Leader election identity; default hostname plus a random suffix. */
  identity?: string;
  /** Told of every failed refresh (the CLI posts a Warning Event). */
  onRefreshFailure?: (registry: string, reason: string, message: string) => void;
}

export interface Daemon {
  /** The leader's refresher and sync loop; throws on a follower. */
  readonly refresher: Refresher;
  readonly sync: SyncLoop;
  isLeader(): boolean;
  server: HttpServer | null;
  /** Stop timers, let the write in progress finish, close the server. */
  stop(): Promise<void>;
}

export function buildRegistries(
  config: Config,
  log: Logger,
  overrides: Record<string, Provider> = {},
  kube?: KubeConfig,
): RegistryRuntime[] {
  const ctx: ProviderContext = {
    log,
    secrets: createSecretReader(path.dirname(path.resolve(config.file))),
    ...(kube ? { kube } : {}),
  };
  return config.registries.map((r) => ({
    name: r.name,
    kind: r.provider,
    policy: r.refresh,
    provider:
      overrides[r.name] ??
      providerFor(r.provider).create(r.settings, { ...ctx, log: log.child({ registry: r.name }) }),
  }));
}

interface Work {
  refresher: Refresher;
  sync: SyncLoop;
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, log, metrics, sink, namespaces } = options;
  let work: Work | null = null;

  // The refresher and the sync loop: what only the leader runs. Watches and caches run on
  // every replica, so a follower that takes over writes at once from warm caches.
  const startWork = (): Work => {
    let sync: SyncLoop | null = null;
    const refresher = new Refresher(buildRegistries(config, log, options.providers, options.kube), {
      log,
      metrics,
      ...(options.cron ? { cron: options.cron } : {}),
      ...(options.onRefreshFailure ? { onFailure: options.onRefreshFailure } : {}),
      onChange: () => sync?.trigger(),
    });
    sync = new SyncLoop({
      targets: config.secrets,
      refresher,
      namespaces,
      sink,
      log,
      policy: config.refresh,
      instance: config.kubernetes.instance,
    });
    refresher.start();
    sync.trigger();
    return { refresher, sync };
  };
  const stopWork = async (w: Work) => {
    await w.refresher.stop();
    await w.sync.stop();
  };

  const unsubscribe = namespaces.onChange(() => work?.sync.trigger());
  sink.onDrift?.(() => work?.sync.trigger());
  // Writing before the caches know what exists would re-create everything; wait for them.
  await Promise.all([sink.synced?.(), namespaces.synced?.()]);

  let elector: LeaderElector | null = null;
  let stopping: Promise<void> = Promise.resolve();
  const election = config.kubernetes.leaderElection;
  if (election.enabled && options.kube) {
    metrics.leader.set(0);
    elector = new LeaderElector({
      kc: options.kube,
      namespace: election.namespace ?? process.env.POD_NAMESPACE ?? "default",
      name: election.name,
      identity: options.identity ?? `${hostname()}-${randomBytes(3).toString("hex")}`,
      leaseDurationMs: election.leaseDuration,
      renewDeadlineMs: election.renewDeadline,
      retryPeriodMs: election.retryPeriod,
      log,
      onStartedLeading: () => {
        log.info("leading: minting and writing");
        void stopping.then(() => (work ??= startWork()));
      },
      onStoppedLeading: () => {
        const w = work;
        work = null;
        log.warn("lost the lease: stopped minting and writing");
        if (w) stopping = stopWork(w);
      },
      onLeaderChange: (leader) => metrics.leader.set(leader ? 1 : 0),
    });
    elector.start();
  } else {
    metrics.leader.set(1);
    work = startWork();
  }

  const server = options.serve
    ? await startHttpServer(config.server, {
        metrics,
        probes: {
          ready: () => {
            // A follower is a healthy standby: ready, so rollouts are not held up by it.
            if (!work) return { ready: true, reasons: [] };
            const reasons = work.refresher
              .status()
              .filter((s) => !s.usable)
              .map((s) => `registry ${s.name}: ${s.lastError ? s.lastError.message : "no credential yet"}`);
            return { ready: reasons.length === 0, reasons };
          },
          status: () =>
            work ? statusReport(work.refresher, work.sync) : { leader: false, registries: [], secrets: [] },
        },
      })
    : null;

  const current = (): Work => {
    if (!work) throw new Error("this replica is not the leader");
    return work;
  };
  return {
    get refresher() {
      return current().refresher;
    },
    get sync() {
      return current().sync;
    },
    isLeader: () => work !== null,
    server,
    async stop() {
      unsubscribe();
      const w = work;
      work = null;
      if (w) await stopWork(w);
      await stopping;
      // Release the lease only after the last write: a successor must not overlap with us.
      await elector?.stop();
      await Promise.all([sink.stop?.(), namespaces.stop?.()]);
      await server?.close();
    },
  };
}

export function statusReport(refresher: Refresher, sync: SyncLoop) {
  const last = sync.last;
  return {
    registries: refresher.status(),
    secrets: (last?.plan.bodies ?? []).map((b) => ({
      name: b.target.name,
      registries: b.registries,
      missing: b.missing,
      expiresAt: b.expiresAt,
      namespaces: last!.plan.secrets.filter((s) => s.body === b).length,
    })),
    problems: last?.plan.problems ?? [],
    lastSync: last ? { at: last.at, result: last.result, error: last.error } : null,
  };
}
