// The pull-failure watch and the healing delete on the real API server, as regcred's least
// privilege (src/kube/rbac.ts through a TokenRequest token): the field selectors are ones the
// server accepts and filters by, pods get is granted, pods delete only with healing, and a
// delete names the UID it saw. (What kubelet really posts: test/integration/node/self-heal.test.ts.)
import { randomBytes } from "node:crypto";
import { CoreV1Api, type CoreV1Event } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { kubePullPorts, watchPullEvents } from "../../../src/kube/pull-events.ts";
import type { PullSignal } from "../../../src/engine/pull-reactions.ts";
import { statusOf } from "../../../src/kube/client.ts";
import { captureLogger } from "../../helpers/log.ts";
import { leastPrivilege, type LeastPrivilege } from "./least-rbac.ts";

const cluster = sharedCluster();
const admin = cluster.kubeConfig();
const core = admin.makeApiClient(CoreV1Api);

function kubeletEvent(namespace: string, pod: string, reason: string, component: string): CoreV1Event {
  const now = new Date();
  return {
    metadata: { name: `${pod}.${randomBytes(4).toString("hex")}`, namespace },
    involvedObject: { kind: "Pod", namespace, name: pod, apiVersion: "v1" },
    reason,
    type: "Warning",
    message: `Failed to pull image "x.example/a:v1": 401 Unauthorized (${component})`,
    source: { component, host: "rig-node" },
    firstTimestamp: now,
    lastTimestamp: now,
    count: 1,
  };
}

describe("pull watch under least privilege", () => {
  const run = randomBytes(3).toString("hex");
  let plain: LeastPrivilege;
  let healing: LeastPrivilege;
  let ns: NamespaceSet;

  beforeAll(async () => {
    [plain, healing, ns] = await Promise.all([
      leastPrivilege(cluster, `pw-${run}`, []),
      leastPrivilege(cluster, `pwh-${run}`, [], { healing: true }),
      createNamespaces(admin, `pullrbac-${run}`, 1),
    ]);
  });
  afterAll(async () => {
    await ns?.cleanup();
    await plain?.cleanup();
    await healing?.cleanup();
  });

  it("lists and watches only kubelet's pull-failure Events, with the server's field selectors", async () => {
    const namespace = ns.names[0]!;
    const seen: PullSignal[] = [];
    const watch = watchPullEvents(plain.kc, captureLogger().log, (s) => seen.push(s));
    try {
      await watch.synced();
      for (const [pod, reason, component] of [
        ["from-kubelet", "Failed", "kubelet"],
        ["missing-secret", "FailedToRetrieveImagePullSecret", "kubelet"],
        ["not-kubelet", "Failed", "someone-else"],
        ["other-reason", "BackOff", "kubelet"],
      ] as const) {
        await core.createNamespacedEvent({
          namespace,
          body: kubeletEvent(namespace, pod, reason, component),
        });
      }
      await expect
        .poll(() => seen.map((s) => s.pod).sort(), { timeout: 10_000 })
        .toEqual(["from-kubelet", "missing-secret"]);
      // Later ones would have arrived by now (same watch, in order): create one more and wait for it.
      await core.createNamespacedEvent({
        namespace,
        body: kubeletEvent(namespace, "last", "Failed", "kubelet"),
      });
      await expect.poll(() => seen.map((s) => s.pod).includes("last"), { timeout: 10_000 }).toBe(true);
      expect(seen.map((s) => s.pod).sort()).toEqual(["from-kubelet", "last", "missing-secret"]);
    } finally {
      await watch.stop();
    }
  });

  it("pods get always, pods delete only with healing, and only the Pod with the UID seen", async () => {
    const namespace = ns.names[0]!;
    const pod = await core.createNamespacedPod({
      namespace,
      body: { metadata: { name: "victim" }, spec: { containers: [{ name: "c", image: "x.example/a:v1" }] } },
    });
    const uid = pod.metadata!.uid!;
    const plainPorts = kubePullPorts(plain.kc, undefined);
    expect((await plainPorts.readPod(namespace, "victim"))?.uid).toBe(uid);
    const denied = await plainPorts.deletePod({ namespace, name: "victim", uid }).catch((e: unknown) => e);
    expect(statusOf(denied)).toBe(403);

    const healingPorts = kubePullPorts(healing.kc, undefined);
    expect(await healingPorts.deletePod({ namespace, name: "victim", uid: "not-its-uid" })).toBe(false);
    expect((await core.readNamespacedPod({ namespace, name: "victim" })).metadata?.uid).toBe(uid);
    expect(await healingPorts.deletePod({ namespace, name: "victim", uid })).toBe(true);
  });
});
