import type { Logger } from "pino";
import type { Metrics } from "../observe/metrics.ts";
import { createDirSink } from "../output/dir-sink.ts";
import type { Sink } from "../output/sink.ts";
import { UsageError } from "./errors.ts";

/** Parses --output: `dir:PATH`, or `kube` (the Kubernetes writer). */
export function createSink(spec: string, deps: { log: Logger; metrics: Metrics }): Sink {
  if (spec.startsWith("dir:") && spec.length > 4) return createDirSink(spec.slice(4), deps);
  if (spec === "kube") {
    throw new UsageError(
      "--output kube: the Kubernetes writer is not in this build yet; use --output dir:PATH to write Secret manifests to a folder",
    );
  }
  throw new UsageError(`--output: expected dir:PATH or kube, got ${JSON.stringify(spec)}`);
}
