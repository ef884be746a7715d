import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Metrics } from "./metrics.ts";
import { redact } from "../base/redact.ts";

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
  await listen(server, options.port, options.host);
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

/** Errors that mean "this host has no IPv6", not "this port is taken" or "not allowed". */
const NO_IPV6 = new Set(["EAFNOSUPPORT", "EADDRNOTAVAIL", "EPROTONOSUPPORT"]);

/**
 * Listens on host:port. "::" is dual-stack (Node clears IPV6_V6ONLY, whatever the host's
 * bindv6only); on a kernel without IPv6 it falls back to 0.0.0.0, as Node's own default does.
 */
export async function listen(server: Server, port: number, host: string): Promise<void> {
  const attempt = (h: string) =>
    new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      server.once("error", onError);
      server.listen(port, h, () => {
        server.off("error", onError);
        resolve();
      });
    });
  try {
    await attempt(host);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (host !== "::" || !code || !NO_IPV6.has(code)) throw err;
    await attempt("0.0.0.0");
  }
}
