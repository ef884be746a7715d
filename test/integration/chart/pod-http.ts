// HTTP to a Pod's own IP from the host, as kubelet's probes do (the rig's node gives the host an
// address on the Pod bridge: test/rig/node-network.ts).
import { request } from "node:http";

/** GET http://podIP:port/path. */
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
