// How regcred's Pod on the rig's node reaches the API server, and how kubelet's probes (and the
// test) reach the Pod, without hostNetwork (Pod Security "restricted" refuses it).
//
// The rig's bridge has no host address ("isGateway": false): Pods reach only each other. A real
// node always reaches its Pods (kubelet's HTTP probes dial the Pod IP), and a real cluster routes
// the `kubernetes` Service to the API server. For the chart suite only, the host gets the
// subnet's first address on the bridge (host-local IPAM never hands it out), and Pods still get
// no default route: they reach the host's bridge address and nothing beyond. A TCP relay on that
// address forwards to the API server on 127.0.0.1; the Pod names it kubernetes.default.svc (a SAN
// of the rig's serving certificate) through hostAliases, so TLS is verified end to end against
// the ServiceAccount's ca.crt. close() removes the address again (teardown deletes the bridge
// anyway).
import { execFileSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { request } from "node:http";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import { containerdPaths } from "../../rig/containerd.ts";
import type { NodeClient } from "../../rig/node.ts";
import { BRIDGE } from "../../rig/node-host.ts";

export interface PodNetwork {
  /** The host's address on the Pod bridge. */
  gateway: string;
  /** Relay to the API server: Pods dial gateway:apiPort. */
  apiPort: number;
  close(): Promise<void>;
}

const ip = (args: string[]) => execFileSync("ip", args, { encoding: "utf8" });

/** The node's Pod subnet, from its CNI config (e.g. 10.244.0.0/24). */
function podSubnet(node: NodeClient): { base: string; prefix: number } {
  const dir = containerdPaths(node.info.dir).cniConfDir;
  const conf = JSON.parse(readFileSync(join(dir, "10-regcred-rig.conflist"), "utf8")) as {
    plugins: { ipam?: { ranges?: { subnet: string }[][] } }[];
  };
  const subnet = conf.plugins.find((p) => p.ipam)?.ipam?.ranges?.[0]?.[0]?.subnet;
  if (!subnet) throw new Error(`no subnet in ${dir}/10-regcred-rig.conflist`);
  const [base, prefix] = subnet.split("/");
  return { base: base!, prefix: Number(prefix) };
}

/**
 * Opens the bridge to the host (see above) and relays gateway:PORT to 127.0.0.1:apiserverPort.
 * The bridge exists once a Pod sandbox was created on the node.
 */
export async function openPodNetwork(node: NodeClient, apiserverPort: number): Promise<PodNetwork> {
  const { base, prefix } = podSubnet(node);
  const gateway = base.replace(/\.\d+$/, ".1");
  const cidr = `${gateway}/${prefix}`;
  const had = ip(["-4", "-o", "addr", "show", "dev", BRIDGE]).includes(` ${cidr} `);
  if (!had) ip(["addr", "add", cidr, "dev", BRIDGE]);
  let relay: Relay | undefined;
  try {
    relay = await startRelay(gateway, apiserverPort);
  } catch (e) {
    if (!had) ip(["addr", "del", cidr, "dev", BRIDGE]);
    throw e;
  }
  return {
    gateway,
    apiPort: relay.port,
    close: async () => {
      await relay.close();
      if (!had) {
        try {
          ip(["addr", "del", cidr, "dev", BRIDGE]);
        } catch {
          // the bridge is gone already (node teardown)
        }
      }
    },
  };
}

interface Relay {
  port: number;
  close(): Promise<void>;
}

/** Relays TCP from host:0 to 127.0.0.1:targetPort (TLS passes through untouched). */
async function startRelay(host: string, targetPort: number): Promise<Relay> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = createConnection({ host: "127.0.0.1", port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on("close", () => sockets.delete(s));
      s.on("error", () => {
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, host, () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === "string") throw new Error("relay has no port");
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** GET http://podIP:port/path, over the bridge (as kubelet's probes do). */
export function podGet(podIP: string, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: podIP, port, path, timeout: 5_000 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error(`GET ${podIP}:${port}${path} timed out`)));
    req.on("error", reject);
    req.end();
  });
}
