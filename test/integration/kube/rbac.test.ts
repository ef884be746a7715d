// regcred with nothing but the RBAC of src/kube/rbac.ts (what the chart installs): a real
// ServiceAccount token from the TokenRequest API, bound to those rules and nothing else.
import { randomBytes } from "node:crypto";
import { CoreV1Api, KubernetesObjectApi, type KubernetesObject } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { rbacManifests } from "../../../src/kube/rbac.ts";
import { startDaemon, type Daemon } from "../../../src/daemon.ts";
import { createKubeOutput } from "../../../src/kube/output.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { configFrom } from "../../helpers/config.ts";
import { captureLogger } from "../../helpers/log.ts";
import { ScriptedProvider, ok } from "../../helpers/fake-provider.ts";
import { find, parsePrometheus } from "../../helpers/prom.ts";

const cluster = sharedCluster();
const admin = cluster.kubeConfig();
const core = admin.makeApiClient(CoreV1Api);

describe("least RBAC", () => {
  const run = randomBytes(3).toString("hex");
  let home: NamespaceSet;
  let targets: NamespaceSet;
  let token = "";
  const manifests = () => rbacManifests({ namespace: home.names[0]!, name: `regcred-${run}` });

  beforeAll(async () => {
    home = await createNamespaces(admin, `rbac-home-${run}`, 1);
    targets = await createNamespaces(admin, `rbac-${run}`, 3, { "regcred-test": run });
    const objects = KubernetesObjectApi.makeApiClient(admin);
    for (const m of manifests()) await objects.create(m as KubernetesObject);
    token = await cluster.serviceAccountToken(home.names[0]!, "regcred", { expirationSeconds: 3600 });
  });
  afterAll(async () => {
    const objects = KubernetesObjectApi.makeApiClient(admin);
    for (const m of manifests()) {
      if (m.kind?.startsWith("Cluster")) await objects.delete(m as KubernetesObject).catch(() => undefined);
    }
    await Promise.all([home?.cleanup(), targets?.cleanup()]);
  });

  let lastLines: string[] = [];
  let lastMetrics: Metrics;
  // Counted over the daemon's life: a ServiceAccount appearing can add a pass, so the last
  // pass alone is not the whole story.
  const writes = async (result: string, secret: string) =>
    find(parsePrometheus(await lastMetrics.text()), "regcred_secret_writes_total", { secret, result })[0]
      ?.value ?? 0;
  async function daemonWith(yaml: string): Promise<Daemon> {
    const { log, lines } = captureLogger("info");
    lastLines = lines;
    const metrics = (lastMetrics = new Metrics());
    const config = configFrom(yaml);
    const kc = cluster.kubeConfigForToken(token, "regcred-sa");
    const daemon = await startDaemon({
      config,
      log,
      metrics,
      ...createKubeOutput({ kc, config, log, metrics }),
      providers: { hub: new ScriptedProvider([ok("rbac-password", new Date(Date.now() + 3_600_000))]) },
    });
    await daemon.refresher.settled();
    await daemon.sync.idle();
    return daemon;
  }

  it("is enough to write Secrets, patch ServiceAccounts and collect garbage", async () => {
    const target = `pull-${run}`;
    const yaml = (name: string) => `
registries:
  - { name: hub, provider: static, registries: [docker.io], username: u, passwordFrom: { env: UNUSED } }
secrets:
  - name: ${name}
    registries: [hub]
    namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } }
    serviceAccounts: [default]
kubernetes: { instance: rbac-${run} }
`;
    let daemon = await daemonWith(yaml(target));
    expect(daemon.sync.last?.error).toBeNull();
    expect(await writes("created", target)).toBe(3);
    expect(await writes("failed", target)).toBe(0);
    for (const namespace of targets.names) {
      await vi.waitFor(async () => {
        const sa = await core.readNamespacedServiceAccount({ namespace, name: "default" });
        expect(sa.imagePullSecrets?.map((e) => e.name)).toEqual([target]);
      });
    }
    await daemon.stop();

    // A new config without that target: its Secrets and entries are collected.
    daemon = await daemonWith(yaml(`other-${run}`));
    expect(await writes("created", `other-${run}`)).toBe(3);
    expect(await writes("deleted", target)).toBe(3);
    expect(daemon.sync.last?.error).toBeNull();
    expect(lastLines.join("")).not.toContain("not written");
    const left = await core.listSecretForAllNamespaces({ fieldSelector: `metadata.name=${target}` });
    expect(left.items).toEqual([]);
    await daemon.stop();
  });

  it("does not reach beyond it", async () => {
    const sa = cluster.kubeConfigForToken(token, "regcred-sa").makeApiClient(CoreV1Api);
    await expect(sa.listConfigMapForAllNamespaces()).rejects.toMatchObject({ code: 403 });
    await expect(sa.listPodForAllNamespaces()).rejects.toMatchObject({ code: 403 });
    await expect(sa.createNamespace({ body: { metadata: { name: `nope-${run}` } } })).rejects.toMatchObject({
      code: 403,
    });
  });
});
