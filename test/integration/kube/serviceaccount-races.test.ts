// Someone else edits a ServiceAccount while regcred is about to: regcred's patch carries the
// resourceVersion it read, the real API server answers 409, regcred reads again and keeps the
// other edit. An entry that someone added by hand, even one with the name regcred wanted to
// add, is not regcred's and is never removed by it. regcred's ServiceAccount watch is held back
// by a proxy so that its cache is stale when it writes: a real race, made to happen on purpose.
import { randomBytes } from "node:crypto";
import { CoreV1Api, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { ScriptedProvider, ok } from "../../helpers/fake-provider.ts";
import { ownedEntriesAnnotation } from "../../../src/kube/serviceaccounts.ts";
import { leastPrivilege, type LeastPrivilege } from "./least-rbac.ts";
import { CountingProxy } from "./counting-proxy.ts";
import { hours, pullSecretsOf, runDaemon, secretIn, type Running } from "./kit.ts";

const cluster = sharedCluster();
const core = cluster.kubeConfig().makeApiClient(CoreV1Api);

describe("concurrent ServiceAccount edits", () => {
  const run = randomBytes(3).toString("hex");
  const main = `pull-${run}`;
  const extra = `extra-${run}`;
  let ns: NamespaceSet;
  let regcred: LeastPrivilege;
  let proxy: CountingProxy;
  let running: Running;

  beforeAll(async () => {
    regcred = await leastPrivilege(cluster, run, [main, extra]);
    ns = await createNamespaces(cluster.kubeConfig(), `sarace-${run}`, 1, { "regcred-test": run });
    await core.createNamespacedServiceAccount({
      namespace: ns.names[0]!,
      body: { metadata: { name: "builder" }, imagePullSecrets: [{ name: "team-creds" }] },
    });
    proxy = await CountingProxy.start(cluster);
    running = await runDaemon(
      proxy.kubeConfig(regcred.kc.getCurrentUser()!.token!),
      new ScriptedProvider([ok("sa-race", hours(12))]),
      `
secrets:
  - name: ${main}
    registries: [hub]
    namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } }
    serviceAccounts: [builder]
  - name: ${extra}
    registries: [hub]
    namespaces: { selector: { matchLabels: { regcred-extra: "${run}" } } }
    serviceAccounts: [builder]
refresh: { jitter: 0, retry: { initial: 1s, max: 2s } }
kubernetes: { instance: sarace-${run} }
`,
    );
  }, 120_000);
  afterAll(async () => {
    await running?.daemon.stop();
    await proxy?.stop();
    await ns?.cleanup();
    await regcred?.cleanup();
  });

  const labels = (l: Record<string, string | null>) =>
    core.patchNamespace(
      { name: ns.names[0]!, body: { metadata: { labels: l } } },
      setHeaderOptions("Content-Type", "application/merge-patch+json"),
    );

  it("retries on 409, keeps the other edit, and never removes a hand-added entry of the same name", async () => {
    const namespace = ns.names[0]!;
    const annotation = ownedEntriesAnnotation(`sarace-${run}`);
    await vi.waitFor(
      async () => expect(await pullSecretsOf(core, namespace, "builder")).toEqual(["team-creds", main]),
      {
        timeout: 10_000,
      },
    );

    proxy.hold((path) => path === "/api/v1/serviceaccounts");
    // Someone adds an entry of their own and, by hand, the very entry regcred is about to add.
    const sa = await core.readNamespacedServiceAccount({ namespace, name: "builder" });
    await core.replaceNamespacedServiceAccount({
      namespace,
      name: "builder",
      body: { ...sa, imagePullSecrets: [...sa.imagePullSecrets!, { name: "other-creds" }, { name: extra }] },
    });
    await labels({ "regcred-extra": run });
    const patchPath = `/api/v1/namespaces/${namespace}/serviceaccounts/builder`;
    await vi.waitFor(
      () =>
        expect(
          proxy.requests.filter((r) => r.method === "PATCH" && r.path === patchPath).map((r) => r.status),
        ).toContain(409),
      { timeout: 10_000, interval: 100 },
    );
    await running.daemon.sync.idle();
    proxy.release();
    await running.daemon.sync.idle();
    const after = await core.readNamespacedServiceAccount({ namespace, name: "builder" });
    expect(after.imagePullSecrets?.map((e) => e.name)).toEqual(["team-creds", main, "other-creds", extra]);
    expect(after.metadata?.annotations?.[annotation]).toBe(main);

    // The extra target leaves this namespace: its Secret goes, the hand-added entry stays.
    await labels({ "regcred-extra": null });
    await vi.waitFor(async () => expect(await secretIn(core, namespace, extra)).toBeUndefined(), {
      timeout: 10_000,
    });
    await running.daemon.sync.idle();
    expect(await pullSecretsOf(core, namespace, "builder")).toEqual([
      "team-creds",
      main,
      "other-creds",
      extra,
    ]);
  });
});
