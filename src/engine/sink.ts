import type { Credential } from "../../providers/contract.ts";
import type { Namespace, Plan } from "./plan.ts";

export interface SinkResult {
  created: number;
  updated: number;
  unchanged: number;
  deleted: number;
  failed: number;
}

/** Where desired Secrets go: a directory now, the Kubernetes API server later. */
export interface Sink {
  readonly description: string;
  /**
   * Make the destination hold exactly the plan's Secrets (only regcred's own are ever removed).
   * `signal` fences the pass: once it aborts (leadership lost) no further request is sent and
   * requests in flight are aborted.
   */
  apply(plan: Plan, signal?: AbortSignal): Promise<SinkResult>;
  /**
   * The credentials the destination still holds per registry, with their expiry, as regcred
   * wrote them: a restarted or newly elected regcred starts from them, never from nothing.
   */
  lastGood?(): Promise<ReadonlyMap<string, Credential[]>>;
  /** Resolves when the sink knows what the destination holds (watch caches filled). */
  synced?(): Promise<void>;
  /** Called when the destination drifts from the last plan (a Secret deleted or edited). */
  onDrift?(listener: () => void): void;
  stop?(): Promise<void>;
}

/** The namespaces targets may write into, and news of their changes. */
export interface NamespaceSource {
  list(): readonly Namespace[];
  /** Whether selection (globs, label selector) applies; false for namespaces named on the command line. */
  readonly selective: boolean;
  onChange(listener: () => void): () => void;
  synced?(): Promise<void>;
  stop?(): Promise<void>;
}

export function staticNamespaces(names: readonly string[]): NamespaceSource {
  const list = names.map((name) => ({ name, labels: {} }));
  return { list: () => list, selective: false, onChange: () => () => {} };
}

export function emptyResult(): SinkResult {
  return { created: 0, updated: 0, unchanged: 0, deleted: 0, failed: 0 };
}
