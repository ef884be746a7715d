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
  private readonly listeners: Array<() => void> = [];

  constructor(private readonly isOurs: (s: V1Secret) => boolean) {}

  onDrift(listener: () => void): void {
    this.listeners.push(listener);
  }

  /** The Secrets the cluster should hold from now on. */
  want(desired: Map<string, DesiredSecret>): void {
    this.desired = desired;
  }

  observe(type: SecretEvent, obj: V1Secret): void {
    const want = this.desired.get(key(obj.metadata?.namespace ?? "", obj.metadata?.name ?? ""));
    let drift: boolean;
    if (type === "delete") {
      drift = want !== undefined;
    } else if (!want) {
      drift = this.isOurs(obj); // ours but unwanted: garbage to collect
    } else {
      drift = !this.isOurs(obj) ? want.body.target.adopt : !matches(obj, want);
    }
    if (drift) this.listeners.forEach((l) => l());
  }
}
