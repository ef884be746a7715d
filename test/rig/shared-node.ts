// The node shared by every integration test file of one vitest run, attached to the shared
// cluster. The first file that asks starts it (detached, its lock held for the vitest main
// process); later files get the same node; global-setup.ts stops it when the run ends.
import { inject } from "vitest";
import { NodeClient, readNodeState, startNode, stopNodeFromState } from "./node.ts";
import { sharedCluster } from "./shared.ts";
import { pidAlive, RigError, withLock } from "./util.ts";

import "./provided.ts";

function owner(): number {
  const pid = inject("regcredRigOwnerPid");
  if (!pid) throw new RigError("no vitest owner pid: run node suites through the integration project");
  return pid;
}

/**
 * The run's node (starting it on first use: call it in beforeAll; a cold first start builds
 * the kubelet). It cannot be stopped from a test file.
 */
export async function sharedNode(): Promise<NodeClient> {
  const cluster = sharedCluster();
  const me = owner();
  return withLock("shared-node", async () => {
    const st = readNodeState();
    if (st && st.owner === me && st.server === cluster.server && Object.values(st.pids).every(pidAlive)) {
      const client = new NodeClient(st);
      await client.waitReady();
      return client;
    }
    // Not there, or half dead: startNode sweeps what is left and starts afresh.
    const node = await startNode(cluster, { detached: true, owner: me });
    return new NodeClient(node.info);
  });
}

/**
 * Stops the shared node if it runs (a suite that needs the machine's node to itself, e.g. to
 * compare the host before and after). The next sharedNode() starts it again.
 */
export async function stopSharedNode(): Promise<void> {
  await stopNodeFromState(owner());
}
