import type { Logger } from "pino";
import { loadConfig } from "../config/load.ts";
import type { Config } from "../config/schema.ts";
import { startDaemon, type Daemon } from "../daemon.ts";
import { Metrics } from "../observe/metrics.ts";
import { createLogger } from "../observe/log.ts";
import { staticNamespaces, type SinkResult } from "../engine/sink.ts";
import { createOutput, type OutputOptions } from "./output.ts";
import { manifestsToYaml } from "../output/manifest.ts";
import { buildRegistries } from "../daemon.ts";
import { Refresher } from "../engine/refresher.ts";
import { plan } from "../engine/plan.ts";
import { EXIT } from "./errors.ts";
import type { LevelWithSilent } from "pino";

export interface CommonOptions {
  config: string;
  logLevel?: string;
}

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  log?: Logger;
}

async function setup(options: CommonOptions, io: Io): Promise<{ config: Config; log: Logger }> {
  const config = await loadConfig(options.config);
  const log = io.log ?? createLogger({ level: (options.logLevel ?? config.log.level) as LevelWithSilent });
  return { config, log };
}

export async function validateCommand(options: CommonOptions, io: Io): Promise<number> {
  const config = await loadConfig(options.config);
  io.stdout(
    `${options.config}: valid (${config.registries.length} registries, ${config.secrets.length} secrets)\n`,
  );
  return EXIT.ok;
}

/** Mint every registry once and print the Secrets, as kubectl create secret --dry-run -o yaml would. */
export async function renderCommand(
  options: CommonOptions & { namespace: string[]; secret?: string[] },
  io: Io,
): Promise<number> {
  const { config, log } = await setup(options, io);
  const metrics = new Metrics();
  const refresher = new Refresher(buildRegistries(config, log), { log, metrics });
  refresher.start();
  await refresher.settled();
  await refresher.stop();
  const targets = options.secret?.length
    ? config.secrets.filter((s) => options.secret!.includes(s.name))
    : config.secrets;
  const desired = plan(targets, refresher.credentials(), staticNamespaces(options.namespace).list(), {
    ignoreSelection: true,
  });
  if (desired.secrets.length > 0) io.stdout(manifestsToYaml(desired.secrets));
  for (const problem of desired.problems) log.error({ secret: problem.target }, problem.message);
  const failed = refresher.status().some((s) => s.lastError !== null);
  return failed || desired.problems.length > 0 ? EXIT.failure : EXIT.ok;
}

function summarize(result: SinkResult | null): string {
  if (!result) return "nothing written";
  return `${result.created} created, ${result.updated} updated, ${result.unchanged} unchanged, ${result.deleted} deleted, ${result.failed} failed`;
}

type SinkOptions = OutputOptions;

/** Mint and write once; non-zero exit on any failure (Helm hooks, CronJob migration). */
export async function onceCommand(options: CommonOptions & SinkOptions, io: Io): Promise<number> {
  const { config, log } = await setup(options, io);
  // One shot (a Helm hook, a CronJob): write now rather than wait for a Lease a daemon holds.
  config.kubernetes.leaderElection.enabled = false;
  const metrics = new Metrics();
  const daemon = await startDaemon({
    config,
    log,
    metrics,
    ...createOutput(options, { config, log, metrics }),
    serve: false,
    // Writes once and exits: nothing to react to.
    watchPulls: false,
  });
  const { refresher, sync } = daemon;
  // The daemon's first pass runs once every registry has had its first mint.
  await refresher.settled();
  await sync.idle();
  await daemon.stop();
  const last = sync.last;
  io.stdout(
    `${last?.plan.secrets.length ?? 0} secrets to ${options.output}: ${summarize(last ? sync.totals : null)}\n`,
  );
  const failed =
    refresher.status().some((s) => s.lastError !== null) ||
    !last ||
    last.error !== null ||
    last.plan.problems.length > 0;
  return failed ? EXIT.failure : EXIT.ok;
}

/** The daemon: refresh on expiry, write on change, serve metrics, stop cleanly on SIGTERM. */
export async function runCommand(
  options: CommonOptions & SinkOptions & { port?: number },
  io: Io,
  signals: NodeJS.EventEmitter = process,
): Promise<number> {
  const { config, log } = await setup(options, io);
  if (options.port !== undefined) config.server.port = options.port;
  // Handlers before anything slow: a SIGTERM while the caches fill stops start-up at once
  // instead of killing the process, or waiting for an API server that may never answer.
  const starting = new AbortController();
  let received: ((signal: string) => void) | null = null;
  const onSignal = (signal: string) => {
    if (received) return received(signal);
    log.info({ signal }, "shutting down during start-up");
    starting.abort(new Error(`${signal} during start-up`));
  };
  const onTerm = () => onSignal("SIGTERM");
  const onInt = () => onSignal("SIGINT");
  signals.on("SIGTERM", onTerm);
  signals.on("SIGINT", onInt);
  const metrics = new Metrics({ processMetrics: true });
  let daemon: Daemon;
  try {
    daemon = await startDaemon({
      config,
      log,
      metrics,
      ...createOutput(options, { config, log, metrics }),
      serve: true,
      signal: starting.signal,
    });
  } catch (err) {
    signals.off("SIGTERM", onTerm);
    signals.off("SIGINT", onInt);
    if (starting.signal.aborted) {
      log.info("stopped");
      return EXIT.ok;
    }
    throw err;
  }
  log.info(
    { url: daemon.server?.url, registries: config.registries.length, secrets: config.secrets.length },
    "regcred running",
  );
  return new Promise<number>((resolve) => {
    let stopping = false;
    // The handlers stay until the stop is done: a second signal (a process group signalled
    // directly and through a wrapper, or Ctrl-C twice) would otherwise take Node's default
    // action and kill the process mid-handover, with exit code 143 instead of 0.
    const done = (code: number) => {
      signals.off("SIGTERM", onTerm);
      signals.off("SIGINT", onInt);
      resolve(code);
    };
    const shutdown = (signal: string) => {
      if (stopping) {
        log.info({ signal }, "already shutting down");
        return;
      }
      stopping = true;
      log.info({ signal }, "shutting down: stopping timers, letting writes finish");
      // Kubernetes sends SIGKILL after the grace period; finish well inside 10 s regardless.
      const deadline = setTimeout(() => {
        log.warn("shutdown took longer than 9 s; exiting anyway");
        done(EXIT.ok);
      }, 9_000);
      deadline.unref();
      daemon.stop().then(
        () => {
          clearTimeout(deadline);
          log.info("stopped");
          done(EXIT.ok);
        },
        (err: unknown) => {
          clearTimeout(deadline);
          log.error({ err }, "error while stopping");
          done(EXIT.failure);
        },
      );
    };
    received = shutdown;
    // A signal that came between start-up's end and here.
    if (starting.signal.aborted) shutdown("SIGTERM");
  });
}
