// How a Pod on the rig's node reaches the API server, and how the test reaches a Pod.
//
// The rig's API server listens on 127.0.0.1 only, which a Pod's own network namespace cannot
// reach, and a hostNetwork Pod is refused by Pod Security "restricted". A real cluster routes
// the `kubernetes` Service to the API server; here a TCP relay on the node's side of the Pod
// bridge (the Pods' gateway address, never a routable one) forwards to 127.0.0.1. The Pod names
// the API server kubernetes.default.svc (a SAN of the rig's serving certificate) through a
// hostAliases entry, so TLS is verified end to end against the ServiceAccount's ca.crt.
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { request } from "node:http";
import { execFileSync } from "node:child_process";

export interface Relay {
  host: string;
  port: number;
  close(): Promise<void>;
}

/** The host's address on the bridge that holds podIP (the Pods' default gateway). */
export function gatewayFor(podIP: string): string {
  const links = JSON.parse(execFileSync("ip", ["-j", "-4", "addr", "show"], { encoding: "utf8" })) as {
    ifname: string;
    addr_info: { local: string; prefixlen: number }[];
  }[];
  const toInt = (ip: string) => ip.split(".").reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
  for (const link of links) {
    for (const a of link.addr_info) {
      const mask = a.prefixlen === 0 ? 0 : (~0 << (32 - a.prefixlen)) >>> 0;
      if (a.local !== podIP && (toInt(a.local) & mask) === (toInt(podIP) & mask) && a.prefixlen < 32)
        return a.local;
    }
  }
  throw new Error(`no host interface on the subnet of Pod IP ${podIP}`);
}

/** Relays TCP from host:0 (an address on the Pod bridge) to 127.0.0.1:targetPort. */
export async function startRelay(host: string, targetPort: number): Promise<Relay> {
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
    host,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** GET http://podIP:port/path, straight into the Pod's network namespace over the bridge. */
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
