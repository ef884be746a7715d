// One way to build a provider in a test and to run it under the real Refresher, whatever the
// kind: settings through the definition's schema (as the daemon parses a config), then create
// (or the provider's own factory, when a test injects clients), with a real secret reader and a
// real redacting logger.
import type {
  ClusterAccess,
  Provider,
  ProviderContext,
  ProviderDefinition,
} from "../../providers/contract.ts";
import { createSecretReader } from "../../src/config/secret-reader.ts";
import { Refresher, type RefresherDeps } from "../../src/engine/refresher.ts";
import { DEFAULT_REFRESH, type RefreshPolicy } from "../../src/base/refresh.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { captureLogger } from "./log.ts";

type Capture = ReturnType<typeof captureLogger>;
type SettingsOf<D> = D extends ProviderDefinition<infer S> ? S : never;

export interface BuildOptions<S> {
  /** The registries[] entry's name; default: the kind. */
  name?: string;
  /** Where relative secret references resolve (the config file's folder). */
  dir?: string;
  /** The environment env references read; default: none (a test never reads the real one). */
  env?: NodeJS.ProcessEnv;
  capture?: Capture;
  cluster?: ClusterAccess;
  /** The provider's own factory with injected clients; default: the definition's create. */
  create?: (settings: S, ctx: ProviderContext) => Provider;
}

export interface Built<S> extends Capture {
  provider: Provider;
  settings: S;
  ctx: ProviderContext;
  capture: Capture;
}

/** A provider from config as a user writes it, parsed by its definition's schema. */
export function buildProvider<D extends ProviderDefinition<{ name: string; provider: string }>>(
  definition: D,
  entry: Record<string, unknown>,
  options: BuildOptions<SettingsOf<D>> = {},
): Built<SettingsOf<D>> {
  const settings = definition.schema.parse({
    name: options.name ?? definition.kind,
    provider: definition.kind,
    ...entry,
  }) as SettingsOf<D>;
  const capture = options.capture ?? captureLogger();
  const ctx: ProviderContext = {
    log: capture.log,
    secrets: createSecretReader(options.dir ?? "/", options.env ?? {}),
    ...(options.cluster ? { cluster: options.cluster } : {}),
  };
  const create = options.create ?? (definition.create as (s: SettingsOf<D>, c: ProviderContext) => Provider);
  return { provider: create(settings, ctx), settings, ctx, capture, ...capture };
}

export interface RunOptions {
  name?: string;
  kind?: string;
  policy?: Partial<RefreshPolicy>;
  capture?: Capture;
  /** The Refresher's other dependencies; random defaults to the midpoint, so jitter * (2 * 0.5 - 1) = 0. */
  deps?: Partial<Omit<RefresherDeps, "metrics">>;
}

/** The provider under the real Refresher, with real metrics and a capturing logger. */
export function underRefresher(provider: Provider, options: RunOptions = {}) {
  const capture = options.capture ?? captureLogger();
  const metrics = new Metrics();
  const name = options.name ?? options.kind ?? "registry";
  const refresher = new Refresher(
    [{ name, kind: options.kind ?? name, policy: { ...DEFAULT_REFRESH, ...options.policy }, provider }],
    { log: capture.log, random: () => 0.5, ...options.deps, metrics },
  );
  return { refresher, metrics, capture, ...capture };
}
