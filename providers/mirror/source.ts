import { CoreV1Api, type KubeConfig, type V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { makeApi } from "../../src/kube/client.ts";
import { watchedCache } from "../../src/kube/informer.ts";

/** Where the mirror reads its source Secret: a GET, and a watch of that one Secret. */
export interface SecretSource {
  /** One read through the API server; rejects with the API error. */
  read(signal: AbortSignal): Promise<V1Secret>;
  /** Starts following the Secret; onEvent fires on every add, update or delete of it. */
  follow(onEvent: () => void): SecretWatch;
}

export interface SecretWatch {
  /** undefined until the first list succeeded; then the Secret as last seen, or null if absent. */
  current(): V1Secret | null | undefined;
  stop(): Promise<void>;
}

export interface MirrorClients {
  source(kc: KubeConfig, where: { namespace: string; name: string }, log: Logger): SecretSource;
}

export const defaultMirrorClients: MirrorClients = { source: kubeSecretSource };

/**
 * The watch is on the one Secret (fieldSelector metadata.name), so RBAC can be a Role with
 * resourceNames: the API server authorizes a name-selected list/watch as that name.
 */
export function kubeSecretSource(
  kc: KubeConfig,
  where: { namespace: string; name: string },
  log: Logger,
): SecretSource {
  const core = makeApi(kc, CoreV1Api, 15_000);
  const fieldSelector = `metadata.name=${where.name}`;
  return {
    read: () => core.readNamespacedSecret(where),
    follow(onEvent) {
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
