// The rig's node itself: it registers as system:node:rig-node and goes Ready, runs a Pod from an
// imported image, and leaves the host exactly as it found it, also after a crashed run (the
// start-up sweep). This suite needs the machine's node to itself: it stops the run's shared node.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthorizationV1Api, CoordinationV1Api, CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { greetingOf, pushRunnableImage, saveImage } from "../../rig/app-image.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { startNode, type Node } from "../../rig/node.ts";
import { hostFootprint, nodeProcesses, type HostFootprint } from "../../rig/node-host-clean.ts";
import { BRIDGE, NODE_DIR } from "../../rig/node-host.ts";
import { startRegistry, type Registry } from "../../rig/registry.ts";
import { sharedCluster } from "../../rig/shared.ts";
import { stopSharedNode } from "../../rig/shared-node.ts";
import { createPod, podBody, waitRunning } from "./pods.ts";

const cluster = sharedCluster();
const kc = cluster.kubeConfig();
const core = kc.makeApiClient(CoreV1Api);

describe("the rig's node", () => {
  let ns: NamespaceSet;
  let registry: Registry;
  let image: string;
  let imageTar: string;
  let work: string;
  let node: Node | undefined;
  let before: HostFootprint | undefined;

  beforeAll(async () => {
    await stopSharedNode();
    ns = await createNamespaces(kc, "node", 1);
    registry = await startRegistry();
    image = await pushRunnableImage(registry, "rig/app", "v1");
    // The image as a tarball, for node.importImage (no registry involved).
    work = mkdtempSync(join(tmpdir(), "regcred-node-test-"));
    imageTar = join(work, "app.tar");
    await saveImage(registry, image, imageTar);
    node = await startNode(cluster, {
      onLocked: () => {
        before = hostFootprint();
      },
    });
  });
  afterAll(async () => {
    await node?.stop();
    await ns?.cleanup();
    await registry?.stop();
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it("registers as system:node:rig-node, goes Ready and renews its lease; the Node authorizer confines it", async () => {
    const n = await core.readNode({ name: "rig-node" });
    expect(n.status?.conditions?.find((c) => c.type === "Ready")).toMatchObject({ status: "True" });
    expect(n.status?.nodeInfo?.kubeletVersion).toBe("v1.35.4");
    expect(n.status?.nodeInfo?.containerRuntimeVersion).toMatch(/^containerd:\/\/1\.6\./);
    expect(n.spec?.taints ?? []).toEqual([]);
    // The kubelet's heartbeat: a Lease it holds in kube-node-lease (created shortly after Ready).
    const leases = kc.makeApiClient(CoordinationV1Api);
    await expect
      .poll(
        async () =>
          (
            await leases
              .readNamespacedLease({ namespace: "kube-node-lease", name: "rig-node" })
              .catch(() => undefined)
          )?.spec?.holderIdentity,
        { timeout: 20_000 },
      )
      .toBe("rig-node");

    // What the kubelet's certificate makes it: a node, which may read only its Pods' Secrets.
    const authz = kc.makeApiClient(AuthorizationV1Api);
    const can = async (user: string, groups: string[]) =>
      (
        await authz.createSubjectAccessReview({
          body: {
            spec: {
              user,
              groups,
              resourceAttributes: {
                verb: "get",
                resource: "secrets",
                namespace: ns.names[0]!,
                name: "anything",
              },
            },
          },
        })
      ).status?.allowed;
    expect(await can("system:node:rig-node", ["system:nodes", "system:authenticated"])).toBe(false);
    expect(
      (
        await authz.createSubjectAccessReview({
          body: {
            spec: {
              user: "system:node:rig-node",
              groups: ["system:nodes", "system:authenticated"],
              resourceAttributes: {
                verb: "update",
                resource: "nodes",
                subresource: "status",
                name: "rig-node",
              },
            },
          },
        })
      ).status?.allowed,
    ).toBe(true);
  });

  it("runs a Pod from an imported image; its output is in podLogsDir; meanwhile the host carries the node", async () => {
    expect(await node!.importImage(imageTar)).toContain(image);
    const namespace = ns.names[0]!;
    await createPod(kc, namespace, podBody("imported", image, { imagePullPolicy: "Never" }));
    const pod = await waitRunning(kc, namespace, "imported");
    expect(pod.spec?.nodeName).toBe("rig-node");
    expect(pod.status?.podIP).toMatch(/^10\.244\.0\.\d+$/);
    await expect
      .poll(() => node!.podLogs(namespace, "imported", "app"))
      .toBe(`${greetingOf("rig/app", "v1")}\n`);

    // Everything the teardown test compares is really there while the node runs, so a teardown
    // that forgot one of them would fail it.
    const during = hostFootprint();
    expect(
      during.processes.some((p) => / \/usr\/bin\/containerd --config /.test(` ${p.replace(/^\d+ /, "")}`)),
    ).toBe(true);
    expect(during.processes.some((p) => p.includes("/kubelet "))).toBe(true);
    expect(during.processes.some((p) => p.includes("containerd-shim-runc-v2"))).toBe(true);
    expect(during.processes.some((p) => p.includes("/pause hello from rig/app:v1"))).toBe(true);
    expect(during.kubepodsCgroups.map((p) => p.split("/")[4])).toEqual(
      expect.arrayContaining(["cpu", "memory", "pids", "freezer"]),
    );
    expect(
      during.mounts.filter((m) => m.startsWith(NODE_DIR + "/")).some((m) => m.endsWith(" overlay")),
    ).toBe(true);
    expect(during.mounts.some((m) => m.startsWith(NODE_DIR + "/") && m.endsWith(" nsfs"))).toBe(true);
    expect(during.links).toContain(BRIDGE);
    // The Pod network (node-network.ts): the host's gateway address and the API server's
    // ClusterIP on the bridge, and the relay behind the ClusterIP.
    expect(during.addresses).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^\\d+: ${BRIDGE}\\s+inet 10\\.244\\.0\\.1/24 `)),
        expect.stringMatching(new RegExp(`^\\d+: ${BRIDGE}\\s+inet 10\\.0\\.0\\.1/32 `)),
      ]),
    );
    expect(during.routes).toContain(
      `local 10.0.0.1 dev ${BRIDGE} table local proto kernel scope host src 10.0.0.1`,
    );
    expect(during.processes.some((p) => p.includes("/api-relay 10.0.0.1:443 "))).toBe(true);
    expect(during.sysctls["kernel/panic"]).toBe("10");
    expect(during.nodeDir).toBe(true);
    expect(during).not.toEqual(before);
    await core.deleteNamespacedPod({ namespace, name: "imported", gracePeriodSeconds: 0 });
  });

  it("stop() leaves no process, mount, cgroup, network namespace, bridge, address, route, iptables rule, sysctl or path behind", async () => {
    let after: HostFootprint | undefined;
    await node!.stop({ whileLocked: () => void (after = hostFootprint()) });
    node = undefined;
    expect(before).toBeDefined();
    expect(after).toEqual(before);
    expect(after!.processes).toEqual([]);
    expect(after!.kubepodsCgroups).toEqual([]);
    expect(after!.links).not.toContain(BRIDGE);
    expect(after!.nodeDir).toBe(false);
    expect(after!.mounts.filter((m) => m.includes("regcred-rig"))).toEqual([]);
  });

  it("a crashed run's node (its owner killed, every process still running) is swept by the next start", async () => {
    const namespace = ns.names[0]!;
    // The lock is held for a stand-in owner process; killing it is the crash.
    const owner: ChildProcess = spawn("sleep", ["600"], { stdio: "ignore" });
    const crashed = await startNode(cluster, { detached: true, owner: owner.pid! });
    await crashed.importImage(imageTar);
    await createPod(kc, namespace, podBody("crashed", image, { imagePullPolicy: "Never" }));
    await waitRunning(kc, namespace, "crashed");
    await core.deleteNode({ name: "rig-node" });
    owner.kill("SIGKILL");
    await new Promise((r) => owner.once("exit", r));
    const leftovers = nodeProcesses().map((p) => p.pid);
    expect(leftovers).toEqual(
      expect.arrayContaining([crashed.info.pids.kubelet, crashed.info.pids.containerd]),
    );
    await core.deleteNamespacedPod({ namespace, name: "crashed", gracePeriodSeconds: 0 });

    let swept: HostFootprint | undefined;
    node = await startNode(cluster, { onLocked: () => void (swept = hostFootprint()) });
    // Before the new node touched anything, the host was back to what it was.
    expect(swept).toEqual(before);
    expect(nodeProcesses().map((p) => p.pid)).not.toEqual(
      expect.arrayContaining([crashed.info.pids.kubelet]),
    );
    await node.waitReady();

    let after: HostFootprint | undefined;
    await node.stop({ whileLocked: () => void (after = hostFootprint()) });
    node = undefined;
    expect(after).toEqual(before);
  });
});
