import type { V1Secret } from "@kubernetes/client-node";
import type { DesiredSecret } from "../../engine/plan.ts";
import { matches } from "./compare.ts";
import { key } from "./paths.ts";
import type { SecretEvent } from "./store.ts";

/**
 * Tells from watch events when the cluster has left the desired state: a wanted Secret deleted
 * or edited, a foreign one in the way gone or adoptable, or one of regcred's own that nothing
 * wants any more (garbage to collect). The desired state is the last plan the writer was given.
 */
export class DriftDetector {
  private desired = new Map<string, DesiredSecret>();
  private readonly listeners: Array<(namespace: string) => void> = [];

  constructor(private readonly isOurs: (s: V1Secret) => boolean) {}

  /** Told of drift, with the namespace where it happened. */
  onDrift(listener: (namespace: string) => void): void {
    this.listeners.push(listener);
  }

  /**
   * The Secrets the cluster should hold from now on: all of them, or (scope) those namespaces'
   * (of the names the writer manages), the others' as they were.
   */
  want(
    secrets: readonly DesiredSecret[],
    scope?: { namespaces: ReadonlySet<string>; names: Iterable<string> },
  ): void {
    if (!scope) {
      this.desired = new Map(secrets.map((s) => [key(s.namespace, s.name), s]));
      return;
    }
    for (const ns of scope.namespaces) for (const name of scope.names) this.desired.delete(key(ns, name));
    for (const s of secrets) this.desired.set(key(s.namespace, s.name), s);
  }

  /** Whether the Secret is one the cluster should hold. */
  wanted(namespace: string, name: string): boolean {
    return this.desired.has(key(namespace, name));
  }

  observe(type: SecretEvent, obj: V1Secret): void {
    const namespace = obj.metadata?.namespace ?? "";
    const want = this.desired.get(key(namespace, obj.metadata?.name ?? ""));
    let drift: boolean;
    if (type === "delete") {
      drift = want !== undefined;
    } else if (!want) {
      drift = this.isOurs(obj); // ours but unwanted: garbage to collect
    } else {
      drift = !this.isOurs(obj) ? want.body.target.adopt : !matches(obj, want);
    }
    if (drift) this.listeners.forEach((l) => l(namespace));
  }
}
