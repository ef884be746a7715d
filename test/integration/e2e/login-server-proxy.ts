// Cloud providers write their auth under the cloud's own login server (myreg.azurecr.io), and
// their schemas accept no other host, while the rig's registry listens on 127.0.0.1:PORT. So
// that a real client can use the written .dockerconfigjson byte for byte, this plays DNS plus
// TLS for one name: crane is given HTTPS_PROXY, and this CONNECT proxy terminates TLS for the
// login server (certificate from a throwaway CA that crane trusts through SSL_CERT_FILE) and
// forwards the HTTP to the rig's registry and its token server. Only the challenge's realm is
// rewritten (see below); the registry's token server sees exactly the credentials the client
// took from the config.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer, request, type Server } from "node:http";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { TLSSocket } from "node:tls";
import { makeCA, makeServingCert } from "../../rig/certs.ts";
import { statusOf, type PullResult, type Registry } from "../../rig/registry.ts";
import { ensureTool } from "../../rig/tools.ts";
import { run } from "../../rig/util.ts";

export interface LoginServerProxy {
  /** The login server this proxy answers for, e.g. prodreg.azurecr.io. */
  readonly loginServer: string;
  /** Every CONNECT target asked for, newest last (proof the client went through here). */
  readonly connects: string[];
  /** `<loginServer>/<repo>:<tag>` for an image the rig pushed as `<registry.host>/<repo>:<tag>`. */
  imageRef(rigRef: string): string;
  /** Pulls with crane, reading the given .dockerconfigjson unchanged, through this proxy. */
  pull(dockerconfigjson: string, imageRef: string): Promise<PullResult>;
  stop(): Promise<void>;
}

export async function startLoginServerProxy(
  loginServer: string,
  registry: Registry,
): Promise<LoginServerProxy> {
  const dir = mkdtempSync(join(tmpdir(), "regcred-e2e-proxy-"));
  const ca = await makeCA(dir, "regcred-e2e-login-server-ca");
  const leaf = await makeServingCert(dir, "login-server", ca, { sans: [`DNS:${loginServer}`] });
  const tls = { cert: readFileSync(leaf.certFile), key: readFileSync(leaf.keyFile) };
  const connects: string[] = [];
  const sockets = new Set<Socket>();

  // Like ACR itself, the login server also serves the token endpoint (/oauth2/token): the
  // registry's challenge names the rig's token server (plain http on localhost), which crane
  // refuses for an https registry, so the realm is rewritten to https://<loginServer>/oauth2/token
  // and those requests go to the token server. Credentials pass through untouched.
  const realm = registry.tokenServer?.realm;
  if (!realm) throw new Error("the login server proxy needs a registry with auth: token");
  const ownRealm = `https://${loginServer}/oauth2/token`;
  const inner = createServer((req, res) => {
    const path = req.url ?? "/";
    const toToken = path === "/oauth2/token" || path.startsWith("/oauth2/token?");
    const target = toToken
      ? new URL(realm + path.slice("/oauth2/token".length))
      : new URL(path, `http://${registry.host}`);
    const upstream = request(
      target,
      { method: req.method ?? "GET", headers: { ...req.headers, host: target.host } },
      (up) => {
        const headers = { ...up.headers };
        const challenge = headers["www-authenticate"];
        if (typeof challenge === "string") headers["www-authenticate"] = challenge.replace(realm, ownRealm);
        res.writeHead(up.statusCode ?? 502, headers);
        up.pipe(res);
      },
    );
    upstream.on("error", () => res.destroy());
    req.pipe(upstream);
  });

  const server: Server = createServer((_req, res) => res.writeHead(405).end());
  server.on("connect", (req, socket: Socket, head: Buffer) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => socket.destroy());
    connects.push(req.url ?? "");
    if (req.url !== `${loginServer}:443`) {
      socket.end("HTTP/1.1 403 Forbidden\r\n\r\n");
      return;
    }
    socket.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    if (head.length > 0) socket.unshift(head);
    // No ALPN offered: the client speaks HTTP/1.1 to the inner server.
    const secure = new TLSSocket(socket, { isServer: true, ...tls });
    secure.on("error", () => socket.destroy());
    inner.emit("connection", secure);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const proxyUrl = `http://127.0.0.1:${(server.address() as { port: number }).port}`;

  return {
    loginServer,
    connects,
    imageRef: (rigRef) => {
      if (!rigRef.startsWith(`${registry.host}/`)) throw new Error(`${rigRef} is not on ${registry.host}`);
      return `${loginServer}/${rigRef.slice(registry.host.length + 1)}`;
    },
    async pull(dockerconfigjson, imageRef) {
      const crane = await ensureTool("crane");
      const work = mkdtempSync(join(tmpdir(), "regcred-e2e-pull-"));
      try {
        mkdirSync(join(work, "docker"));
        writeFileSync(join(work, "docker", "config.json"), dockerconfigjson, { mode: 0o600 });
        const env: NodeJS.ProcessEnv = {
          ...process.env,
          DOCKER_CONFIG: join(work, "docker"),
          HTTPS_PROXY: proxyUrl,
          // Go reads SSL_CERT_FILE instead of the system roots: only the test CA is trusted.
          SSL_CERT_FILE: ca.certFile,
        };
        for (const k of ["https_proxy", "NO_PROXY", "no_proxy"]) delete env[k];
        const r = await run(crane, ["pull", imageRef, join(work, "image.tar")], { env });
        if (r.code === 0) return { ok: true };
        const error = r.stderr.trim() || r.stdout.trim() || `crane exited ${r.code}`;
        return { ok: false, status: statusOf(error), error };
      } finally {
        rmSync(work, { recursive: true, force: true });
      }
    },
    async stop() {
      for (const s of sockets) s.destroy();
      inner.closeAllConnections();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
