// The shared cluster is a real kube-apiserver 1.35 with etcd and kube-controller-manager.
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { sharedCluster } from "../../rig/shared.ts";

describe("rig: shared cluster", () => {
  const cluster = sharedCluster();
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  let ns: NamespaceSet;

  beforeAll(async () => {
    ns = await createNamespaces(cluster.kubeConfig(), "rig-cluster", 1);
  });
  afterAll(async () => {
    await ns?.cleanup();
  });

  it("reports version 1.35.x on /version", async () => {
    const r = await cluster.rawGet("/version");
    expect(r.status).toBe(200);
    const v = JSON.parse(r.body) as { major: string; minor: string; gitVersion: string };
    expect(v.gitVersion).toMatch(/^v1\.35\.\d+$/);
    expect(v.major).toBe("1");
    expect(v.minor).toBe("35");
    expect(cluster.info.version).toBe(v.gitVersion);
  });

  it("creates a namespace and a dockerconfigjson Secret and reads them back", async () => {
    const namespace = ns.names[0] ?? "";
    const read = await core.readNamespace({ name: namespace });
    expect(read.metadata?.labels?.["regcred-rig"]).toBe("true");
    expect(read.status?.phase).toBe("Active");

    const dockerconfig = JSON.stringify({ auths: { "registry.example:5000": { auth: "dTpw" } } });
    await core.createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: "pull", labels: { app: "rig-test" } },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": Buffer.from(dockerconfig).toString("base64") },
      },
    });
    const secret = await core.readNamespacedSecret({ namespace, name: "pull" });
    expect(secret.type).toBe("kubernetes.io/dockerconfigjson");
    expect(Buffer.from(secret.data?.[".dockerconfigjson"] ?? "", "base64").toString()).toBe(dockerconfig);
    expect(secret.metadata?.uid).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("kube-controller-manager gives a new namespace its default ServiceAccount and completes deletion", async () => {
    const extra = await createNamespaces(cluster.kubeConfig(), "rig-kcm", 1);
    const namespace = extra.names[0] ?? "";
    const deadline = Date.now() + 30_000;
    let found = false;
    while (!found && Date.now() < deadline) {
      try {
        const sa = await core.readNamespacedServiceAccount({ namespace, name: "default" });
        found = sa.metadata?.name === "default";
      } catch {
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    expect(found).toBe(true);
    // The namespace controller empties and removes a deleted namespace (it would stay
    // Terminating forever without it); cleanup waits for the 404.
    await extra.cleanup({ waitGone: true });
    await expect(core.readNamespace({ name: namespace })).rejects.toMatchObject({ code: 404 });
  });
});
