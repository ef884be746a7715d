// A real Kubernetes control plane on loopback: etcd 3.6 + kube-apiserver 1.35 (+ optionally
// kube-controller-manager with the namespace, serviceaccount, garbagecollector and
// serviceaccount-token controllers), built from the committed tools modules.
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api, KubeConfig } from "@kubernetes/client-node";
import { stringify } from "yaml";
import { makeCA, makeKeyPair, makeServingCert } from "./certs.ts";
import { ensureTool } from "./tools.ts";
import { freePort, log, ManagedProcess, RigError, waitFor } from "./util.ts";

export interface ClusterOptions {
  /** Run kube-controller-manager (default ServiceAccounts, namespace deletion, GC). Default true. */
  controllerManager?: boolean;
  /** Leave the processes running after this Node process exits (used by `npm run cluster:up`). */
  detached?: boolean;
  /** Parent folder for the cluster's temp folder (default: the OS temp dir). */
  parentDir?: string;
  /**
   * Record every write request (create, update, patch, delete) in the API server's own audit
   * log, at Metadata level (no bodies, so no Secret data): read it with auditEvents().
   */
  audit?: boolean;
}

/** One line of the API server's audit log (audit.k8s.io/v1 Event), the fields tests read. */
export interface AuditEvent {
  verb: string;
  requestURI: string;
  userAgent?: string;
  user: { username: string; extra?: Record<string, string[]> };
  objectRef?: { resource?: string; namespace?: string; name?: string };
  responseStatus?: { code?: number };
  requestReceivedTimestamp: string;
}

const AUDIT_POLICY = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: ["RequestReceived"]
rules:
  - level: Metadata
    verbs: ["create", "update", "patch", "delete", "deletecollection"]
  - level: None
`;

/** What identifies a running cluster; serializable (globalSetup -> test files, state file). */
export interface ClusterInfo {
  /** Admin kubeconfig (token auth, group system:masters). */
  kubeconfigPath: string;
  /** https://127.0.0.1:PORT */
  server: string;
  /** PEM of the CA that signed the API server's certificate. */
  caData: string;
  caFile: string;
  adminToken: string;
  /** The cluster's temp folder: certs, etcd data, logs. Removed by stop(). */
  dir: string;
  etcdEndpoint: string;
  /** gitVersion the API server reports, e.g. v1.35.4. */
  version: string;
  pids: { etcd?: number; apiserver?: number; controllerManager?: number };
  /** The audit log, when started with audit: true. */
  auditLog?: string;
}

/** Client helpers over a ClusterInfo; works for a cluster started in another process too. */
export class ClusterClient {
  readonly info: ClusterInfo;
  constructor(info: ClusterInfo) {
    this.info = info;
  }
  get kubeconfigPath(): string {
    return this.info.kubeconfigPath;
  }
  get server(): string {
    return this.info.server;
  }
  get caData(): string {
    return this.info.caData;
  }
  get caFile(): string {
    return this.info.caFile;
  }
  get adminToken(): string {
    return this.info.adminToken;
  }
  get dir(): string {
    return this.info.dir;
  }

  /** A KubeConfig for the admin user (a new object each call). */
  kubeConfig(): KubeConfig {
    return this.kubeConfigForToken(this.info.adminToken, "admin");
  }

  /** A KubeConfig that authenticates with the given bearer token (e.g. a ServiceAccount's). */
  kubeConfigForToken(token: string, user = "token-user"): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromString(kubeconfigYaml(this.info.server, this.info.caData, token, user));
    return kc;
  }

  /** Writes a kubeconfig file for the token (for running regcred as that identity); returns its path. */
  writeKubeconfigForToken(token: string, name = `kubeconfig-${randomBytes(4).toString("hex")}`): string {
    const p = join(this.info.dir, name);
    writeFileSync(p, kubeconfigYaml(this.info.server, this.info.caData, token, "token-user"), {
      mode: 0o600,
    });
    return p;
  }

  /** Mints a token for a ServiceAccount through the TokenRequest API. */
  async serviceAccountToken(
    namespace: string,
    name: string,
    opts: { expirationSeconds?: number; audiences?: string[] } = {},
  ): Promise<string> {
    const core = this.kubeConfig().makeApiClient(CoreV1Api);
    const tr = await core.createNamespacedServiceAccountToken({
      namespace,
      name,
      body: {
        spec: {
          expirationSeconds: opts.expirationSeconds ?? 3600,
          audiences: opts.audiences ?? [],
        },
      },
    });
    const token = tr.status?.token;
    if (!token) throw new RigError(`TokenRequest for ${namespace}/${name} returned no token`);
    return token;
  }

  /** Every write the API server has audited so far (startCluster({ audit: true }) only). */
  auditEvents(): AuditEvent[] {
    if (!this.info.auditLog) throw new RigError("cluster started without audit: true");
    let text: string;
    try {
      text = readFileSync(this.info.auditLog, "utf8");
    } catch {
      return [];
    }
    // The last line may be half written.
    return text
      .split("\n")
      .filter((l) => l.endsWith("}"))
      .map((l) => JSON.parse(l) as AuditEvent);
  }

  /** GET a path on the API server as admin; returns status and body (for /version, /readyz...). */
  rawGet(path: string, token = this.info.adminToken): Promise<{ status: number; body: string }> {
    return httpsGet(this.info.server + path, this.info.caData, token);
  }
}

export function kubeconfigYaml(server: string, caPem: string, token: string, user: string): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      {
        name: "regcred-rig",
        cluster: { server, "certificate-authority-data": Buffer.from(caPem).toString("base64") },
      },
    ],
    users: [{ name: user, user: { token } }],
    contexts: [{ name: "regcred-rig", context: { cluster: "regcred-rig", user } }],
    "current-context": "regcred-rig",
  });
}

function httpsGet(url: string, ca: string, token: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca, headers: { Authorization: `Bearer ${token}` }, timeout: 5_000 }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (body += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}

/** A cluster this process started: ClusterClient plus lifecycle control. */
export class Cluster extends ClusterClient {
  private readonly etcd: ManagedProcess;
  private readonly apiserver: ManagedProcess;
  private readonly kcm: ManagedProcess | undefined;
  private readonly apiserverCmd: { bin: string; args: string[] };
  private readonly kcmCmd: { bin: string; args: string[] } | undefined;
  private readonly detached: boolean;
  private stopped = false;

  /** Use startCluster(). */
  constructor(
    info: ClusterInfo,
    procs: {
      etcd: ManagedProcess;
      apiserver: ManagedProcess;
      kcm: ManagedProcess | undefined;
      apiserverCmd: { bin: string; args: string[] };
      kcmCmd: { bin: string; args: string[] } | undefined;
      detached: boolean;
    },
  ) {
    super(info);
    this.etcd = procs.etcd;
    this.apiserver = procs.apiserver;
    this.kcm = procs.kcm;
    this.apiserverCmd = procs.apiserverCmd;
    this.kcmCmd = procs.kcmCmd;
    this.detached = procs.detached;
  }

  /** Stops the API server (etcd and its data stay). */
  async stopApiserver(): Promise<void> {
    await this.apiserver.stop();
    this.info.pids.apiserver = undefined;
  }

  /** Starts the API server again on the same port, same etcd data, same certs; waits for /readyz. */
  async startApiserver(): Promise<void> {
    if (this.apiserver.pid !== undefined) return;
    this.info.pids.apiserver = this.apiserver.start(this.apiserverCmd.bin, this.apiserverCmd.args, {
      detached: this.detached,
    });
    await waitReady(this, this.apiserver);
  }

  async restartApiserver(): Promise<void> {
    await this.stopApiserver();
    await this.startApiserver();
  }

  /** Stops kube-controller-manager (e.g. to watch a namespace stay Terminating). */
  async stopControllerManager(): Promise<void> {
    await this.kcm?.stop();
    this.info.pids.controllerManager = undefined;
  }

  async startControllerManager(): Promise<void> {
    if (!this.kcm || !this.kcmCmd || this.kcm.pid !== undefined) return;
    this.info.pids.controllerManager = this.kcm.start(this.kcmCmd.bin, this.kcmCmd.args, {
      detached: this.detached,
    });
  }

  /** Stops everything and removes the temp folder (certs, etcd data, logs). Idempotent. */
  async stop(opts: { keepDir?: boolean } = {}): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    await this.kcm?.stop(5_000);
    await this.apiserver.stop();
    await this.etcd.stop();
    if (!opts.keepDir) rmSync(this.info.dir, { recursive: true, force: true });
  }
}

async function waitReady(c: ClusterClient, proc: ManagedProcess): Promise<void> {
  await waitFor(
    `kube-apiserver /readyz at ${c.server}`,
    async () => (await c.rawGet("/readyz")).status === 200,
    { timeoutMs: 120_000, intervalMs: 250, proc },
  );
}

/**
 * Starts etcd + kube-apiserver (+ kube-controller-manager) on free loopback ports, building the
 * binaries on first use. Returns once /readyz answers 200 (and, with the controller manager,
 * once the `default` namespace has its `default` ServiceAccount).
 */
export async function startCluster(opts: ClusterOptions = {}): Promise<Cluster> {
  const withKcm = opts.controllerManager ?? true;
  const detached = opts.detached ?? false;
  const [etcdBin, apiBin, kcmBin] = await Promise.all([
    ensureTool("etcd"),
    ensureTool("kube-apiserver"),
    withKcm ? ensureTool("kube-controller-manager") : Promise.resolve(undefined),
  ]);
  const started = Date.now();
  const parent = opts.parentDir ?? tmpdir();
  mkdirSync(parent, { recursive: true });
  const dir = mkdtempSync(join(parent, "regcred-rig-cluster-"));
  const procs: ManagedProcess[] = [];
  try {
    const pki = join(dir, "pki");
    mkdirSync(pki);
    const ca = await makeCA(pki, "regcred-rig-kube-ca");
    const [serving, sa] = await Promise.all([
      makeServingCert(pki, "apiserver", ca, {
        cn: "kube-apiserver",
        sans: ["DNS:kubernetes", "DNS:kubernetes.default", "DNS:kubernetes.default.svc", "IP:10.0.0.1"],
      }),
      makeKeyPair(pki, "sa"),
    ]);
    const adminToken = randomBytes(24).toString("hex");
    const tokenFile = join(pki, "tokens.csv");
    writeFileSync(tokenFile, `${adminToken},admin,admin-uid,"system:masters"\n`, { mode: 0o600 });
    const caData = readFileSync(ca.certFile, "utf8");

    const [etcdPort, peerPort, apiPort] = await distinctPorts(3);
    const etcdEndpoint = `http://127.0.0.1:${etcdPort}`;
    const etcd = new ManagedProcess("etcd", join(dir, "logs", "etcd.log"));
    procs.push(etcd);
    const etcdPid = etcd.start(
      etcdBin,
      [
        "--name=rig",
        `--data-dir=${join(dir, "etcd")}`,
        `--listen-client-urls=${etcdEndpoint}`,
        `--advertise-client-urls=${etcdEndpoint}`,
        `--listen-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-advertise-peer-urls=http://127.0.0.1:${peerPort}`,
        `--initial-cluster=rig=http://127.0.0.1:${peerPort}`,
        "--unsafe-no-fsync",
        "--log-level=warn",
      ],
      { detached },
    );
    await waitFor(
      `etcd at ${etcdEndpoint}`,
      async () => {
        const r = await fetch(`${etcdEndpoint}/health`);
        return r.ok && ((await r.json()) as { health?: string }).health === "true";
      },
      { timeoutMs: 30_000, intervalMs: 100, proc: etcd },
    );

    const server = `https://127.0.0.1:${apiPort}`;
    const apiArgs = [
      `--etcd-servers=${etcdEndpoint}`,
      `--etcd-prefix=/registry`,
      "--bind-address=127.0.0.1",
      "--advertise-address=127.0.0.1",
      `--secure-port=${apiPort}`,
      `--tls-cert-file=${serving.certFile}`,
      `--tls-private-key-file=${serving.keyFile}`,
      `--client-ca-file=${ca.certFile}`,
      `--token-auth-file=${tokenFile}`,
      "--authorization-mode=Node,RBAC",
      "--service-cluster-ip-range=10.0.0.0/24",
      "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
      `--service-account-key-file=${sa.pubFile}`,
      `--service-account-signing-key-file=${sa.keyFile}`,
      "--api-audiences=https://kubernetes.default.svc.cluster.local",
      // No kubelet or node: the endpoints of the `kubernetes` Service cannot be a loopback address.
      "--endpoint-reconciler-type=none",
      "--allow-privileged=true",
      "--v=0",
    ];
    const auditLog = opts.audit ? join(dir, "logs", "audit.log") : undefined;
    if (auditLog) {
      writeFileSync(join(pki, "audit-policy.yaml"), AUDIT_POLICY);
      apiArgs.push(
        `--audit-policy-file=${join(pki, "audit-policy.yaml")}`,
        `--audit-log-path=${auditLog}`,
        "--audit-log-format=json",
        "--audit-log-mode=blocking",
      );
    }
    const apiserver = new ManagedProcess("kube-apiserver", join(dir, "logs", "kube-apiserver.log"));
    procs.push(apiserver);
    const apiPid = apiserver.start(apiBin, apiArgs, { detached });

    const kubeconfigPath = join(dir, "kubeconfig");
    writeFileSync(kubeconfigPath, kubeconfigYaml(server, caData, adminToken, "admin"), { mode: 0o600 });
    const info: ClusterInfo = {
      kubeconfigPath,
      server,
      caData,
      caFile: ca.certFile,
      adminToken,
      dir,
      etcdEndpoint,
      version: "",
      pids: { etcd: etcdPid, apiserver: apiPid },
      ...(auditLog ? { auditLog } : {}),
    };

    let kcm: ManagedProcess | undefined;
    let kcmCmd: { bin: string; args: string[] } | undefined;
    if (kcmBin) {
      kcm = new ManagedProcess("kube-controller-manager", join(dir, "logs", "kube-controller-manager.log"));
      procs.push(kcm);
      kcmCmd = {
        bin: kcmBin,
        args: [
          `--kubeconfig=${kubeconfigPath}`,
          "--controllers=namespace,serviceaccount,garbagecollector,serviceaccount-token,root-ca-cert-publisher,node-lifecycle-controller,deployment-controller,replicaset-controller,job-controller",
          `--service-account-private-key-file=${sa.keyFile}`,
          `--root-ca-file=${ca.certFile}`,
          "--leader-elect=false",
          "--use-service-account-credentials=false",
          "--bind-address=127.0.0.1",
          "--secure-port=0",
          "--v=0",
        ],
      };
    }
    const cluster = new Cluster(info, {
      etcd,
      apiserver,
      kcm,
      apiserverCmd: { bin: apiBin, args: apiArgs },
      kcmCmd,
      detached,
    });
    try {
      await waitReady(cluster, apiserver);
      const v = await cluster.rawGet("/version");
      info.version = (JSON.parse(v.body) as { gitVersion?: string }).gitVersion ?? "";
      if (kcm && kcmCmd) {
        info.pids.controllerManager = kcm.start(kcmCmd.bin, kcmCmd.args, { detached });
        const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
        await waitFor(
          "kube-controller-manager to create the default ServiceAccount",
          async () => {
            await core.readNamespacedServiceAccount({ namespace: "default", name: "default" });
            return true;
          },
          { timeoutMs: 90_000, intervalMs: 250, proc: kcm },
        );
      }
    } catch (e) {
      await cluster.stop({ keepDir: true });
      throw e;
    }
    log(`cluster ${info.version} ready at ${server} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
    return cluster;
  } catch (e) {
    // Stop whatever started; keep the folder (logs) for diagnosis and say where it is.
    await Promise.all(procs.map((p) => p.stop(5_000)));
    const err = e as Error;
    err.message += `\n(cluster folder with logs: ${dir})`;
    throw err;
  }
}

async function distinctPorts(n: number): Promise<number[]> {
  const ports = new Set<number>();
  while (ports.size < n) ports.add(await freePort());
  return [...ports];
}
