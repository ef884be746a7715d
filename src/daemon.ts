import type { Logger } from "pino";
import type { Config } from "./config/schema.ts";
import { providerFor } from "../providers/index.ts";
import type { Credential, Provider, ProviderContext } from "../providers/contract.ts";
import { createSecretReader } from "./config/secret-reader.ts";
import { abortable, Refresher, type RegistryRuntime } from "./engine/refresher.ts";
import { SyncLoop } from "./engine/sync.ts";
import type { Metrics } from "./observe/metrics.ts";
import { startHttpServer, type HttpServer } from "./observe/server.ts";
import type { NamespaceSource, Sink } from "./engine/sink.ts";
import type { CronStarter } from "./engine/cron.ts";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import { leaseElector, LeaderElector, type ElectorOptions } from "./kube/lease.ts";
import type { Lock } from "./kube/lease-lock.ts";
import { guardSignal, LeadershipLost } from "./kube/fence.ts";
import { kubeClusterAccess } from "./kube/cluster-access.ts";
import type { KubeConfig } from "@kubernetes/client-node";
import { EventRecorder } from "./kube/events.ts";
import { startPullWatch } from "./kube/pull-watch.ts";
import { realCheck, type CredentialCheck } from "./registry/rollout.ts";

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
  /** The leader election lock; default the config's Lease in the cluster (tests pass another). */
  lock?: Lock;
  /** Leader election identity; default hostname plus a random suffix. */
  identity?: string;
  /** Aborts start-up (SIGTERM while the caches fill): startDaemon rejects with its reason. */
  signal?: AbortSignal;
  /** Told of every failed refresh (the CLI posts a Warning Event). */
  onRefreshFailure?: (registry: string, reason: string, message: string) => void;
  /** Watch kubelet's pull failures while leading (with `kube` and pullFailures.enabled); one-shot runs turn it off. */
  watchPulls?: boolean;
  /** The registry handshake behind `registryCheck` (tests pass one that trusts the rig's CA). */
  verify?: CredentialCheck;
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
    ...(kube ? { cluster: kubeClusterAccess(kube) } : {}),
  };
  return config.registries.map((r) => ({
    name: r.name,
    kind: r.provider,
    policy: r.refresh,
    verify: r.verify,
    provider:
      overrides[r.name] ??
      providerFor(r.provider).create(r.settings, { ...ctx, log: log.child({ registry: r.name }) }),
  }));
}

interface Work {
  refresher: Refresher;
  sync: SyncLoop;
  pulls: { stop(): Promise<void> } | null;
}

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, log, metrics, sink, namespaces } = options;
  let work: Work | null = null;
  let cachesSynced = false;

  // Serving first: probes answer (readyz false) while the caches fill, which can take long
  // against a slow or absent API server.
  const server = options.serve
    ? await startHttpServer(config.server, {
        metrics,
        probes: {
          ready: () => {
            if (!cachesSynced) return { ready: false, reasons: ["watch caches not synced yet"] };
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
  if (server) log.info({ url: server.url }, "serving probes and metrics");

  // A change in one namespace reconciles that namespace; one the source cannot place, all.
  const reconcile = (namespace?: string) =>
    namespace === undefined ? work?.sync.trigger() : work?.sync.touch(namespace);
  const unsubscribe = namespaces.onChange(reconcile);
  sink.onDrift?.(reconcile);
  // Writing before the caches know what exists would re-create everything; wait for them
  // (or for a shutdown signal: SIGTERM during start-up stops at once).
  try {
    const synced = Promise.all([sink.synced?.(), namespaces.synced?.()]);
    await (options.signal ? abortable(synced, options.signal) : synced);
  } catch (err) {
    unsubscribe();
    await Promise.all([sink.stop?.(), namespaces.stop?.()]);
    await server?.close();
    throw err;
  }
  cachesSynced = true;

  // The refresher and the sync loop: what only the leader runs, fenced by `leading`. Watches
  // and caches run on every replica, so a follower that takes over writes at once from warm
  // caches; it starts from the credentials the cluster holds (last good), never from nothing.
  // Events on the Pods whose pulls regcred reacted to.
  const pullEvents =
    options.kube && config.kubernetes.events
      ? new EventRecorder({ kc: options.kube, component: "regcred", instance: hostname(), log })
      : undefined;
  const startWork = async (leading: AbortSignal): Promise<Work> => {
    let sync: SyncLoop | null = null;
    const refresher = new Refresher(buildRegistries(config, log, options.providers, options.kube), {
      log,
      metrics,
      ...(options.cron ? { cron: options.cron } : {}),
      ...(options.onRefreshFailure ? { onFailure: options.onRefreshFailure } : {}),
      onChange: () => sync?.trigger(),
      verify: options.verify ?? realCheck,
    });
    const seeds = await (sink.lastGood?.() ?? Promise.resolve(new Map())).catch((err: unknown) => {
      log.warn({ err }, "could not read the credentials the cluster holds; starting without them");
      return new Map<string, Credential[]>();
    });
    for (const [registry, credentials] of seeds) refresher.seed(registry, credentials);
    sync = new SyncLoop({
      targets: config.secrets,
      refresher,
      namespaces,
      sink,
      log,
      policy: config.refresh,
      instance: config.kubernetes.instance,
      signal: leading,
    });
    refresher.start();
    sync.trigger();
    const pulls =
      options.kube && config.pullFailures.enabled && options.watchPulls !== false
        ? startPullWatch({
            kc: options.kube,
            config,
            refresher,
            sync,
            namespaces,
            log,
            metrics,
            signal: leading,
            ...(pullEvents ? { events: pullEvents } : {}),
          })
        : null;
    return { refresher, sync, pulls };
  };
  const stopWork = async (w: Work) => {
    // Together: stopping the refresher ends the mints a pull reaction may be waiting on.
    await Promise.all([w.pulls?.stop(), w.refresher.stop()]);
    await w.sync.stop();
  };

  // Leadership periods, one after another: work of the next starts after the last one's
  // stopped, and only if leadership has not ended in the meantime.
  let leading: AbortController | null = null;
  let transitions: Promise<void> = Promise.resolve();
  let startError: unknown = null;
  const serially = (step: () => Promise<void>) => {
    transitions = transitions.then(step).catch((err: unknown) => {
      startError = err;
      log.error({ err }, "starting the refresher failed");
    });
  };
  const begin = (check?: () => void) => {
    const controller = new AbortController();
    if (check) guardSignal(controller.signal, check);
    leading = controller;
    serially(async () => {
      if (controller.signal.aborted) return;
      const w = await startWork(controller.signal);
      if (controller.signal.aborted || leading !== controller) return stopWork(w);
      work = w;
    });
  };
  const end = (abort: boolean) => {
    const controller = leading;
    const w = work;
    leading = null;
    work = null;
    // Lost leadership: abort in-flight writes now. Stopping: let them finish, then release.
    if (abort) controller?.abort(new LeadershipLost());
    serially(async () => {
      if (w) await stopWork(w);
      controller?.abort(new LeadershipLost());
    });
  };

  let elector: LeaderElector | null = null;
  const election = config.kubernetes.leaderElection;
  if (election.enabled && (options.kube || options.lock)) {
    metrics.leader.set(0);
    const opts: Omit<ElectorOptions, "lock"> = {
      identity: options.identity ?? `${hostname()}-${randomBytes(3).toString("hex")}`,
      leaseDurationMs: election.leaseDuration,
      renewDeadlineMs: election.renewDeadline,
      retryPeriodMs: election.retryPeriod,
      log,
      onStartedLeading: () => {
        log.info("leading: minting and writing");
        // Before every write the elector re-checks its renew deadline on the clock.
        begin(() => void e.isLeader());
      },
      onStoppedLeading: () => {
        log.warn("lost the lease: stopped minting and writing");
        end(true);
      },
      onLeaderChange: (leader) => metrics.leader.set(leader ? 1 : 0),
    };
    const e = options.lock
      ? new LeaderElector({ ...opts, lock: options.lock })
      : leaseElector({
          ...opts,
          kc: options.kube!,
          namespace: election.namespace ?? process.env.POD_NAMESPACE ?? "default",
          name: election.name,
        });
    elector = e;
    e.start();
  } else {
    metrics.leader.set(1);
    begin();
    await transitions;
    if (startError) {
      await Promise.all([sink.stop?.(), namespaces.stop?.()]);
      await server?.close();
      throw startError;
    }
  }

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
      end(false);
      await transitions;
      // Release the lease only after the last write: a successor must not overlap with us.
      await elector?.stop();
      await transitions;
      await Promise.all([sink.stop?.(), namespaces.stop?.(), pullEvents?.flush()]);
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
