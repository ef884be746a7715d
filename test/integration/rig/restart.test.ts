// A cluster of its own (the shared one cannot be stopped from a test file): the API server
// stops and comes back on the same port with the same etcd data.
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCluster, type Cluster } from "../../rig/cluster.ts";

describe("rig: API server stop/start", () => {
  let cluster: Cluster;

  beforeAll(async () => {
    cluster = await startCluster({ controllerManager: false });
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  it("keeps its port and data across stopApiserver/startApiserver", async () => {
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    await core.createNamespace({ body: { metadata: { name: "survivor" } } });
    const server = cluster.server;

    await cluster.stopApiserver();
    await expect(cluster.rawGet("/readyz")).rejects.toThrow(/ECONNREFUSED/);
    await expect(core.readNamespace({ name: "survivor" })).rejects.toThrow();

    await cluster.startApiserver();
    expect(cluster.server).toBe(server);
    const ns = await core.readNamespace({ name: "survivor" });
    expect(ns.metadata?.name).toBe("survivor");
  });

  it("stop() ends every process and removes the temp folder", async () => {
    const { existsSync } = await import("node:fs");
    const { pidAlive } = await import("../../rig/util.ts");
    const own = await startCluster({ controllerManager: false });
    const pids = Object.values(own.info.pids).filter((p): p is number => typeof p === "number");
    expect(pids.length).toBe(2);
    expect(pids.every(pidAlive)).toBe(true);
    await own.stop();
    expect(pids.some(pidAlive)).toBe(false);
    expect(existsSync(own.dir)).toBe(false);
  });
});
