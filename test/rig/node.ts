// A real node for the rig's cluster: containerd + runc + the bridge CNI, a kubelet v1.35.4 that
// authenticates as system:node:NAME (client certificate from the cluster's CA), and
// kube-scheduler, so Pods created through the API server really run and really pull images.
//
// API (kept stable; test/rig/README.md has the long form):
//
//   startNode(cluster: ClusterClient, opts?: NodeOptions): Promise<Node>
//     NodeOptions { name?: string = "rig-node"; detached?: boolean; owner?: number;
//                   onLocked?: () => void | Promise<void> }
//     Root only. One node per machine: waits for the machine lock, sweeps a crashed run's
//     leftovers, starts containerd, imports the pause image, starts kubelet + kube-scheduler,
//     resolves when the Node is Ready.
//   Node extends NodeClient { stop(opts?: { whileLocked?: () => void | Promise<void> }): Promise<void> }
//     stop() kills everything and leaves the host as it was (node-host-clean.ts).
//   NodeClient (also what sharedNode() in shared-node.ts gives a test file) {
//     info: NodeInfo (serializable); name: string; podLogsDir: string;
//     waitReady(timeoutMs?): Promise<void>;
//     importImage(tarPath): Promise<string[]>       // ctr -n k8s.io images import; image names
//     podLogs(namespace, pod, container): Promise<string>   // the container's output, from podLogsDir
//     kubeletLog(): string; containerdLog(): string  // for diagnostics
//   }
//
// The Pod network (node-network.ts): the host reaches its Pods (kubelet's HTTP probes work), and
// Pods reach the API server through the `kubernetes` Service's ClusterIP as in-cluster clients
// do (the env kubelet injects, the ServiceAccount token), and nothing else off the node. Never
// use logs/exec/port-forward through the API server (it would dial the node by name): read
// podLogs(). Registries under real host names: registry-hosts.ts.
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { makeServingCert } from "./certs.ts";
import type { ClusterClient } from "./cluster.ts";
import { containerdPaths, ensureRuntimePackages, importImage, startContainerd } from "./containerd.ts";
import { cleanNodeHost } from "./node-host-clean.ts";
import { acquireNodeLock, NODE_DIR, recordHost, releaseNodeLock, requireRoot } from "./node-host.ts";
import {
  createPodBridge,
  podRoutes,
  startApiRelay,
  type ApiService,
  type PodNetworkInfo,
} from "./node-network.ts";
import { ensurePauseImage } from "./pause.ts";
import { ensureTool } from "./tools.ts";
import { killPid, log, ManagedProcess, requireCommand, RigError, tail, waitFor } from "./util.ts";

export interface NodeOptions {
  /** The Node's name (default "rig-node"). */
  name?: string;
  /** Leave the processes running when this Node process exits (the shared node). */
  detached?: boolean;
  /** The pid the machine lock is held for (default this process; the shared node: vitest's). */
  owner?: number;
  /** Runs once the lock is held and leftovers are swept, before anything starts. */
  onLocked?: () => void | Promise<void>;
}

/** What identifies a running node; serializable (state file, shared node). */
export interface NodeInfo {
  name: string;
  dir: string;
  /** The API server this node is registered with. */
  server: string;
  /** The cluster's admin kubeconfig (to read the Node object). */
  kubeconfigPath: string;
  containerdSocket: string;
  podLogsDir: string;
  /** The Pods' network: subnet, the host's gateway address, the API server's Service. */
  network: PodNetworkInfo;
  /** Pid the machine lock is held for. */
  owner: number;
  pids: { containerd: number; kubelet: number; scheduler: number; apiRelay: number };
}

const STATE_FILE = join(NODE_DIR, "state.json");

/** The running node's state, if a node is up (or crashed without teardown). */
export function readNodeState(): NodeInfo | undefined {
  try {
    return JSON.parse(readFileSync(STATE_FILE, "utf8")) as NodeInfo;
  } catch {
    return undefined;
  }
}

export class NodeClient {
  readonly info: NodeInfo;
  constructor(info: NodeInfo) {
    this.info = info;
  }
  get name(): string {
    return this.info.name;
  }
  get podLogsDir(): string {
    return this.info.podLogsDir;
  }

  /** Waits until the Node object reports Ready=True. */
  async waitReady(timeoutMs = 60_000): Promise<void> {
    const { KubeConfig } = await import("@kubernetes/client-node");
    const kc = new KubeConfig();
    kc.loadFromFile(this.info.kubeconfigPath);
    const core = kc.makeApiClient(CoreV1Api);
    await waitFor(
      `node ${this.name} Ready`,
      async () => {
        const n = await core.readNode({ name: this.name });
        return n.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
      },
      { timeoutMs, intervalMs: 250 },
    );
  }

  /** Imports an image tar (docker-archive or OCI) into the node's containerd (CRI namespace). */
  importImage(tarPath: string): Promise<string[]> {
    return importImage(this.info.containerdSocket, tarPath);
  }

  /**
   * The output of a container (newest restart), read from podLogsDir and stripped of the CRI
   * log prefix (`<time> stdout F `). Empty string when it has written nothing yet.
   */
  async podLogs(namespace: string, pod: string, container: string): Promise<string> {
    const podDir = readdirSafe(this.info.podLogsDir).find((d) => d.startsWith(`${namespace}_${pod}_`));
    if (!podDir) throw new RigError(`no logs of pod ${namespace}/${pod} under ${this.info.podLogsDir}`);
    const dir = join(this.info.podLogsDir, podDir, container);
    const files = readdirSafe(dir)
      .filter((f) => /^\d+\.log$/.test(f))
      .sort((a, b) => Number.parseInt(a) - Number.parseInt(b));
    const newest = files.at(-1);
    if (!newest) return "";
    return readFileSync(join(dir, newest), "utf8")
      .split("\n")
      .filter(Boolean)
      .map((l) => {
        // <RFC3339Nano> <stream> <P|F> <content>; P = partial line, continued by the next.
        const m = /^\S+ (?:stdout|stderr) ([PF]) (.*)$/.exec(l);
        return m ? m[2]! + (m[1] === "F" ? "\n" : "") : l + "\n";
      })
      .join("");
  }

  kubeletLog(lines = 60): string {
    return tail(readSafe(join(this.info.dir, "logs", "kubelet.log")), lines);
  }
  containerdLog(lines = 60): string {
    return tail(readSafe(join(this.info.dir, "logs", "containerd.log")), lines);
  }
}

function readSafe(p: string): string {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
}

function readdirSafe(p: string): string[] {
  try {
    return readdirSync(p);
  } catch {
    return [];
  }
}

/** A node this process started (or adopted from the state file): NodeClient plus stop(). */
export class Node extends NodeClient {
  private stopped = false;
  private readonly procs: ManagedProcess[];
  constructor(info: NodeInfo, procs: ManagedProcess[] = []) {
    super(info);
    this.procs = procs;
  }

  /**
   * Stops the node and restores the host: no process, mount, cgroup, network namespace, bridge,
   * changed sysctl or created path stays. whileLocked runs after that, before the machine lock
   * is released (a test compares the host with what it was before). Idempotent.
   */
  async stop(opts: { whileLocked?: () => void | Promise<void> } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await stopNodeProcesses(this.info, this.procs);
    await opts.whileLocked?.();
    releaseNodeLock(this.info.owner);
  }
}

/** Teardown without the lock release: graceful where it is cheap, then the full sweep. */
async function stopNodeProcesses(info: NodeInfo, procs: ManagedProcess[]): Promise<void> {
  // The Node object goes first, so the scheduler binds nothing more to it.
  try {
    const { KubeConfig } = await import("@kubernetes/client-node");
    const kc = new KubeConfig();
    kc.loadFromFile(info.kubeconfigPath);
    await kc.makeApiClient(CoreV1Api).deleteNode({ name: info.name });
  } catch {
    // the cluster may be gone already
  }
  for (const p of procs) await p.stop(2_000);
  for (const pid of [info.pids.scheduler, info.pids.kubelet, info.pids.apiRelay, info.pids.containerd]) {
    await killPid(pid, 2_000);
  }
  await cleanNodeHost();
}

/**
 * Stops the node described by the state file (the shared node, from the process that owns its
 * lock) and cleans the host. No-op when no node is up.
 */
export async function stopNodeFromState(owner: number): Promise<void> {
  const st = readNodeState();
  if (!st || st.owner !== owner) return;
  await stopNodeProcesses(st, []);
  releaseNodeLock(owner);
}

const NODE_CERT_ORG = "system:nodes";

/** The `kubernetes` Service the API server keeps in `default` (what kubelet injects into Pods). */
async function apiService(cluster: ClusterClient): Promise<ApiService> {
  const svc = await cluster
    .kubeConfig()
    .makeApiClient(CoreV1Api)
    .readNamespacedService({ namespace: "default", name: "kubernetes" });
  const clusterIP = svc.spec?.clusterIP;
  const port = svc.spec?.ports?.find((p) => p.name === "https")?.port ?? svc.spec?.ports?.[0]?.port;
  if (!clusterIP || !port) throw new RigError("the `kubernetes` Service in default has no ClusterIP or port");
  return { clusterIP, port };
}

function kubeletConfig(dir: string, socket: string, podLogsDir: string): Record<string, unknown> {
  return {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    // This host has cgroup v1 only; 1.35 refuses it unless told.
    failCgroupV1: false,
    cgroupDriver: "cgroupfs",
    containerRuntimeEndpoint: `unix://${socket}`,
    // Loopback only: the API server never dials the kubelet in these tests.
    address: "127.0.0.1",
    readOnlyPort: 0,
    healthzBindAddress: "127.0.0.1",
    authentication: { anonymous: { enabled: false }, webhook: { enabled: false }, x509: {} },
    authorization: { mode: "AlwaysAllow" },
    failSwapOn: false,
    podLogsDir,
    // No KUBE-IPTABLES-HINT / KUBE-FIREWALL chains: the host's iptables stay as they are.
    makeIPTablesUtilChains: false,
    evictionHard: {
      "memory.available": "100Mi",
      "nodefs.available": "1%",
      "nodefs.inodesFree": "1%",
      "imagefs.available": "1%",
      "imagefs.inodesFree": "1%",
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // No systemd inhibitor lock on this machine.
    shutdownGracePeriod: "0s",
    shutdownGracePeriodCriticalPods: "0s",
    serializeImagePulls: false,
    // Mounted Secrets and ConfigMaps are refreshed at a Pod's periodic sync (default 1 min): a
    // rotated Secret reaches the files regcred watches within about 10 s instead.
    syncFrequency: "10s",
    registerNode: true,
    maxPods: 30,
    rotateCertificates: false,
    serverTLSBootstrap: false,
    staticPodPath: "",
    // The node's own files stay under its folder.
    volumePluginDir: join(dir, "kubelet", "volume-plugins"),
  };
}

function kubeletKubeconfig(server: string, caFile: string, cert: string, key: string): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [{ name: "rig", cluster: { server, "certificate-authority": caFile } }],
    users: [{ name: "node", user: { "client-certificate": cert, "client-key": key } }],
    contexts: [{ name: "rig", context: { cluster: "rig", user: "node" } }],
    "current-context": "rig",
  });
}

/** Starts the machine's node attached to `cluster`; see the API at the top of this file. */
export async function startNode(cluster: ClusterClient, opts: NodeOptions = {}): Promise<Node> {
  requireRoot("The rig's node");
  const name = opts.name ?? "rig-node";
  const owner = opts.owner ?? process.pid;
  const detached = opts.detached ?? false;
  requireCommand("ip", "Install iproute2.");
  requireCommand("umount", "Install mount (util-linux).");
  await ensureRuntimePackages();
  requireCommand("ctr", "containerd's ctr comes with Debian's containerd package.");
  const [kubeletBin, schedulerBin, pause] = await Promise.all([
    ensureTool("kubelet"),
    ensureTool("kube-scheduler"),
    ensurePauseImage(),
    ensureTool("api-relay"),
  ]);

  // The shared node of this test run (its lock is held for the vitest main process, our parent)
  // makes way for a suite's own node; the next sharedNode() starts it again.
  const running = readNodeState();
  if (running && running.owner !== owner && running.owner === process.ppid) {
    log("stopping this run's shared node: a suite starts its own");
    await stopNodeFromState(running.owner);
  }
  const lock = await acquireNodeLock(owner);
  const procs: ManagedProcess[] = [];
  let info: NodeInfo | undefined;
  try {
    if (lock !== "fresh") {
      log(`sweeping the leftovers of an earlier node (${lock === "own" ? "ours" : "a crashed run"})`);
      await cleanNodeHost();
    }
    await opts.onLocked?.();
    const started = Date.now();
    recordHost();
    const dir = NODE_DIR;
    mkdirSync(join(dir, "logs"), { recursive: true });
    const pki = join(dir, "pki");
    mkdirSync(pki, { recursive: true });

    // The node's client certificate, signed by the cluster's CA (its key sits beside ca.crt).
    const ca = { certFile: cluster.caFile, keyFile: join(dirname(cluster.caFile), "ca.key") };
    if (!existsSync(ca.keyFile)) throw new RigError(`the cluster's CA key is not at ${ca.keyFile}`);
    const nodeCert = await makeServingCert(pki, "kubelet-client", ca, {
      cn: `system:node:${name}`,
      o: NODE_CERT_ORG,
    });
    const kubeconfig = join(dir, "kubelet.kubeconfig");
    writeFileSync(
      kubeconfig,
      kubeletKubeconfig(cluster.server, cluster.caFile, nodeCert.certFile, nodeCert.keyFile),
      {
        mode: 0o600,
      },
    );

    // The Pod network before containerd: the bridge plugin adopts the bridge made here.
    const network = createPodBridge(await apiService(cluster));
    const relay = await startApiRelay(network.apiService, Number(new URL(cluster.server).port), { detached });
    procs.push(relay.proc);
    const cd = await startContainerd(dir, pause.ref, {
      detached,
      network: { subnet: network.subnet, gateway: network.gateway, routes: podRoutes(network.apiService) },
    });
    procs.push(cd.proc);
    await importImage(cd.paths.socket, pause.tar);

    const podLogsDir = join(dir, "pod-logs");
    const kubeletDir = join(dir, "kubelet");
    mkdirSync(kubeletDir, { recursive: true });
    const configFile = join(dir, "kubelet-config.yaml");
    writeFileSync(configFile, stringify(kubeletConfig(dir, cd.paths.socket, podLogsDir)));
    const kubelet = new ManagedProcess("kubelet", join(dir, "logs", "kubelet.log"));
    procs.push(kubelet);
    const kubeletPid = kubelet.start(
      kubeletBin,
      [
        `--config=${configFile}`,
        `--kubeconfig=${kubeconfig}`,
        `--root-dir=${kubeletDir}`,
        `--cert-dir=${join(dir, "kubelet-pki")}`,
        `--hostname-override=${name}`,
        "--v=1",
      ],
      { detached },
    );

    // The scheduler gets the cluster's admin kubeconfig, copied so its command line names the
    // node's folder (the sweep finds node processes by that).
    const schedKubeconfig = join(dir, "scheduler.kubeconfig");
    writeFileSync(schedKubeconfig, readFileSync(cluster.kubeconfigPath), { mode: 0o600 });
    const scheduler = new ManagedProcess("kube-scheduler", join(dir, "logs", "kube-scheduler.log"));
    procs.push(scheduler);
    const schedulerPid = scheduler.start(
      schedulerBin,
      [
        `--kubeconfig=${schedKubeconfig}`,
        "--leader-elect=false",
        "--bind-address=127.0.0.1",
        "--secure-port=0",
        "--v=0",
      ],
      { detached },
    );

    info = {
      name,
      dir,
      server: cluster.server,
      kubeconfigPath: schedKubeconfig,
      containerdSocket: cd.paths.socket,
      podLogsDir,
      network,
      owner,
      pids: { containerd: cd.pid, kubelet: kubeletPid, scheduler: schedulerPid, apiRelay: relay.pid },
    };
    writeFileSync(STATE_FILE, JSON.stringify(info, null, 2) + "\n");
    const node = new Node(info, detached ? [] : procs);
    await waitFor(
      `node ${name} to register`,
      async () => {
        await cluster.kubeConfig().makeApiClient(CoreV1Api).readNode({ name });
        return true;
      },
      { timeoutMs: 60_000, intervalMs: 250, proc: kubelet },
    );
    await node.waitReady();
    log(`node ${name} Ready in ${((Date.now() - started) / 1000).toFixed(1)} s (${dir})`);
    return node;
  } catch (e) {
    const err = e as Error;
    const kubeletLog = tail(readSafe(join(NODE_DIR, "logs", "kubelet.log")), 30);
    const containerdLog = tail(readSafe(containerdPaths(NODE_DIR).log), 15);
    for (const p of procs) await p.stop(2_000);
    await cleanNodeHost().catch((c: unknown) => log(`cleanup after a failed start: ${(c as Error).message}`));
    releaseNodeLock(owner);
    err.message += `\nkubelet log:\n${kubeletLog}\ncontainerd log:\n${containerdLog}`;
    throw err;
  }
}
