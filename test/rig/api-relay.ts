// The node's stand-in for kube-proxy's rule for the `kubernetes` Service (node-network.ts): a
// TCP relay from the Service's ClusterIP to the API server on loopback. TLS passes through
// untouched, so Pods verify the API server's certificate (SAN IP:10.0.0.1) against their
// ServiceAccount's ca.crt. Only Pod addresses are served: the ClusterIP is a host address, and
// nothing but the Pods may use this way in.
//
// Run as a node process by plain Node (type stripping, no imports of the rig):
//   node api-relay.ts LISTEN_IP:PORT 127.0.0.1:PORT POD_SUBNET NODE_DIR
// NODE_DIR only marks the process as the node's (teardown kills what names it).
import { createConnection, createServer, type Socket } from "node:net";

const [listen, target, subnet] = process.argv.slice(2);
if (!listen || !target || !subnet) {
  process.stderr.write("usage: api-relay.ts LISTEN_IP:PORT TARGET_IP:PORT POD_SUBNET NODE_DIR\n");
  process.exit(2);
}
const split = (hostPort: string): [string, number] => {
  const i = hostPort.lastIndexOf(":");
  return [hostPort.slice(0, i), Number(hostPort.slice(i + 1))];
};
const [listenHost, listenPort] = split(listen);
const [targetHost, targetPort] = split(target);

const toInt = (a: string) => a.split(".").reduce((n, o) => n * 256 + Number(o), 0);
const [base, bits] = subnet.split("/");
const mask = bits === "0" ? 0 : (0xffffffff << (32 - Number(bits))) >>> 0;
const net = (toInt(base!) & mask) >>> 0;
const fromPod = (addr: string | undefined) =>
  !!addr && (toInt(addr.replace(/^::ffff:/, "")) & mask) >>> 0 === net;

let served = 0;
const server = createServer((client: Socket) => {
  if (!fromPod(client.remoteAddress)) {
    client.destroy();
    return;
  }
  served++;
  const upstream = createConnection({ host: targetHost, port: targetPort });
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", close).on("close", close);
  upstream.on("error", close).on("close", close);
  client.pipe(upstream).pipe(client);
});
server.listen(listenPort, listenHost, () => {
  process.stdout.write(`relaying ${listen} -> ${target} for ${subnet}\n`);
});
server.on("error", (e) => {
  process.stderr.write(`api-relay: ${e.message}\n`);
  process.exit(1);
});
process.on("SIGTERM", () => {
  process.stdout.write(`served ${served} connections\n`);
  process.exit(0);
});
