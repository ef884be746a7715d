import type { KubeConfig } from "@kubernetes/client-node";
import type { Logger } from "pino";
import type { Config } from "../config/schema.ts";
import type { Metrics } from "../observe/metrics.ts";
import type { NamespaceSource, Sink } from "../engine/sink.ts";
import { NamespaceWatcher } from "./namespaces.ts";
import { KubeSecretSink, type EventSink } from "./secret-sink.ts";
import { ServiceAccountReconciler } from "./serviceaccounts.ts";
import { readLastGood } from "./last-good.ts";
import { KubeApi } from "./api.ts";

/** The Kubernetes writer: watched namespaces in, Secrets and ServiceAccount entries out. */
export function createKubeOutput(deps: {
  kc: KubeConfig;
  config: Config;
  log: Logger;
  metrics: Metrics;
  events?: EventSink;
}): { sink: Sink; namespaces: NamespaceSource; kube: KubeConfig } {
  const { kc, config, log, metrics, events } = deps;
  const instance = config.kubernetes.instance;
  const serviceAccounts = new ServiceAccountReconciler(kc, log, instance);
  const namespaces = new NamespaceWatcher(kc, log);
  const secrets = new KubeSecretSink({
    kc,
    log,
    metrics,
    targets: config.secrets,
    retired: config.kubernetes.retiredSecrets,
    serviceAccounts,
    instance,
    concurrency: config.kubernetes.concurrency,
    namespaces,
    ...(events ? { events } : {}),
  });
  const api = new KubeApi(kc);
  const sink: Sink = {
    description: secrets.description,
    scoped: secrets.scoped,
    apply: (plan, signal, scope) => secrets.apply(plan, signal, scope),
    lastGood: () =>
      readLastGood(secrets.managed(), (namespace, name) => api.readSecret(namespace, name), log),
    synced: async () => {
      await Promise.all([secrets.synced(), serviceAccounts.synced()]);
    },
    onDrift: (listener) => {
      secrets.onDrift(listener);
      serviceAccounts.onDrift(listener);
    },
    stop: async () => {
      await Promise.all([secrets.stop(), serviceAccounts.stop()]);
    },
  };
  return { sink, namespaces, kube: kc };
}
