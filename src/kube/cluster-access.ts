import { CoreV1Api, type KubeConfig, type V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import {
  ClusterError,
  type ClusterAccess,
  type ClusterSecret,
  type ClusterSecretWatch,
} from "../../providers/contract.ts";
import { abortable } from "../base/abortable.ts";
import { makeApi, messageOf, statusOf } from "./client.ts";
import { watchedCache } from "./informer.ts";

/**
 * The cluster capability handed to providers (ProviderContext.cluster): the mirror provider
 * reads and follows its source Secret through it and knows nothing of the API client.
 */
export function kubeClusterAccess(kc: KubeConfig): ClusterAccess {
  const core = makeApi(kc, CoreV1Api, 15_000);
  return { secret: (where, log) => kubeSecret(kc, core, where, log) };
}

/**
 * The watch is on the one Secret (fieldSelector metadata.name), so RBAC can be a Role with
 * resourceNames: the API server authorizes a name-selected list/watch as that name.
 */
function kubeSecret(
  kc: KubeConfig,
  core: CoreV1Api,
  where: { namespace: string; name: string },
  log: Logger,
): ClusterSecret {
  const fieldSelector = `metadata.name=${where.name}`;
  return {
    // The generated client takes no signal per call: the race ends the read when the mint is aborted.
    read: (signal) =>
      abortable(
        core.readNamespacedSecret(where).catch((err: unknown) => Promise.reject(asClusterError(err))),
        signal,
      ),
    follow(onEvent): ClusterSecretWatch {
      const cache = watchedCache<V1Secret>(
        kc,
        `Secret ${where.namespace}/${where.name}`,
        `/api/v1/namespaces/${where.namespace}/secrets`,
        () => core.listNamespacedSecret({ namespace: where.namespace, fieldSelector }),
        { log, fieldSelector },
      );
      let synced = false;
      void cache.synced().then(() => (synced = true));
      cache.onEvent(() => onEvent());
      return {
        current: () => (synced ? (cache.get(where.name, where.namespace) ?? null) : undefined),
        stop: () => cache.stop(),
      };
    },
  };
}

/** An API client failure as the contract's ClusterError; aborts and timeouts pass untouched. */
export function asClusterError(err: unknown): unknown {
  if (err instanceof Error && (err.name === "AbortError" || err.name === "TimeoutError")) return err;
  return new ClusterError(statusOf(err), messageOf(err), { cause: err });
}
