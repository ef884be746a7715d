// A rig registry served under a real registry host name (ghcr.io, NAME.azurecr.io,
// ACCOUNT.dkr.ecr.REGION.amazonaws.com, REGION-docker.pkg.dev, gcr.io, Docker Hub, a
// self-hosted host:port), so the kubelet's own keyring matching picks the Secret's key and
// containerd pulls over TLS exactly as from the real host:
//
//   - a loopback address 127.0.0.x (never 127.0.0.1) named in /etc/hosts (etc-hosts.ts),
//   - a small TLS terminator of ours on x:443 (or the given port) with a certificate for the
//     name from a throwaway CA, forwarding to the rig registry's plain HTTP port; a token
//     registry's realm is served on the same name (https://NAME/token) and rewritten in the
//     challenge, as real token registries do,
//   - containerd trusting that CA for that host only (HOSTS_DIR/<host>/hosts.toml, read by
//     containerd at every pull, so hosts may come and go while the node runs).
//
// API:
//   serveRegistryAt(registry: Registry, host: string): Promise<ServedHost>
//     host "docker.io" (DOCKER_HUB) serves Docker Hub: registry-1.docker.io and index.docker.io,
//     and image references without a registry ("team/app:v1").
//   ServedHost { host; names; ip; port; caFile; requests;
//                imageRef(rigRef) -> the reference a Pod names, e.g. "ghcr.io/team/app:v1";
//                pull(dockerconfigjson, imageRef) -> PullResult (crane, trusting the CA);
//                stop() }
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync, readdirSync } from "node:fs";
import { request } from "node:http";
import { createServer, type Server } from "node:https";
import type { Socket } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeCA, makeServingCert } from "./certs.ts";
import { addHostsEntry, removeHostsEntry, sweepHostsEntries } from "./etc-hosts.ts";
import { HOSTS_DIR, removeRunDirIfEmpty, requireRoot } from "./node-host.ts";
import { pullWithDockerConfig, type PullResult, type Registry } from "./registry.ts";
import { pidAlive, RigError, sleep } from "./util.ts";

/** serveRegistryAt(registry, DOCKER_HUB) serves Docker Hub. */
export const DOCKER_HUB = "docker.io";

export interface ServedRequest {
  method: string;
  path: string;
  /** The Authorization scheme the client sent ("Basic", "Bearer"), never the value. */
  auth: string | undefined;
  status: number;
}

export interface ServedHost {
  /** What users write before the repository: "ghcr.io", "corp.example:5443", "docker.io". */
  readonly host: string;
  /** The names in /etc/hosts (Docker Hub: registry-1.docker.io, index.docker.io). */
  readonly names: string[];
  readonly ip: string;
  readonly port: number;
  /** The throwaway CA that signed this host's certificate (containerd trusts it for this host). */
  readonly caFile: string;
  /** Every request that came through the TLS terminator, oldest first. */
  readonly requests: ServedRequest[];
  /** `<host>/repo:tag` (Docker Hub: `repo:tag`) for an image pushed as `<registry.host>/repo:tag`. */
  imageRef(rigRef: string): string;
  /** crane pull of imageRef with exactly this .dockerconfigjson, trusting only this host's CA. */
  pull(dockerconfigjson: string, imageRef: string): Promise<PullResult>;
  stop(): Promise<void>;
}

/** Go's resolver (containerd, crane) caches /etc/hosts for 5 s: wait that out after a change. */
const RESOLVER_CACHE_MS = 5_100;

function hostsToml(server: string, caFile: string): string {
  return `server = "${server}"

[host."${server}"]
  capabilities = ["pull", "resolve"]
  ca = "${caFile}"
`;
}

/** Removes hosts.toml folders whose owning process died (a crashed run). */
export function sweepHostsDirs(): void {
  for (const d of safeList(HOSTS_DIR)) {
    let owner = 0;
    try {
      owner = Number(readFileSync(join(HOSTS_DIR, d, "owner"), "utf8").trim());
    } catch {
      // no owner file: not one of ours in a known state
    }
    if (!owner || !pidAlive(owner)) rmSync(join(HOSTS_DIR, d), { recursive: true, force: true });
  }
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

async function listenOnFreeLoopback(server: Server, port: number): Promise<string> {
  const tried = new Set<number>();
  while (tried.size < 200) {
    const x = 2 + Math.floor(Math.random() * 253);
    if (tried.has(x)) continue;
    tried.add(x);
    const ip = `127.0.0.${x}`;
    const ok = await new Promise<boolean>((resolve) => {
      const onError = (): void => resolve(false);
      server.once("error", onError);
      server.listen(port, ip, () => {
        server.off("error", onError);
        resolve(true);
      });
    });
    if (ok) return ip;
  }
  throw new RigError(`no free 127.0.0.x address for port ${port}`);
}

export async function serveRegistryAt(registry: Registry, host: string): Promise<ServedHost> {
  requireRoot("Serving a registry under a real host name (/etc/hosts, port 443)");
  const hub = host === DOCKER_HUB;
  const [hostname, portText] = host.split(":") as [string, string | undefined];
  const port = portText ? Number(portText) : 443;
  const names = hub ? ["registry-1.docker.io", "index.docker.io"] : [hostname];
  const server = hub ? "https://registry-1.docker.io" : `https://${host}`;

  await sweepHostsEntries();
  sweepHostsDirs();
  const dir = mkdtempSync(join(tmpdir(), "regcred-rig-host-"));
  const ca = await makeCA(dir, `regcred-rig ${host} CA`);
  const leaf = await makeServingCert(dir, "host", ca, { cn: names[0], sans: names.map((n) => `DNS:${n}`) });

  // The token realm, on the served name like real token registries (crane refuses an http realm
  // for an https registry).
  const realm = registry.tokenServer?.realm;
  const ownRealm = `${server}/token`;
  const requests: ServedRequest[] = [];
  const sockets = new Set<Socket>();
  const tls = createServer(
    { cert: readFileSync(leaf.certFile), key: readFileSync(leaf.keyFile) },
    (req, res) => {
      const path = req.url ?? "/";
      const toToken = realm !== undefined && (path === "/token" || path.startsWith("/token?"));
      const target = toToken ? new URL(realm + path.slice("/token".length)) : new URL(path, registry.url);
      const auth = req.headers.authorization?.split(" ")[0];
      const upstream = request(
        target,
        { method: req.method ?? "GET", headers: { ...req.headers, host: target.host } },
        (up) => {
          const headers = { ...up.headers };
          const challenge = headers["www-authenticate"];
          if (realm && typeof challenge === "string")
            headers["www-authenticate"] = challenge.replace(realm, ownRealm);
          requests.push({ method: req.method ?? "GET", path, auth, status: up.statusCode ?? 502 });
          res.writeHead(up.statusCode ?? 502, headers);
          up.pipe(res);
        },
      );
      upstream.on("error", () => res.destroy());
      req.pipe(upstream);
    },
  );
  tls.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  let ip: string | undefined;
  const hostDir = join(HOSTS_DIR, host);
  try {
    ip = await listenOnFreeLoopback(tls, port);
    await addHostsEntry(ip, names);
    mkdirSync(hostDir, { recursive: true });
    writeFileSync(join(hostDir, "owner"), String(process.pid));
    writeFileSync(join(hostDir, "hosts.toml"), hostsToml(server, ca.certFile));
    await sleep(RESOLVER_CACHE_MS);
  } catch (e) {
    tls.close();
    if (ip) await removeHostsEntry(ip, names);
    rmSync(hostDir, { recursive: true, force: true });
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  const servedIp = ip;
  let stopped = false;
  return {
    host,
    names,
    ip: servedIp,
    port,
    caFile: ca.certFile,
    requests,
    imageRef(rigRef) {
      if (!rigRef.startsWith(`${registry.host}/`)) throw new RigError(`${rigRef} is not on ${registry.host}`);
      const rest = rigRef.slice(registry.host.length + 1);
      return hub ? rest : `${host}/${rest}`;
    },
    pull: (dockerconfigjson, imageRef) =>
      pullWithDockerConfig(dockerconfigjson, imageRef, { caFile: ca.certFile }),
    async stop() {
      if (stopped) return;
      stopped = true;
      rmSync(hostDir, { recursive: true, force: true });
      await removeHostsEntry(servedIp, names);
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => tls.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
      removeRunDirIfEmpty();
    },
  };
}
