// The API server goes away for 30 s mid-run and comes back: regcred converges by itself,
// without a restart. A cluster of its own, since the shared one cannot be stopped.
import { CoreV1Api, type V1Secret } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startCluster, type Cluster } from "../../rig/cluster.ts";
import { startDaemon, type Daemon } from "../../../src/daemon.ts";
import { createKubeOutput } from "../../../src/kube/output.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { configFrom } from "../../helpers/config.ts";
import { captureLogger } from "../../helpers/log.ts";
import { ScriptedProvider, ok } from "../../helpers/fake-provider.ts";
import { leastPrivilege } from "./least-rbac.ts";

describe("API server outage", () => {
  let cluster: Cluster;
  let daemon: Daemon;
  const provider = new ScriptedProvider([ok("before-outage", new Date(Date.now() + 3_600_000))]);
  const { log, records } = captureLogger("info");

  beforeAll(async () => {
    cluster = await startCluster({ controllerManager: false });
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    for (const name of ["team-a", "team-b"]) {
      await core.createNamespace({ body: { metadata: { name, labels: { pulls: "private" } } } });
    }
    // regcred runs with only the least RBAC, as its ServiceAccount.
    const regcred = await leastPrivilege(cluster, "outage", ["pull"]);
    const metrics = new Metrics();
    const config = configFrom(`
registries:
  - { name: hub, provider: static, registries: [docker.io], username: u, passwordFrom: { env: UNUSED } }
secrets:
  - { name: pull, registries: [hub], namespaces: { selector: { matchLabels: { pulls: private } } } }
refresh: { jitter: 0, retry: { initial: 1s, max: 4s } }
`);
    daemon = await startDaemon({
      config,
      log,
      metrics,
      ...createKubeOutput({ kc: regcred.kc, config, log, metrics }),
      providers: { hub: provider },
    });
    await daemon.refresher.settled();
    await daemon.sync.idle();
  }, 300_000);

  afterAll(async () => {
    await daemon?.stop();
    await cluster?.stop();
  });

  const password = (s: V1Secret) =>
    JSON.parse(Buffer.from(s.data![".dockerconfigjson"]!, "base64").toString()).auths[
      "https://index.docker.io/v1/"
    ]?.password ??
    JSON.parse(Buffer.from(s.data![".dockerconfigjson"]!, "base64").toString()).auths["registry.example.com"]
      ?.password;

  it("converges without a restart after 30 s without an API server", async () => {
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    expect(password(await core.readNamespacedSecret({ namespace: "team-a", name: "pull" }))).toBe(
      "before-outage",
    );

    await cluster.stopApiserver();
    // While it is down: a credential changes and writes fail.
    provider.script([ok("during-outage", new Date(Date.now() + 3_600_000))]);
    await daemon.refresher.refresh("hub");
    await new Promise((r) => setTimeout(r, 30_000));
    await cluster.startApiserver();

    // Meanwhile a namespace appeared and a Secret vanished (as if edited by someone else).
    await core.createNamespace({ body: { metadata: { name: "team-c", labels: { pulls: "private" } } } });
    await core.deleteNamespacedSecret({ namespace: "team-b", name: "pull" });

    await vi.waitFor(
      async () => {
        for (const namespace of ["team-a", "team-b", "team-c"]) {
          expect(password(await core.readNamespacedSecret({ namespace, name: "pull" }))).toBe(
            "during-outage",
          );
        }
      },
      { timeout: 60_000, interval: 250 },
    );
    // The outage was noticed and reported, not silent: a pass whose writes failed, logged as an
    // error with its failure count, and a retry scheduled.
    const failedPasses = records().filter(
      (r) =>
        r.level === "error" &&
        r.msg === "writing secrets to the Kubernetes API server failed" &&
        typeof r.failures === "number" &&
        r.failures >= 1 &&
        typeof r.retryInMs === "number",
    );
    expect(failedPasses.length).toBeGreaterThanOrEqual(1);
  }, 180_000);
});
