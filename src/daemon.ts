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
  /** The cluster, for providers that read from it (mirror). */
  kube?: KubeConfig;
}

export interface Daemon {
  refresher: Refresher;
  sync: SyncLoop;
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

export async function startDaemon(options: DaemonOptions): Promise<Daemon> {
  const { config, log, metrics, sink, namespaces } = options;
  let sync: SyncLoop | null = null;
  const refresher = new Refresher(buildRegistries(config, log, options.providers, options.kube), {
    log,
    metrics,
    ...(options.cron ? { cron: options.cron } : {}),
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
  const unsubscribe = namespaces.onChange(() => sync?.trigger());
  sink.onDrift?.(() => sync?.trigger());
  // Writing before the caches know what exists would re-create everything; wait for them.
  await Promise.all([sink.synced?.(), namespaces.synced?.()]);
  const server = options.serve
    ? await startHttpServer(config.server, {
        metrics,
        probes: {
          ready: () => {
            const reasons = refresher
              .status()
              .filter((s) => !s.usable)
              .map((s) => `registry ${s.name}: ${s.lastError ? s.lastError.message : "no credential yet"}`);
            return { ready: reasons.length === 0, reasons };
          },
          status: () => statusReport(refresher, sync!),
        },
      })
    : null;
  refresher.start();
  return {
    refresher,
    sync,
    server,
    async stop() {
      unsubscribe();
      await refresher.stop();
      await sync!.stop();
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
