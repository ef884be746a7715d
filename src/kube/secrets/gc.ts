import type { V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { LABEL_TARGET } from "../../engine/plan.ts";
import type { Metrics } from "../../observe/metrics.ts";
import { messageOf, statusOf } from "../client.ts";
import { fenceDown } from "../fence.ts";
import { forEachLimit } from "../limit.ts";
import type { SecretStore } from "./store.ts";
import type { SecretWriter } from "./writer.ts";

export interface CollectorOptions {
  log: Logger;
  metrics: Metrics;
  concurrency: number;
  isOurs: (s: V1Secret) => boolean;
  /** Namespaces left exactly as they are (being deleted). */
  frozen: (namespace: string) => boolean;
}

/**
 * Deletes regcred's own Secrets that no target wants: by label, with the UID as precondition.
 *
 * It looks only where the store watches: the configured target names and the retired ones
 * (kubernetes.retiredSecrets). RBAC grants Secrets by name, so regcred cannot list "every
 * Secret with my label" to find those of a target taken out of the config; the retired list
 * is how that target's name stays granted and watched until its Secrets are gone. It is in the
 * config (and the chart's values), so it survives restarts and `regcred rbac -c` renders it.
 */
export class GarbageCollector {
  constructor(
    private readonly options: CollectorOptions,
    private readonly store: SecretStore,
    private readonly writer: SecretWriter,
  ) {}

  /**
   * Deletes what is regcred's and not wanted, except in targets of `keep`; only in `scope`'s
   * namespaces when given. Returns how many.
   */
  async collect(
    wanted: (namespace: string, name: string) => boolean,
    keep: ReadonlySet<string>,
    scope?: ReadonlySet<string>,
  ): Promise<number> {
    const { isOurs, frozen } = this.options;
    const doomed: V1Secret[] = [];
    for (const name of this.store.names()) {
      if (keep.has(name)) continue;
      const candidates = scope
        ? [...scope].flatMap((ns) => this.store.cached(ns, name) ?? [])
        : this.store.list(name);
      for (const s of candidates) {
        if (
          isOurs(s) &&
          !frozen(s.metadata!.namespace!) &&
          s.metadata?.labels?.[LABEL_TARGET] === name &&
          !wanted(s.metadata!.namespace!, name)
        ) {
          doomed.push(s);
        }
      }
    }
    let deleted = 0;
    await forEachLimit(doomed, this.options.concurrency, async (s) => {
      if (fenceDown()) return;
      const { name, namespace, uid } = s.metadata!;
      try {
        await this.writer.remove(namespace!, name!, uid!);
        deleted++;
        this.options.metrics.secretWrites.inc({ secret: name!, result: "deleted" });
        this.options.log.info(
          { namespace, secret: name },
          `deleted Secret ${namespace}/${name}: no target wants it`,
        );
      } catch (err) {
        if (statusOf(err) !== 404 && statusOf(err) !== 409) {
          this.options.log.error(
            { namespace, secret: name },
            `deleting Secret ${namespace}/${name} failed: ${messageOf(err)}`,
          );
        }
      }
    });
    return deleted;
  }
}
