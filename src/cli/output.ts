import type { Logger } from "pino";
import type { Metrics } from "../observe/metrics.ts";
import { createDirSink } from "../output/dir-sink.ts";
import { staticNamespaces, type NamespaceSource, type Sink } from "../engine/sink.ts";
import type { Config } from "../config/schema.ts";
import type { KubeConfig } from "@kubernetes/client-node";
import { loadKubeConfig } from "../kube/client.ts";
import { createKubeOutput } from "../kube/output.ts";
import { EventRecorder } from "../kube/events.ts";
import { hostname } from "node:os";
import { UsageError } from "./errors.ts";

export interface OutputOptions {
  output: string;
  namespace: string[];
  kubeconfig?: string;
}

/**
 * Parses --output: `kube` (the Kubernetes writer, namespaces from a watch), or `dir:PATH`
 * (manifests in a folder, namespaces named with --namespace).
 */
export function createOutput(
  options: OutputOptions,
  deps: { config: Config; log: Logger; metrics: Metrics },
): {
  sink: Sink;
  namespaces: NamespaceSource;
  kube?: KubeConfig;
  onRefreshFailure?: (registry: string, reason: string, message: string) => void;
} {
  const spec = options.output;
  if (spec.startsWith("dir:") && spec.length > 4) {
    return { sink: createDirSink(spec.slice(4), deps), namespaces: staticNamespaces(options.namespace) };
  }
  if (spec === "kube") {
    let kc;
    try {
      kc = loadKubeConfig(options.kubeconfig);
    } catch (err) {
      throw new UsageError(`--output kube: ${err instanceof Error ? err.message : String(err)}`);
    }
    const events = deps.config.kubernetes.events
      ? new EventRecorder({ kc, component: "regcred", instance: hostname(), log: deps.log })
      : undefined;
    const pod =
      process.env.POD_NAME && process.env.POD_NAMESPACE
        ? { name: process.env.POD_NAME, namespace: process.env.POD_NAMESPACE }
        : null;
    return {
      ...createKubeOutput({ kc, ...deps, ...(events ? { events } : {}) }),
      // A failed refresh is about regcred itself: the Event goes on its own Pod, when it knows it.
      ...(events && pod
        ? {
            onRefreshFailure: (registry: string, reason: string, message: string) =>
              events.warning(
                { kind: "Pod", apiVersion: "v1", ...pod },
                "RefreshFailed",
                `registry ${registry}: ${reason}: ${message}`,
              ),
          }
        : {}),
    };
  }
  throw new UsageError(`--output: expected kube or dir:PATH, got ${JSON.stringify(spec)}`);
}
