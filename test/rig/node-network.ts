// The node's Pod network, as a real node has it, within the rig's network rules (loopback and
// the Pods' own namespaces only):
//
//   - The host reaches its Pods: the bridge carries the subnet's first address (POD_GATEWAY),
//     so kubelet's HTTP probes (and tests) dial Pod IPs. host-local IPAM never hands it out.
//   - Pods reach the API server the way in-cluster clients do: KUBERNETES_SERVICE_HOST/PORT,
//     which kubelet injects from the `kubernetes` Service (ClusterIP 10.0.0.1, port 443). The
//     bridge also carries that ClusterIP as a /32, Pods get one route to it via the gateway, and
//     a relay (tools/api-relay, a node process) forwards ClusterIP:443 to the API server on
//     127.0.0.1, accepting Pod addresses only. This stands in for kube-proxy without an
//     iptables rule, a sysctl (no ip_forward: the host routes nothing) or a default route in
//     the Pods: they reach each other, the gateway and the ClusterIP, nothing else.
//
// Both addresses live on the bridge, which the rig creates before containerd (the CNI bridge
// plugin adopts an existing bridge and leaves its addresses alone): teardown deletes the bridge
// and, with it, the addresses and routes.
import { execFileSync } from "node:child_process";
import { connect } from "node:net";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BRIDGE, NODE_DIR } from "./node-host.ts";
import { ensureTool } from "./tools.ts";
import { ManagedProcess, RigError, waitFor } from "./util.ts";

export const POD_SUBNET = "10.244.0.0/24";
export const POD_GATEWAY = "10.244.0.1";
const POD_PREFIX = 24;

/** The cluster's `kubernetes` Service, which Pods dial (KUBERNETES_SERVICE_HOST/PORT). */
export interface ApiService {
  clusterIP: string;
  port: number;
}

export interface PodNetworkInfo {
  subnet: string;
  /** The host's address on the bridge: what Pods see as the node. */
  gateway: string;
  /** The `kubernetes` Service as Pods reach it (relayed to the API server). */
  apiService: ApiService;
}

const ip = (args: string[]) => execFileSync("ip", args, { encoding: "utf8", stdio: "pipe" });

/**
 * Creates the Pods' bridge with the gateway address and the API server's ClusterIP, up. Run
 * before containerd (the bridge plugin then uses this bridge). Refuses when an address would
 * clash with one the host already has elsewhere.
 */
export function createPodBridge(apiService: ApiService): PodNetworkInfo {
  for (const addr of [POD_GATEWAY, apiService.clusterIP]) {
    const owner = ip(["-4", "-o", "addr", "show", "to", `${addr}/32`]).trim();
    if (owner && !owner.split(/\s+/)[1]?.startsWith(BRIDGE)) {
      throw new RigError(
        `the host already has ${addr} (${owner}); the rig's Pod network (${POD_SUBNET}, Service ${apiService.clusterIP}) would clash with it`,
      );
    }
  }
  if (!existsSync(`/sys/class/net/${BRIDGE}`)) ip(["link", "add", BRIDGE, "type", "bridge"]);
  const addrs = ip(["-4", "-o", "addr", "show", "dev", BRIDGE]);
  for (const cidr of [`${POD_GATEWAY}/${POD_PREFIX}`, `${apiService.clusterIP}/32`]) {
    if (!addrs.includes(` ${cidr} `)) ip(["addr", "add", cidr, "dev", BRIDGE]);
  }
  ip(["link", "set", BRIDGE, "up"]);
  return { subnet: POD_SUBNET, gateway: POD_GATEWAY, apiService };
}

/** The CNI IPAM routes of a Pod: only the ClusterIP, via the host. */
export function podRoutes(apiService: ApiService): { dst: string; gw: string }[] {
  return [{ dst: `${apiService.clusterIP}/32`, gw: POD_GATEWAY }];
}

/**
 * Starts the relay ClusterIP:port -> 127.0.0.1:apiserverPort (a node process: its command line
 * names the node's folder, so teardown and the sweep find it). Resolves once it listens.
 */
export async function startApiRelay(
  apiService: ApiService,
  apiserverPort: number,
  opts: { detached: boolean },
): Promise<{ proc: ManagedProcess; pid: number }> {
  const bin = await ensureTool("api-relay");
  const proc = new ManagedProcess("api-relay", join(NODE_DIR, "logs", "api-relay.log"));
  const pid = proc.start(
    bin,
    [`${apiService.clusterIP}:${apiService.port}`, `127.0.0.1:${apiserverPort}`, POD_SUBNET, NODE_DIR],
    { detached: opts.detached },
  );
  await waitFor(
    `the API relay on ${apiService.clusterIP}:${apiService.port}`,
    () =>
      new Promise<boolean>((resolve) => {
        // From the host this dial is refused by the relay's source check, after accept: it
        // listens.
        const s = connect({ host: apiService.clusterIP, port: apiService.port });
        s.once("connect", () => {
          s.destroy();
          resolve(true);
        });
        s.once("error", () => resolve(false));
      }),
    { timeoutMs: 15_000, intervalMs: 50, proc },
  );
  return { proc, pid };
}
