import { CoreV1Api, type KubeConfig, type V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { LABEL_INSTANCE, LABEL_MANAGED_BY, LABEL_TARGET, type DesiredSecret } from "../../engine/plan.ts";
import type { Metrics } from "../../observe/metrics.ts";
import { makeApi, messageOf, statusOf, withRetry } from "../client.ts";
import { fenceDown } from "../fence.ts";
import { forEachLimit } from "../limit.ts";
import { key } from "./paths.ts";
import type { SecretStore } from "./store.ts";
import type { SecretWriter } from "./writer.ts";

export interface CollectorOptions {
  kc: KubeConfig;
  log: Logger;
  metrics: Metrics;
  instance: string;
  /** Target names in the config. */
  configured: ReadonlySet<string>;
  concurrency: number;
  isOurs: (s: V1Secret) => boolean;
  /** Namespaces left exactly as they are (being deleted). */
  frozen: (namespace: string) => boolean;
}

/** Deletes regcred's own Secrets that no target wants: by label, with the UID as precondition. */
export class GarbageCollector {
  private readonly core: CoreV1Api;
  private swept = false;

  constructor(
    private readonly options: CollectorOptions,
    private readonly store: SecretStore,
    private readonly writer: SecretWriter,
  ) {
    this.core = makeApi(options.kc, CoreV1Api);
  }

  /** Deletes what is regcred's and not desired, except in targets of `keep`; returns how many. */
  async collect(desired: ReadonlyMap<string, DesiredSecret>, keep: ReadonlySet<string>): Promise<number> {
    const { isOurs, frozen } = this.options;
    const doomed: V1Secret[] = [];
    for (const name of this.store.names()) {
      if (keep.has(name)) continue;
      for (const s of this.store.list(name)) {
        if (
          isOurs(s) &&
          !frozen(s.metadata!.namespace!) &&
          s.metadata?.labels?.[LABEL_TARGET] === name &&
          !desired.has(key(s.metadata!.namespace!, name))
        ) {
          doomed.push(s);
        }
      }
    }
    if (!this.swept) {
      // Once per start: Secrets of targets that have left the config are not in any cache.
      const all = await withRetry(
        "list regcred's Secrets",
        () =>
          this.core.listSecretForAllNamespaces({
            labelSelector: `${LABEL_MANAGED_BY}=regcred,${LABEL_INSTANCE}=${this.options.instance}`,
          }),
        { log: this.options.log },
      );
      for (const s of all.items) {
        const target = s.metadata?.labels?.[LABEL_TARGET];
        if (target && !this.options.configured.has(target) && !frozen(s.metadata!.namespace!)) doomed.push(s);
      }
      this.swept = true;
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
