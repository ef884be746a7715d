import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Metrics } from "./metrics.ts";
import { redact } from "./redact.ts";

export interface Probes {
  /** Every registry has a usable credential, fresh or last good. */
  ready(): { ready: boolean; reasons: string[] };
  status(): unknown;
}

export interface HttpServer {
  url: string;
  close(): Promise<void>;
}

/** /metrics, /healthz, /readyz and /status. Every body leaves through the redactor. */
export async function startHttpServer(
  options: { host: string; port: number },
  deps: { metrics: Metrics; probes: Probes },
): Promise<HttpServer> {
  const server: Server = createServer((req, res) => {
    const send = (status: number, type: string, body: string) => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(redact(body));
    };
    const route = new URL(req.url ?? "/", "http://localhost").pathname;
    if (req.method !== "GET" && req.method !== "HEAD") return send(405, "text/plain", "method not allowed\n");
    switch (route) {
      case "/metrics":
        deps.metrics
          .text()
          .then((text) => send(200, deps.metrics.registry.contentType, text))
          .catch((err: Error) => send(500, "text/plain", `${err.message}\n`));
        return;
      case "/healthz":
        return send(200, "text/plain", "ok\n");
      case "/readyz": {
        const { ready, reasons } = deps.probes.ready();
        return send(
          ready ? 200 : 503,
          "text/plain",
          ready ? "ok\n" : `not ready:\n${reasons.map((r) => `- ${r}\n`).join("")}`,
        );
      }
      case "/status":
        return send(200, "application/json", `${JSON.stringify(deps.probes.status(), null, 2)}\n`);
      default:
        return send(404, "text/plain", "not found\n");
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host === "0.0.0.0" || options.host === "::" ? "127.0.0.1" : options.host;
  return {
    url: `http://${host.includes(":") ? `[${host}]` : host}:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
