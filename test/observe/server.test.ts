// The HTTP listener's address: the config's default must serve kubelet's probes on IPv4 and on
// IPv6 (an IPv6-only cluster probes the pod's IPv6 address), and a host without IPv6 must
// still get a listener.
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { listen, startHttpServer, type HttpServer } from "../../src/observe/server.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { configFrom } from "../helpers/config.ts";

const CONFIG = `
registries:
  - { name: hub, provider: static, registries: [docker.io], username: u, passwordFrom: { env: UNUSED } }
secrets:
  - { name: pull, registries: [hub] }
`;

function get(host: string, port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host, port, path, family: host.includes(":") ? 6 : 4 }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

const servers: Array<HttpServer | Server> = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    if ("url" in s) await s.close();
    else await new Promise((r) => s.close(r));
  }
});

describe("HTTP listener address", () => {
  it("the default config host answers probes on IPv4 (127.0.0.1) and IPv6 (::1) alike", async () => {
    const { server: cfg } = configFrom(CONFIG);
    expect(cfg.host).toBe("::");
    // Also when only the port is set (the chart sets it).
    expect(configFrom(`${CONFIG}server: { port: 9090 }\n`).server).toEqual({ port: 9090, host: "::" });

    const http = await startHttpServer(
      { ...cfg, port: 0 },
      { metrics: new Metrics(), probes: { ready: () => ({ ready: true, reasons: [] }), status: () => ({}) } },
    );
    servers.push(http);
    const port = Number(new URL(http.url).port);
    expect(await get("127.0.0.1", port, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect(await get("::1", port, "/healthz")).toEqual({ status: 200, body: "ok\n" });
    expect(await get("::1", port, "/readyz")).toEqual({ status: 200, body: "ok\n" });
  });

  it("an explicit IPv4 host stays IPv4-only (the setting is honoured, not widened)", async () => {
    const http = await startHttpServer(
      { host: "127.0.0.1", port: 0 },
      { metrics: new Metrics(), probes: { ready: () => ({ ready: true, reasons: [] }), status: () => ({}) } },
    );
    servers.push(http);
    const port = Number(new URL(http.url).port);
    expect((await get("127.0.0.1", port, "/healthz")).status).toBe(200);
    await expect(get("::1", port, "/healthz")).rejects.toMatchObject({ code: "ECONNREFUSED" });
  });

  it('"::" on a kernel without IPv6 (EAFNOSUPPORT) falls back to 0.0.0.0', async () => {
    // No kernel here lacks IPv6, so the socket call's refusal is played by the server object.
    const server = createServer((_, res) => res.end("ok"));
    servers.push(server);
    const real = server.listen.bind(server) as (port: number, host: string, cb: () => void) => Server;
    const hosts: string[] = [];
    server.listen = ((port: number, host: string, cb: () => void) => {
      hosts.push(host);
      if (host === "::") {
        const err = Object.assign(new Error("listen EAFNOSUPPORT: address family not supported :::0"), {
          code: "EAFNOSUPPORT",
        });
        process.nextTick(() => server.emit("error", err));
        return server;
      }
      return real(port, host, cb);
    }) as typeof server.listen;
    await listen(server, 0, "::");
    expect(hosts).toEqual(["::", "0.0.0.0"]);
    expect((server.address() as AddressInfo).address).toBe("0.0.0.0");
  });

  it('a taken port on "::" is an error, not a silent fallback to another address', async () => {
    const first = createServer();
    servers.push(first);
    await listen(first, 0, "::");
    const { port } = first.address() as AddressInfo;
    const second = createServer();
    await expect(listen(second, port, "::")).rejects.toMatchObject({ code: "EADDRINUSE" });
    expect(second.listening).toBe(false);
  });
});
