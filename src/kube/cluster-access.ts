import type { KubeConfig, V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import {
  ClusterError,
  type ClusterAccess,
  type ClusterSecret,
  type ClusterSecretWatch,
} from "../../providers/contract.ts";
import { KubeApi } from "./api.ts";
import { messageOf, statusOf } from "./client.ts";
import { watchedCache } from "./informer.ts";

/**
 * The cluster capability handed to providers (ProviderContext.cluster): the mirror provider
 * reads and follows its source Secret through it and knows nothing of the API client.
 */
export function kubeClusterAccess(kc: KubeConfig): ClusterAccess {
  const api = new KubeApi(kc, 15_000);
  return { secret: (where, log) => kubeSecret(kc, api, where, log) };
}

/**
 * The watch is on the one Secret (fieldSelector metadata.name), so RBAC can be a Role with
 * resourceNames: the API server authorizes a name-selected list/watch as that name.
 */
function kubeSecret(
  kc: KubeConfig,
  api: KubeApi,
  where: { namespace: string; name: string },
  log: Logger,
): ClusterSecret {
  const fieldSelector = `metadata.name=${where.name}`;
  return {
    read: (signal) =>
      api
        .readSecret(where.namespace, where.name, signal)
        .catch((err: unknown) => Promise.reject(asClusterError(err))),
    follow(onEvent): ClusterSecretWatch {
      const cache = watchedCache<V1Secret>(
        kc,
        `Secret ${where.namespace}/${where.name}`,
        `/api/v1/namespaces/${where.namespace}/secrets`,
        () => api.listSecrets(where.namespace, { fieldSelector }),
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
