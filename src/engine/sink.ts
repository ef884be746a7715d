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
  apply(plan: Plan, signal?: AbortSignal, scope?: ReadonlySet<string>): Promise<SinkResult>;
  /**
   * Whether apply takes a scope: a set of namespaces the plan is limited to. Then only those
   * namespaces are made to match it (their Secrets, their garbage, their ServiceAccounts);
   * the rest stays as the last full plan left it.
   */
  readonly scoped?: boolean;
  /**
   * The credentials the destination still holds per registry, with their expiry, as regcred
   * wrote them: a restarted or newly elected regcred starts from them, never from nothing.
   */
  lastGood?(): Promise<ReadonlyMap<string, Credential[]>>;
  /** Resolves when the sink knows what the destination holds (watch caches filled). */
  synced?(): Promise<void>;
  /**
   * Called when the destination drifts from the last plan (a Secret deleted or edited), with
   * the namespace where it did when that is known.
   */
  onDrift?(listener: (namespace?: string) => void): void;
  stop?(): Promise<void>;
}

/** The namespaces targets may write into, and news of their changes. */
export interface NamespaceSource {
  list(): readonly Namespace[];
  /** One namespace, if it exists and may be written into (not being deleted). */
  get?(name: string): Namespace | undefined;
  /** Whether selection (globs, label selector) applies; false for namespaces named on the command line. */
  readonly selective: boolean;
  /** Told of a change, with the namespace that changed when that is known. */
  onChange(listener: (namespace?: string) => void): () => void;
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
