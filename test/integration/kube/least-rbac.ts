// regcred's own identity for integration tests: a ServiceAccount bound to exactly the rules of
// src/kube/rbac.ts (what the chart installs), authenticated with a TokenRequest token. Suites
// run the daemon with it, so every behaviour they prove is proven under least privilege.
import { KubernetesObjectApi, type KubeConfig, type KubernetesObject } from "@kubernetes/client-node";
import type { ClusterClient } from "../../rig/cluster.ts";
import { createNamespaces } from "../../rig/namespaces.ts";
import { rbacManifests } from "../../../src/kube/rbac.ts";

export interface LeastPrivilege {
  kc: KubeConfig;
  kubeconfigPath: string;
  /** regcred's own namespace (its ServiceAccount and Lease live here). */
  namespace: string;
  leaseName: string;
  cleanup(): Promise<void>;
}

export async function leastPrivilege(
  cluster: ClusterClient,
  run: string,
  opts: { healing?: boolean } = {},
): Promise<LeastPrivilege> {
  const admin = cluster.kubeConfig();
  const home = await createNamespaces(admin, `regcred-sys-${run}`, 1);
  const namespace = home.names[0]!;
  const leaseName = `regcred-${run}`;
  const manifests = rbacManifests({
    namespace,
    name: `regcred-${run}`,
    leaseName,
    healing: opts.healing ?? false,
  }) as KubernetesObject[];
  const objects = KubernetesObjectApi.makeApiClient(admin);
  for (const m of manifests) await objects.create(m);
  const token = await cluster.serviceAccountToken(namespace, "regcred", { expirationSeconds: 3600 });
  return {
    kc: cluster.kubeConfigForToken(token, "regcred-sa"),
    kubeconfigPath: cluster.writeKubeconfigForToken(token),
    namespace,
    leaseName,
    async cleanup() {
      for (const m of manifests) {
        if (m.kind?.startsWith("Cluster")) await objects.delete(m).catch(() => undefined);
      }
      await home.cleanup();
    },
  };
}
