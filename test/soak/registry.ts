// The rig's real registry (distribution 2.8, token auth), with a gate in front of its token
// server that accepts exactly the credentials the soak's upstream says are live right now.
// The rig's token server holds one password per username, and every installation token has
// the username x-access-token; a refreshed token does not revoke the one before it, so several
// are valid at once until each one's own expires_at. The gate checks that; the rig's token
// server (unchanged) then signs the JWT the registry verifies.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { makeCA, makeServingCert } from "../rig/certs.ts";
import { Registry, type RegistryUser } from "../rig/registry.ts";
import { startTokenServer, type TokenRequestLog, type TokenServer } from "../rig/token-server.ts";
import { ensureTool } from "../rig/tools.ts";
import { freePort, ManagedProcess, waitFor } from "../rig/util.ts";

export type Accept = (username: string, password: string) => boolean;

function basicCredentials(req: IncomingMessage): { username: string; password: string } | undefined {
  const authz = req.headers.authorization;
  if (!authz?.startsWith("Basic ")) return undefined;
  const decoded = Buffer.from(authz.slice(6), "base64").toString("utf8");
  const i = decoded.indexOf(":");
  return i < 0 ? undefined : { username: decoded.slice(0, i), password: decoded.slice(i + 1) };
}

async function startGate(
  issuer: TokenServer,
  issuerUser: RegistryUser,
  accept: Accept,
): Promise<TokenServer> {
  const requests: TokenRequestLog[] = [];
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? "/", "http://localhost");
    let creds = basicCredentials(req);
    if (req.method === "POST") {
      let body = "";
      for await (const chunk of req) body += String(chunk);
      const form = new URLSearchParams(body);
      if (form.get("grant_type") === "password") {
        creds = { username: form.get("username") ?? "", password: form.get("password") ?? "" };
      }
      for (const s of (form.get("scope") ?? "").split(" ").filter(Boolean))
        url.searchParams.append("scope", s);
      if (form.get("service")) url.searchParams.set("service", form.get("service")!);
    }
    const scopes = url.searchParams.getAll("scope");
    const ok = creds !== undefined && accept(creds.username, creds.password);
    requests.push({ username: creds?.username, ok, scopes });
    if (!ok) {
      res.writeHead(401, {
        "Content-Type": "application/json",
        "WWW-Authenticate": `Basic realm="regcred-soak-gate"`,
      });
      res.end(
        JSON.stringify({ errors: [{ code: "UNAUTHORIZED", message: "invalid username or password" }] }),
      );
      return;
    }
    const signed = await fetch(`${issuer.realm}${url.search}`, {
      headers: {
        authorization: `Basic ${Buffer.from(`${issuerUser.username}:${issuerUser.password}`).toString("base64")}`,
      },
    });
    res.writeHead(signed.status, { "Content-Type": "application/json" });
    res.end(await signed.text());
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => res.writeHead(500).end(String(e)));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    // localhost, as the rig's: crane refuses a loopback IP literal as the realm.
    realm: `http://localhost:${(server.address() as AddressInfo).port}/token`,
    requests,
    setUsers() {
      throw new Error("the soak registry's users follow the upstream's live tokens");
    },
    async stop() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await issuer.stop();
    },
  };
}

/** Starts docker-registry with token auth whose credential check is `accept` (plus the rig's admin). */
export async function startGatedRegistry(accept: Accept): Promise<Registry> {
  const bin = await ensureTool("docker-registry");
  await ensureTool("crane");
  const dir = mkdtempSync(join(tmpdir(), "regcred-soak-registry-"));
  const pki = join(dir, "pki");
  mkdirSync(pki);
  const ca = await makeCA(pki, "regcred-soak-token-ca");
  const signer = await makeServingCert(pki, "token-signer", ca, { cn: "regcred-soak-token-signer" });
  const host = `127.0.0.1:${await freePort()}`;
  const issuerName = "regcred-soak-token-server";
  const issuerUser: RegistryUser = { username: "soak-issuer", password: randomBytes(16).toString("hex") };
  const admin: RegistryUser = { username: "rig-admin", password: randomBytes(16).toString("hex") };
  const issuer = await startTokenServer({ service: host, issuer: issuerName, signer, users: [issuerUser] });
  const gate = await startGate(issuer, issuerUser, (u, p) =>
    u === admin.username ? p === admin.password : accept(u, p),
  );
  const config = {
    version: 0.1,
    log: { level: "warn", fields: { service: "registry" } },
    storage: { filesystem: { rootdirectory: join(dir, "data") }, cache: { blobdescriptor: "inmemory" } },
    http: { addr: host, secret: randomBytes(16).toString("hex") },
    auth: { token: { realm: gate.realm, service: host, issuer: issuerName, rootcertbundle: ca.certFile } },
  };
  const configFile = join(dir, "config.yml");
  writeFileSync(configFile, stringify(config));
  const proc = new ManagedProcess("docker-registry", join(dir, "registry.log"));
  const cmd = { bin, args: ["serve", configFile] };
  try {
    proc.start(cmd.bin, cmd.args);
    await waitFor(
      `docker-registry at http://${host}`,
      async () => (await fetch(`http://${host}/v2/`)).status === 401,
      { timeoutMs: 30_000, intervalMs: 100, proc },
    );
  } catch (e) {
    await proc.stop();
    await gate.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
  return new Registry({
    host,
    auth: "token",
    admin,
    users: [],
    tokenServer: gate,
    proc,
    cmd,
    dir,
    htpasswdFile: "",
  });
}

/**
 * What a registry client does with a username and password, without the image download: the
 * token exchange at the registry's advertised realm, then the manifest with that token.
 * `service` is the registry's host as its challenge names it.
 */
export async function registryAccepts(
  registry: Registry,
  repo: string,
  tag: string,
  username: string,
  password: string,
): Promise<{ ok: boolean; status: number }> {
  const challenge = await fetch(`${registry.url}/v2/`);
  const header = challenge.headers.get("www-authenticate") ?? "";
  await challenge.body?.cancel();
  const realm = /realm="([^"]+)"/.exec(header)?.[1];
  const service = /service="([^"]+)"/.exec(header)?.[1];
  if (!realm || !service) throw new Error(`registry challenge without realm/service: ${header}`);
  const url = new URL(realm);
  url.searchParams.set("service", service);
  url.searchParams.set("scope", `repository:${repo}:pull`);
  const t = await fetch(url, {
    headers: { authorization: `Basic ${Buffer.from(`${username}:${password}`).toString("base64")}` },
  });
  if (t.status !== 200) {
    await t.body?.cancel();
    return { ok: false, status: t.status };
  }
  const { token } = (await t.json()) as { token: string };
  const m = await fetch(`${registry.url}/v2/${repo}/manifests/${tag}`, {
    method: "HEAD",
    headers: {
      authorization: `Bearer ${token}`,
      accept:
        "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json",
    },
  });
  return { ok: m.status === 200, status: m.status };
}
