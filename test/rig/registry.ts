// A real OCI registry (Debian's docker-registry = distribution 2.8) on loopback, with
// htpasswd (basic) or token (bearer) auth, plus real-client helpers built on crane:
// push a tiny image, and pull with a .dockerconfigjson to prove a credential works.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { stringify } from "yaml";
import { makeCA, makeServingCert } from "./certs.ts";
import { startTokenServer, type TokenServer } from "./token-server.ts";
import { ensureTool } from "./tools.ts";
import { freePort, log, ManagedProcess, RigError, run, runOk, waitFor } from "./util.ts";

export interface RegistryUser {
  username: string;
  password: string;
}

export interface RegistryOptions {
  /**
   * "htpasswd" (default): Basic auth checked by the registry itself against a bcrypt htpasswd
   * file. bcrypt only looks at a password's first 72 bytes (see README).
   * "token": Bearer auth; a token server of ours (token-server.ts) checks the Basic
   * credentials exactly (any length) and issues a JWT with x5c that the registry verifies.
   */
  auth?: "htpasswd" | "token";
  /** Users that may pull (and push). More can be set later with setUsers(). */
  users?: RegistryUser[];
}

export class Registry {
  /** host:port, e.g. 127.0.0.1:41234: the auth key to use in a dockerconfigjson. */
  readonly host: string;
  /** http://host:port */
  readonly url: string;
  readonly auth: "htpasswd" | "token";
  /** A user the rig adds for its own pushes. */
  readonly admin: RegistryUser;
  /** Token server (auth "token" only). */
  readonly tokenServer: TokenServer | undefined;
  private usersList: RegistryUser[];
  private readonly proc: ManagedProcess;
  private readonly cmd: { bin: string; args: string[] };
  private readonly dir: string;
  private readonly htpasswdFile: string;
  private stopped = false;

  /** Use startRegistry(). */
  constructor(init: {
    host: string;
    auth: "htpasswd" | "token";
    admin: RegistryUser;
    users: RegistryUser[];
    tokenServer: TokenServer | undefined;
    proc: ManagedProcess;
    cmd: { bin: string; args: string[] };
    dir: string;
    htpasswdFile: string;
  }) {
    this.host = init.host;
    this.url = `http://${init.host}`;
    this.auth = init.auth;
    this.admin = init.admin;
    this.usersList = init.users;
    this.tokenServer = init.tokenServer;
    this.proc = init.proc;
    this.cmd = init.cmd;
    this.dir = init.dir;
    this.htpasswdFile = init.htpasswdFile;
  }

  get users(): readonly RegistryUser[] {
    return this.usersList;
  }

  /**
   * Replaces the accepted users. htpasswd mode restarts the registry (distribution 2.8 reads
   * the file only at start; same port, same storage); token mode takes effect at once.
   */
  async setUsers(users: RegistryUser[]): Promise<void> {
    this.usersList = users;
    if (this.tokenServer) {
      this.tokenServer.setUsers([this.admin, ...users]);
      return;
    }
    await writeHtpasswd(this.htpasswdFile, [this.admin, ...users]);
    await this.proc.stop();
    this.proc.start(this.cmd.bin, this.cmd.args);
    await waitRegistry(this.url, this.proc);
  }

  /** A .dockerconfigjson string for this registry and the given credentials. */
  dockerConfigJson(username: string, password: string): string {
    return dockerConfigJson({ [this.host]: { username, password } });
  }

  /**
   * Pushes a tiny one-layer image (a text file) as the rig's admin user; returns its reference
   * `host:port/repo:tag`.
   */
  async pushImage(repo = "rig/hello", tag = "v1"): Promise<string> {
    const crane = await ensureTool("crane");
    const ref = `${this.host}/${repo}:${tag}`;
    const work = mkdtempSync(join(tmpdir(), "regcred-rig-push-"));
    try {
      mkdirSync(join(work, "layer"));
      writeFileSync(join(work, "layer", "hello.txt"), `hello from ${ref}\n`);
      await runOk("tar", ["-cf", join(work, "layer.tar"), "-C", join(work, "layer"), "hello.txt"]);
      mkdirSync(join(work, "docker"));
      writeFileSync(
        join(work, "docker", "config.json"),
        this.dockerConfigJson(this.admin.username, this.admin.password),
      );
      await runOk(crane, ["append", "-f", join(work, "layer.tar"), "-t", ref], {
        env: { ...process.env, DOCKER_CONFIG: join(work, "docker") },
      });
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
    return ref;
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.proc.stop();
    await this.tokenServer?.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function dockerConfigJson(auths: Record<string, { username: string; password: string }>): string {
  const out: Record<string, { username: string; password: string; auth: string }> = {};
  for (const [host, { username, password }] of Object.entries(auths)) {
    out[host] = { username, password, auth: Buffer.from(`${username}:${password}`).toString("base64") };
  }
  return JSON.stringify({ auths: out });
}

async function writeHtpasswd(file: string, users: RegistryUser[]): Promise<void> {
  const bin = await ensureTool("htpasswd");
  for (const u of users) {
    if (u.username.includes(":") || /[\t\n]/.test(u.username) || u.password.includes("\n")) {
      throw new RigError(`htpasswd cannot hold user ${JSON.stringify(u.username)} (no ':' or tab in names)`);
    }
  }
  const r = await runOk(bin, [], { input: users.map((u) => `${u.username}\t${u.password}\n`).join("") });
  writeFileSync(file, r.stdout, { mode: 0o600 });
}

async function waitRegistry(url: string, proc: ManagedProcess): Promise<void> {
  await waitFor(
    `docker-registry at ${url}`,
    async () => {
      const r = await fetch(`${url}/v2/`);
      return r.status === 401 || r.status === 200;
    },
    { timeoutMs: 30_000, intervalMs: 100, proc },
  );
}

/** Starts docker-registry on a free loopback port (plain HTTP: clients allow 127.0.0.1 without TLS). */
export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const auth = opts.auth ?? "htpasswd";
  const users = opts.users ?? [];
  const [bin] = await Promise.all([
    ensureTool("docker-registry"),
    ensureTool("crane"),
    auth === "htpasswd" ? ensureTool("htpasswd") : Promise.resolve(""),
  ]);
  const dir = mkdtempSync(join(tmpdir(), "regcred-rig-registry-"));
  const admin: RegistryUser = { username: "rig-admin", password: randomBytes(16).toString("hex") };
  const port = await freePort();
  const host = `127.0.0.1:${port}`;
  const htpasswdFile = join(dir, "htpasswd");
  let tokenServer: TokenServer | undefined;
  const proc = new ManagedProcess("docker-registry", join(dir, "registry.log"));
  try {
    let authConfig: Record<string, unknown>;
    if (auth === "token") {
      const pki = join(dir, "pki");
      mkdirSync(pki);
      const ca = await makeCA(pki, "regcred-rig-token-ca");
      const signer = await makeServingCert(pki, "token-signer", ca, { cn: "regcred-rig-token-signer" });
      tokenServer = await startTokenServer({
        service: host,
        issuer: "regcred-rig-token-server",
        signer,
        users: [admin, ...users],
      });
      authConfig = {
        token: {
          realm: tokenServer.realm,
          service: host,
          issuer: "regcred-rig-token-server",
          rootcertbundle: ca.certFile,
        },
      };
    } else {
      await writeHtpasswd(htpasswdFile, [admin, ...users]);
      authConfig = { htpasswd: { realm: "regcred-rig", path: htpasswdFile } };
    }
    const config = {
      version: 0.1,
      log: { level: "warn", fields: { service: "registry" } },
      storage: {
        filesystem: { rootdirectory: join(dir, "data") },
        delete: { enabled: true },
        cache: { blobdescriptor: "inmemory" },
      },
      http: {
        addr: host,
        secret: randomBytes(16).toString("hex"),
        headers: { "X-Content-Type-Options": ["nosniff"] },
      },
      auth: authConfig,
    };
    const configFile = join(dir, "config.yml");
    writeFileSync(configFile, stringify(config));
    const cmd = { bin, args: ["serve", configFile] };
    proc.start(cmd.bin, cmd.args);
    await waitRegistry(`http://${host}`, proc);
    log(`registry (${auth}) at http://${host}`);
    return new Registry({ host, auth, admin, users, tokenServer, proc, cmd, dir, htpasswdFile });
  } catch (e) {
    await proc.stop();
    await tokenServer?.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

export type PullResult = { ok: true } | { ok: false; status: number | undefined; error: string };

/**
 * Pulls imageRef with a real client (crane, reading DOCKER_CONFIG/config.json = the given
 * .dockerconfigjson content, exactly as a Secret holds it). Reports success, or the HTTP
 * status and message the registry (or its token server) answered with. caFile: the only CA
 * trusted for TLS (a registry served under a real name by registry-hosts.ts).
 */
export async function pullWithDockerConfig(
  dockerconfigjson: string,
  imageRef: string,
  opts: { caFile?: string } = {},
): Promise<PullResult> {
  const crane = await ensureTool("crane");
  const work = mkdtempSync(join(tmpdir(), "regcred-rig-pull-"));
  try {
    mkdirSync(join(work, "docker"));
    writeFileSync(join(work, "docker", "config.json"), dockerconfigjson, { mode: 0o600 });
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(work, "docker") };
    // A registry served under a real name over TLS (registry-hosts.ts): trust only its CA.
    if (opts.caFile) env["SSL_CERT_FILE"] = opts.caFile;
    const r = await run(crane, ["pull", imageRef, join(work, "image.tar")], { env });
    if (r.code === 0) return { ok: true };
    const error = r.stderr.trim() || r.stdout.trim() || `crane exited ${r.code}`;
    return { ok: false, status: statusOf(error), error };
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

const CODE_STATUS: Record<string, number> = {
  UNAUTHORIZED: 401,
  DENIED: 403,
  NAME_UNKNOWN: 404,
  MANIFEST_UNKNOWN: 404,
  BLOB_UNKNOWN: 404,
  TOOMANYREQUESTS: 429,
};

/** The HTTP status in a go-containerregistry error message. */
export function statusOf(message: string): number | undefined {
  const m = /unexpected status code (\d{3})/.exec(message) ?? /status code (\d{3})/.exec(message);
  if (m?.[1]) return Number(m[1]);
  for (const [code, status] of Object.entries(CODE_STATUS)) if (message.includes(`${code}:`)) return status;
  return undefined;
}
