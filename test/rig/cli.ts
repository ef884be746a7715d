// `npm run cluster:up` / `npm run cluster:down`, plus `tsx test/rig/cli.ts build|status|tool NAME`.
//   up [--no-controller-manager]  start a detached cluster, print its kubeconfig path
//   down                          stop it and remove its temp folder
//   status                        print the state file of the running cluster
//   build [tool...]               build/fetch rig binaries (default: everything)
//   tool NAME                     print the path of a rig binary (building it if needed)
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startCluster, type ClusterInfo } from "./cluster.ts";
import { ensureTool, type ToolName } from "./tools.ts";
import { cacheRoot, killPid, pidAlive } from "./util.ts";

const ALL_TOOLS: ToolName[] = [
  "etcd",
  "kube-apiserver",
  "kube-controller-manager",
  "docker-registry",
  "crane",
  "moto_server",
  "helm",
  "promtool",
];

function statePath(): string {
  return join(cacheRoot(), "cluster-up.json");
}

function readState(): ClusterInfo | undefined {
  if (!existsSync(statePath())) return undefined;
  return JSON.parse(readFileSync(statePath(), "utf8")) as ClusterInfo;
}

async function down(): Promise<void> {
  const st = readState();
  if (!st) {
    console.log("no cluster is up (no state file at " + statePath() + ")");
    return;
  }
  const { controllerManager, apiserver, etcd } = st.pids;
  for (const pid of [controllerManager, apiserver, etcd]) if (pid) await killPid(pid);
  rmSync(st.dir, { recursive: true, force: true });
  rmSync(statePath(), { force: true });
  console.log(`stopped the cluster at ${st.server}`);
}

async function main(): Promise<void> {
  const [cmd, ...rest] = process.argv.slice(2);
  switch (cmd) {
    case "up": {
      const st = readState();
      if (st && st.pids.apiserver && pidAlive(st.pids.apiserver)) {
        console.error(`a cluster is already up at ${st.server}; kubeconfig:`);
        console.log(st.kubeconfigPath);
        return;
      }
      if (st) await down();
      const cluster = await startCluster({
        detached: true,
        controllerManager: !rest.includes("--no-controller-manager"),
      });
      writeFileSync(statePath(), JSON.stringify(cluster.info, null, 2) + "\n");
      console.error(
        `cluster ${cluster.info.version} is up at ${cluster.server} (logs in ${cluster.dir}/logs); ` +
          `stop it with npm run cluster:down. Use it with: export KUBECONFIG=${cluster.kubeconfigPath}`,
      );
      console.log(cluster.kubeconfigPath);
      return;
    }
    case "down":
      return down();
    case "status": {
      const st = readState();
      if (!st) {
        console.log("down");
        process.exitCode = 1;
        return;
      }
      console.log(JSON.stringify(st, null, 2));
      return;
    }
    case "build": {
      const tools = rest.length > 0 ? (rest as ToolName[]) : ALL_TOOLS;
      for (const t of tools) console.log(`${t}: ${await ensureTool(t)}`);
      return;
    }
    case "tool": {
      const t = rest[0] as ToolName | undefined;
      if (!t) throw new Error("usage: cli.ts tool NAME");
      console.log(await ensureTool(t));
      return;
    }
    default:
      console.error(
        "usage: tsx test/rig/cli.ts up [--no-controller-manager] | down | status | build [tool...] | tool NAME",
      );
      process.exitCode = 2;
  }
}

main().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exit(1);
});
