// Two real regcred processes against the real API server, with leader election: only the
// leader mints and writes; when it stops, the other takes over and refreshes.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoordinationV1Api, CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { find, parsePrometheus } from "../../helpers/prom.ts";
import { leastPrivilege, type LeastPrivilege } from "./least-rbac.ts";

const root = path.resolve(import.meta.dirname, "../../..");
const cluster = sharedCluster();
const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
const leases = cluster.kubeConfig().makeApiClient(CoordinationV1Api);

interface Replica {
  child: ChildProcess;
  stderr: () => string;
  url: string;
  exited: Promise<number | null>;
}

// The replicas run as regcred's ServiceAccount with only the least RBAC.
let regcred: LeastPrivilege;

async function startReplica(config: string): Promise<Replica> {
  const child = spawn(
    path.join(root, "node_modules/.bin/tsx"),
    ["src/main.ts", "run", "-c", config, "--kubeconfig", regcred.kubeconfigPath],
    // Its own process group, so cleanup can kill tsx and the node process under it together.
    { cwd: root, stdio: ["ignore", "ignore", "pipe"], detached: true },
  );
  let stderr = "";
  child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  await vi.waitFor(() => expect(stderr).toContain('"msg":"regcred running"'), {
    timeout: 30_000,
    interval: 100,
  });
  return { child, stderr: () => stderr, url: /"url":"([^"]+)"/.exec(stderr)![1]!, exited };
}

async function leaderGauge(r: Replica): Promise<number> {
  const samples = parsePrometheus(await (await fetch(`${r.url}/metrics`)).text());
  return find(samples, "regcred_leader")[0]!.value;
}

async function password(namespace: string, name: string): Promise<string | undefined> {
  try {
    const s = await core.readNamespacedSecret({ namespace, name });
    const auths = JSON.parse(Buffer.from(s.data![".dockerconfigjson"]!, "base64").toString()).auths;
    return auths["quay.io"].password as string;
  } catch {
    return undefined;
  }
}

describe("leader election with two processes", () => {
  const run = randomBytes(3).toString("hex");
  const name = `pull-${run}`;
  const dir = mkdtempSync(path.join(tmpdir(), "regcred-leader-"));
  let ns: NamespaceSet;
  const replicas: Replica[] = [];

  beforeAll(async () => {
    ns = await createNamespaces(cluster.kubeConfig(), `lead-${run}`, 3, { "regcred-test": run });
    regcred = await leastPrivilege(cluster, run);
    writeFileSync(path.join(dir, "password"), "leader-password-one");
    writeFileSync(
      path.join(dir, "config.yaml"),
      `registries:
  - { name: quay, provider: static, registries: [quay.io], username: robot, passwordFrom: { file: password } }
secrets:
  - name: ${name}
    registries: [quay]
    namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } }
server: { port: 0, host: 127.0.0.1 }
kubernetes:
  instance: lead-${run}
  events: false
  leaderElection: { enabled: true, namespace: ${regcred.namespace}, name: ${regcred.leaseName}, leaseDuration: 3s, renewDeadline: 2s, retryPeriod: 500ms }
`,
    );
  });

  afterAll(async () => {
    for (const r of replicas) {
      try {
        process.kill(-r.child.pid!, "SIGKILL");
      } catch {
        // already gone
      }
    }
    await Promise.all([ns?.cleanup(), regcred?.cleanup()]);
  });

  it("only the leader writes; when it stops, the other takes over and refreshes", async () => {
    replicas.push(await startReplica(path.join(dir, "config.yaml")));
    replicas.push(await startReplica(path.join(dir, "config.yaml")));
    const [a, b] = replicas as [Replica, Replica];

    await vi.waitFor(async () => expect(await password(ns.names[2]!, name)).toBe("leader-password-one"), {
      timeout: 20_000,
      interval: 100,
    });
    const gauges = [await leaderGauge(a), await leaderGauge(b)];
    expect(gauges.sort()).toEqual([0, 1]);
    const leader = (await leaderGauge(a)) === 1 ? a : b;
    const follower = leader === a ? b : a;
    // The follower has neither minted nor written anything.
    expect(follower.stderr()).not.toContain("refreshed");
    expect(follower.stderr()).not.toContain("synced");
    const lease = await leases.readNamespacedLease({ namespace: regcred.namespace, name: regcred.leaseName });
    expect(lease.spec?.holderIdentity).toBeTruthy();

    // The leader goes away (rolling update: SIGTERM releases the lease).
    const stoppedAt = Date.now();
    leader.child.kill("SIGTERM");
    expect(await leader.exited).toBe(0);
    await vi.waitFor(async () => expect(await leaderGauge(follower)).toBe(1), {
      timeout: 10_000,
      interval: 50,
    });
    console.log(`takeover after SIGTERM: ${Date.now() - stoppedAt} ms`);

    // The new leader refreshes: a rotated password reaches every namespace.
    writeFileSync(path.join(dir, "password"), "leader-password-two");
    for (const namespace of ns.names) {
      await vi.waitFor(async () => expect(await password(namespace, name)).toBe("leader-password-two"), {
        timeout: 10_000,
        interval: 100,
      });
    }
    expect(follower.stderr()).toContain("leading: minting and writing");
  }, 120_000);
});
