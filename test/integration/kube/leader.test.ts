// Two real regcred processes against a real API server, with leader election. Who wrote what
// is read from the API server's own audit log: each replica authenticates with its own
// TokenRequest token, and the audit log names the token of every request
// (user.extra["authentication.kubernetes.io/credential-id"] = JTI of the token).
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { startCluster, type AuditEvent, type Cluster } from "../../rig/cluster.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { find, parsePrometheus } from "../../helpers/prom.ts";
import { leastPrivilege, type LeastPrivilege } from "./least-rbac.ts";

const root = path.resolve(import.meta.dirname, "../../..");
const NAMESPACES = 60;
const WRITE_VERBS = new Set(["create", "update", "patch", "delete", "deletecollection"]);

interface Replica {
  name: string;
  child: ChildProcess;
  stderr: () => string;
  url: string;
  exited: Promise<number | null>;
  /** The JTI of its token, as the audit log records it. */
  credential: string;
  passwordFile: string;
}

function jti(token: string): string {
  const payload = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString()) as { jti?: string };
  if (!payload.jti)
    throw new Error("ServiceAccount token without jti: the audit log cannot tell replicas apart");
  return `JTI=${payload.jti}`;
}

describe("leader election with two processes (writes counted from the audit log)", () => {
  const run = randomBytes(3).toString("hex");
  const name = `pull-${run}`;
  const dir = mkdtempSync(path.join(tmpdir(), "regcred-leader-"));
  let cluster: Cluster;
  let core: CoreV1Api;
  let ns: NamespaceSet;
  let regcred: LeastPrivilege;
  const replicas: Replica[] = [];

  /** Write requests (any outcome) the replica sent, optionally only those received after `since` (ms). */
  function writes(r: Replica, since = 0): AuditEvent[] {
    return cluster
      .auditEvents()
      .filter(
        (e) =>
          WRITE_VERBS.has(e.verb) &&
          e.user.extra?.["authentication.kubernetes.io/credential-id"]?.includes(r.credential) &&
          Date.parse(e.requestReceivedTimestamp) > since,
      );
  }
  const secretWrites = (r: Replica, since = 0) =>
    writes(r, since).filter((e) => e.objectRef?.resource === "secrets");

  async function startReplica(label: string, password: string): Promise<Replica> {
    const token = await cluster.serviceAccountToken(regcred.namespace, "regcred", {
      expirationSeconds: 3600,
    });
    const passwordFile = path.join(dir, `password-${label}`);
    writeFileSync(passwordFile, password);
    const config = path.join(dir, `config-${label}.yaml`);
    writeFileSync(
      config,
      `registries:
  - { name: quay, provider: static, registries: [quay.io], username: robot, passwordFrom: { file: ${passwordFile} } }
secrets:
  - name: ${name}
    registries: [quay]
    serviceAccounts: [default]
    namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } }
server: { port: 0, host: 127.0.0.1 }
kubernetes:
  instance: lead-${run}
  events: false
  # One write at a time: a pass over ${NAMESPACES} namespaces lasts long enough to be frozen in.
  concurrency: 1
  leaderElection: { enabled: true, namespace: ${regcred.namespace}, name: ${regcred.leaseName}, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 500ms }
`,
    );
    const child = spawn(
      process.execPath,
      // One process, tsx as a loader: the tsx CLI is a parent that relays signals, and a
      // signal to the group reached the daemon twice (once relayed, late), which is not what
      // Kubernetes does to a container's process.
      [
        "--import",
        "tsx",
        "src/main.ts",
        "run",
        "-c",
        config,
        "--kubeconfig",
        cluster.writeKubeconfigForToken(token),
      ],
      // Its own process group, so cleanup reaches everything it started.
      { cwd: root, stdio: ["ignore", "ignore", "pipe"], detached: true },
    );
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
    await vi.waitFor(() => expect(stderr).toContain('"msg":"regcred running"'), {
      timeout: 30_000,
      interval: 100,
    });
    const url = /"url":"([^"]+)"/.exec(stderr)![1]!;
    const r = { name: label, child, stderr: () => stderr, url, exited, credential: jti(token), passwordFile };
    replicas.push(r);
    return r;
  }

  async function leaderGauge(r: Replica): Promise<number> {
    const samples = parsePrometheus(await (await fetch(`${r.url}/metrics`)).text());
    return find(samples, "regcred_leader")[0]!.value;
  }

  async function passwords(): Promise<string[]> {
    return Promise.all(
      ns.names.map(async (namespace) => {
        try {
          const s = await core.readNamespacedSecret({ namespace, name });
          const auths = JSON.parse(Buffer.from(s.data![".dockerconfigjson"]!, "base64").toString()).auths;
          return auths["quay.io"].password as string;
        } catch {
          return "(none)";
        }
      }),
    );
  }

  /** The daemon's process group. */
  const signal = (r: Replica, sig: NodeJS.Signals) => process.kill(-r.child.pid!, sig);

  beforeAll(async () => {
    cluster = await startCluster({ controllerManager: false, audit: true });
    core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    ns = await createNamespaces(cluster.kubeConfig(), `lead-${run}`, NAMESPACES, { "regcred-test": run });
    for (const namespace of ns.names)
      await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: "default" } } });
    regcred = await leastPrivilege(cluster, run, [name]);
  });

  afterAll(async () => {
    for (const r of replicas) {
      try {
        process.kill(-r.child.pid!, "SIGCONT");
        process.kill(-r.child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await cluster?.stop();
  });

  it("only the leader writes; a leader frozen past its lease writes nothing once resumed; SIGTERM hands over", async () => {
    const a = await startReplica("a", "password-a-1");
    await vi.waitFor(async () => expect(await leaderGauge(a)).toBe(1), { timeout: 10_000, interval: 100 });
    await vi.waitFor(async () => expect(new Set(await passwords())).toEqual(new Set(["password-a-1"])), {
      timeout: 20_000,
      interval: 200,
    });
    const b = await startReplica("b", "password-b-1");

    // A follower writes nothing, even when the cluster drifts and the leader repairs it.
    await core.deleteNamespacedSecret({ namespace: ns.names[0]!, name });
    await vi.waitFor(async () => expect((await passwords())[0]).toBe("password-a-1"), {
      timeout: 10_000,
      interval: 100,
    });
    await new Promise((r) => setTimeout(r, 2_000));
    expect(await leaderGauge(b)).toBe(0);
    expect(writes(b)).toEqual([]);
    // The audit log does see this replica set's writes: the leader's.
    expect(secretWrites(a).length).toBeGreaterThanOrEqual(NAMESPACES + 1);

    // A new password on a: a pass over every namespace, one write at a time. Freeze a inside it.
    const rotated = Date.now();
    writeFileSync(a.passwordFile, "password-a-2");
    await vi.waitFor(() => expect(secretWrites(a, rotated).length).toBeGreaterThan(0), {
      timeout: 10_000,
      interval: 5,
    });
    signal(a, "SIGSTOP");
    const frozenAt = Date.now();
    await new Promise((r) => setTimeout(r, 300));
    const beforeFreeze = secretWrites(a, rotated).length;
    // Really frozen mid-pass: Secrets are left to write.
    expect(beforeFreeze).toBeLessThan(NAMESPACES);

    // b takes over after the lease expires and writes its own password everywhere.
    await vi.waitFor(async () => expect(await leaderGauge(b)).toBe(1), { timeout: 15_000, interval: 100 });
    console.log(`takeover from a frozen leader: ${Date.now() - frozenAt} ms (lease 3 s)`);
    await vi.waitFor(async () => expect(new Set(await passwords())).toEqual(new Set(["password-b-1"])), {
      timeout: 20_000,
      interval: 200,
    });

    // a resumes: it must notice at once that it no longer leads, and write nothing at all.
    const resumed = Date.now();
    signal(a, "SIGCONT");
    await vi.waitFor(async () => expect(await leaderGauge(a)).toBe(0), { timeout: 10_000, interval: 100 });
    await new Promise((r) => setTimeout(r, 3_000));
    const after = writes(a, resumed);
    expect(
      after.map((e) => `${e.verb} ${e.requestURI} -> ${e.responseStatus?.code}`),
      "writes by the resumed ex-leader",
    ).toEqual([]);
    expect(new Set(await passwords())).toEqual(new Set(["password-b-1"]));
    expect(await leaderGauge(b)).toBe(1);

    // Rolling update: b gets SIGTERM, releases the lease; a takes over and writes its password.
    const stoppedAt = Date.now();
    signal(b, "SIGTERM");
    expect(await b.exited).toBe(0);
    await vi.waitFor(async () => expect(await leaderGauge(a)).toBe(1), { timeout: 10_000, interval: 50 });
    console.log(`takeover after SIGTERM: ${Date.now() - stoppedAt} ms`);
    await vi.waitFor(async () => expect(new Set(await passwords())).toEqual(new Set(["password-a-2"])), {
      timeout: 20_000,
      interval: 200,
    });
    // b wrote nothing after it exited.
    const exitedAt = Date.now();
    await new Promise((r) => setTimeout(r, 500));
    expect(writes(b, exitedAt)).toEqual([]);
  }, 240_000);
});
