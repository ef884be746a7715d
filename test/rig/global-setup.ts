// Vitest globalSetup of the "integration" project: builds/fetches every binary the integration
// suites use (first run only; progress on stderr), then starts ONE cluster shared by all test
// files (reach it with sharedCluster() from ./shared.ts). Registries and moto are cheap: suites
// start their own. Set REGCRED_RIG_SHARED_CLUSTER=0 to skip the shared cluster. The shared node
// (shared-node.ts) starts on a suite's first sharedNode() call and is stopped here at the end.
import type { TestProject } from "vitest/node";
import { startCluster, type Cluster } from "./cluster.ts";
import { stopNodeFromState } from "./node.ts";
import { ensureTool, type ToolName } from "./tools.ts";
import { log } from "./util.ts";
import "./provided.ts";

const PREPARE: ToolName[] = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "htpasswd",
  "crane",
  "docker-registry",
  "moto_server",
];

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const started = Date.now();
  // One at a time: the builds each use every core.
  for (const t of PREPARE) await ensureTool(t);
  // Extra tools (e.g. "helm,promtool") to build up front rather than in a suite's beforeAll.
  for (const t of (process.env["REGCRED_RIG_PREBUILD"] ?? "").split(",").filter(Boolean)) {
    await ensureTool(t as ToolName);
  }
  log(`rig binaries ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  // The shared node (shared-node.ts), if a suite starts one, is held for this process.
  project.provide("regcredRigOwnerPid", process.pid);
  let cluster: Cluster | undefined;
  if (process.env["REGCRED_RIG_SHARED_CLUSTER"] !== "0") {
    cluster = await startCluster();
    project.provide("regcredRigCluster", cluster.info);
  }
  return async () => {
    await stopNodeFromState(process.pid);
    await cluster?.stop();
  };
}
