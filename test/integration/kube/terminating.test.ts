// A namespace being deleted: regcred writes nothing there and removes nothing there, however
// long it stays Terminating (a finalizer waiting; its Pods still pull with what they have). A
// cluster of its own without kube-controller-manager, so a deleted namespace stays Terminating.
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startCluster, type Cluster } from "../../rig/cluster.ts";
import { ScriptedProvider, ok } from "../../helpers/fake-provider.ts";
import { leastPrivilege } from "./least-rbac.ts";
import { hours, passwordOf, pullSecretsOf, runDaemon, secretIn, type Running } from "./kit.ts";

describe("a terminating namespace", () => {
  let cluster: Cluster;
  let core: CoreV1Api;
  let running: Running;
  const provider = new ScriptedProvider([ok("before-delete", hours(12))]);

  beforeAll(async () => {
    cluster = await startCluster({ controllerManager: false });
    core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    for (const name of ["leaving", "staying"]) {
      await core.createNamespace({ body: { metadata: { name, labels: { pulls: "private" } } } });
      await core.createNamespacedServiceAccount({ namespace: name, body: { metadata: { name: "default" } } });
    }
    const regcred = await leastPrivilege(cluster, "term", ["pull"]);
    running = await runDaemon(
      regcred.kc,
      provider,
      `
secrets:
  - name: pull
    registries: [hub]
    namespaces: { selector: { matchLabels: { pulls: private } } }
    serviceAccounts: [default]
refresh: { jitter: 0 }
`,
    );
  }, 300_000);

  afterAll(async () => {
    await running?.daemon.stop();
    await cluster?.stop();
  });

  it("is skipped: not written, nothing deleted, its ServiceAccount entry kept", async () => {
    for (const namespace of ["leaving", "staying"]) {
      expect(passwordOf(await secretIn(core, namespace, "pull"))).toBe("before-delete");
      await vi.waitFor(async () => expect(await pullSecretsOf(core, namespace)).toContain("pull"), {
        timeout: 10_000,
      });
    }
    const before = (await secretIn(core, "leaving", "pull"))!;

    await core.deleteNamespace({ name: "leaving" });
    await vi.waitFor(
      async () => expect((await core.readNamespace({ name: "leaving" })).status?.phase).toBe("Terminating"),
      { timeout: 10_000 },
    );
    provider.script([ok("after-delete", hours(12))]);
    await running.daemon.refresher.refresh("hub");
    await running.daemon.sync.idle();
    await vi.waitFor(
      async () => expect(passwordOf(await secretIn(core, "staying", "pull"))).toBe("after-delete"),
      {
        timeout: 10_000,
      },
    );
    // A few more passes, as drift and retries would bring.
    for (let i = 0; i < 3; i++) {
      running.daemon.sync.trigger();
      await running.daemon.sync.idle();
    }

    const after = await secretIn(core, "leaving", "pull");
    expect(after?.metadata?.uid).toBe(before.metadata?.uid);
    expect(after?.metadata?.resourceVersion).toBe(before.metadata?.resourceVersion);
    expect(passwordOf(after)).toBe("before-delete");
    expect(await pullSecretsOf(core, "leaving")).toContain("pull");
    expect(
      running
        .records()
        .filter((r) => (r.level === "error" || r.level === "warn") && JSON.stringify(r).includes("leaving")),
    ).toEqual([]);
  }, 120_000);
});
