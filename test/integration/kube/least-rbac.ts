// regcred's own identity for integration tests: a ServiceAccount bound to exactly the rules of
// src/kube/rbac.ts (what the chart installs) for the Secret names the suite's configs manage,
// authenticated with a TokenRequest token. Suites run the daemon with it, so every behaviour
// they prove is proven under least privilege: Secrets of any other name are out of its reach.
import {
  AuthorizationV1Api,
  KubernetesObjectApi,
  RbacAuthorizationV1Api,
  type KubeConfig,
  type KubernetesObject,
  type V1ClusterRole,
} from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import type { ClusterClient } from "../../rig/cluster.ts";
import { createNamespaces } from "../../rig/namespaces.ts";
import { clusterRules, rbacManifests } from "../../../src/kube/rbac.ts";

export interface LeastPrivilege {
  kc: KubeConfig;
  kubeconfigPath: string;
  /** regcred's own namespace (its ServiceAccount and Lease live here). */
  namespace: string;
  leaseName: string;
  /**
   * Grants these Secret names too (managedSecretNames of a config the suite is about to run),
   * as rendering the RBAC for a config that also names them would; resolves once the API
   * server's authorizer says so.
   */
  grant(secretNames: readonly string[]): Promise<void>;
  cleanup(): Promise<void>;
}

/** `secretNames`: what managedSecretNames(config) gives for the suite's configs. */
export async function leastPrivilege(
  cluster: ClusterClient,
  run: string,
  secretNames: readonly string[],
  opts: { healing?: boolean } = {},
): Promise<LeastPrivilege> {
  const admin = cluster.kubeConfig();
  const home = await createNamespaces(admin, `regcred-sys-${run}`, 1);
  const namespace = home.names[0]!;
  const leaseName = `regcred-${run}`;
  const name = `regcred-${run}`;
  const granted = new Set(secretNames);
  const manifests = rbacManifests({
    namespace,
    name,
    leaseName,
    secretNames: [...granted].sort(),
    healing: opts.healing ?? false,
  });
  const objects = KubernetesObjectApi.makeApiClient(admin);
  for (const m of manifests) await objects.create(m as KubernetesObject);
  const token = await cluster.serviceAccountToken(namespace, "regcred", { expirationSeconds: 3600 });
  const kc = cluster.kubeConfigForToken(token, "regcred-sa");
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  const reviews = kc.makeApiClient(AuthorizationV1Api);
  const allowed = async (secret: string) =>
    (
      await reviews.createSelfSubjectAccessReview({
        body: { spec: { resourceAttributes: { resource: "secrets", verb: "get", name: secret } } },
      })
    ).status?.allowed === true;
  return {
    kc,
    kubeconfigPath: cluster.writeKubeconfigForToken(token),
    namespace,
    leaseName,
    async grant(more) {
      const added = more.filter((n) => !granted.has(n));
      if (added.length === 0) return;
      for (const n of added) granted.add(n);
      const role: V1ClusterRole = await rbac.readClusterRole({ name });
      role.rules = clusterRules({ secretNames: [...granted].sort(), healing: opts.healing ?? false });
      await rbac.replaceClusterRole({ name, body: role });
      // The authorizer learns RBAC changes by watch: wait until it has.
      const deadline = Date.now() + 10_000;
      for (const n of added) {
        while (!(await allowed(n))) {
          if (Date.now() > deadline) throw new Error(`RBAC grant of Secret ${n} not in effect after 10 s`);
          await sleep(50);
        }
      }
    },
    async cleanup() {
      for (const m of manifests) {
        if (m.kind?.startsWith("Cluster")) await objects.delete(m as KubernetesObject).catch(() => undefined);
      }
      await home.cleanup();
    },
  };
}
