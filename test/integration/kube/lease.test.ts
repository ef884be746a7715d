// Leader election against the rig's real kube-apiserver: two electors on one Lease, release on
// stop, takeover after a crash, a third party taking the Lease, and a leader losing the API
// server. The electors authenticate as a ServiceAccount holding only the Lease verbs the chart
// grants (get, create, update), so the RBAC they need is proven too.
import {
  CoordinationV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  type KubeConfig,
} from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { leaseElector, type LeaderElector, type LeaderElectionOptions } from "../../../src/kube/lease.ts";
import { createLogger } from "../../../src/observe/log.ts";
import { captureLogger } from "../../helpers/log.ts";
import { startCluster, type Cluster, type ClusterClient } from "../../rig/cluster.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { sharedCluster } from "../../rig/shared.ts";

const LEASE_MS = 3_000;
const RENEW_MS = 2_000;
const RETRY_MS = 500;
// A follower's attempts are spread over retryPeriod x [1, 2.2) (client-go's jitter).
const MAX_ATTEMPT_GAP_MS = RETRY_MS * 2.2;

interface Probe {
  elector: LeaderElector;
  identity: string;
  started: number[];
  stopped: number[];
  changes: boolean[];
}

/** A ServiceAccount in `namespace` allowed only get/create/update on Leases there; its kubeconfig. */
async function leaseOnlyKubeConfig(cluster: ClusterClient, namespace: string): Promise<KubeConfig> {
  const admin = cluster.kubeConfig();
  await admin
    .makeApiClient(CoreV1Api)
    .createNamespacedServiceAccount({ namespace, body: { metadata: { name: "elector" } } });
  const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
  await rbac.createNamespacedRole({
    namespace,
    body: {
      metadata: { name: "leader-election" },
      rules: [
        { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "create", "update"] },
      ],
    },
  });
  await rbac.createNamespacedRoleBinding({
    namespace,
    body: {
      metadata: { name: "leader-election" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "leader-election" },
      subjects: [{ kind: "ServiceAccount", name: "elector", namespace }],
    },
  });
  return cluster.kubeConfigForToken(await cluster.serviceAccountToken(namespace, "elector"));
}

function probe(
  opts: Omit<LeaderElectionOptions, "onStartedLeading" | "onStoppedLeading" | "log"> & {
    log?: LeaderElectionOptions["log"];
  },
): Probe {
  const started: number[] = [];
  const stopped: number[] = [];
  const changes: boolean[] = [];
  const elector = leaseElector({
    leaseDurationMs: LEASE_MS,
    renewDeadlineMs: RENEW_MS,
    retryPeriodMs: RETRY_MS,
    log: captureLogger().log,
    ...opts,
    onStartedLeading: () => started.push(performance.now()),
    onStoppedLeading: () => stopped.push(performance.now()),
    onLeaderChange: (leader) => changes.push(leader),
  });
  const p: Probe = { elector, identity: opts.identity, started, stopped, changes };
  return p;
}

async function waitUntil(what: string, cond: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = performance.now();
  while (!cond()) {
    if (performance.now() - t0 > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return performance.now() - t0;
}

/** Samples the electors every 10 ms; counts instants at which more than one believed it led. */
function watchOverlap(probes: Probe[]): { stop: () => number } {
  let overlaps = 0;
  const t = setInterval(() => {
    if (probes.filter((p) => p.elector.isLeader()).length > 1) overlaps++;
  }, 10);
  return {
    stop: () => {
      clearInterval(t);
      return overlaps;
    },
  };
}

describe("LeaderElector on the shared cluster", () => {
  const cluster = sharedCluster();
  let ns: NamespaceSet;
  let namespace = "";
  let kc: KubeConfig;
  const live: Probe[] = [];
  let leaseN = 0;

  beforeAll(async () => {
    ns = await createNamespaces(cluster.kubeConfig(), "lease", 1);
    namespace = ns.names[0]!;
    kc = await leaseOnlyKubeConfig(cluster, namespace);
  });
  afterEach(async () => {
    await Promise.all(live.splice(0).map((p) => p.elector.stop()));
  });
  afterAll(async () => {
    await ns?.cleanup();
  });

  function pair(): { name: string; a: Probe; b: Probe } {
    const name = `regcred-${++leaseN}`;
    const a = probe({ kc, namespace, name, identity: `pod-a-${leaseN}` });
    const b = probe({ kc, namespace, name, identity: `pod-b-${leaseN}` });
    live.push(a, b);
    return { name, a, b };
  }

  async function readLease(name: string) {
    return cluster.kubeConfig().makeApiClient(CoordinationV1Api).readNamespacedLease({ namespace, name });
  }

  it("exactly one of two electors leads, and the Lease names it", async () => {
    const { name, a, b } = pair();
    const overlap = watchOverlap([a, b]);
    a.elector.start();
    b.elector.start();
    await waitUntil("a leader", () => a.elector.isLeader() || b.elector.isLeader(), 5_000);
    // Several renewals and follower attempts later, still one leader.
    await new Promise((r) => setTimeout(r, 4 * RETRY_MS));
    expect(overlap.stop()).toBe(0);
    const leader = a.elector.isLeader() ? a : b;
    const follower = leader === a ? b : a;
    expect(follower.elector.isLeader()).toBe(false);
    expect(leader.started).toHaveLength(1);
    expect(follower.started).toHaveLength(0);
    expect(leader.changes).toEqual([true]);

    const lease = await readLease(name);
    expect(lease.spec?.holderIdentity).toBe(leader.identity);
    expect(lease.spec?.leaseDurationSeconds).toBe(LEASE_MS / 1000);
    expect(lease.spec?.leaseTransitions).toBe(0);
    // MicroTime as the API server stores it (RFC 3339, 6 fraction digits), renewed recently.
    const renew = String(lease.spec?.renewTime);
    expect(renew).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(Date.now() - Date.parse(renew)).toBeLessThan(MAX_ATTEMPT_GAP_MS + 500);
    expect(String(lease.spec?.acquireTime)).toMatch(/\.\d{6}Z$/);
  });

  it("stop() releases the Lease and the follower takes over within about one retry period", async () => {
    const { name, a, b } = pair();
    a.elector.start();
    await waitUntil("a to lead", () => a.elector.isLeader(), 5_000);
    b.elector.start();
    await new Promise((r) => setTimeout(r, 2 * RETRY_MS));
    expect(b.elector.isLeader()).toBe(false);

    await a.elector.stop();
    expect(a.stopped).toHaveLength(1);
    expect(a.changes).toEqual([true, false]);
    const took = await waitUntil("b to take over", () => b.elector.isLeader(), 5_000);
    console.log(`lease takeover after release: ${Math.round(took)} ms (retry period ${RETRY_MS} ms)`);
    expect(took).toBeLessThan(MAX_ATTEMPT_GAP_MS + 300);
    // a stopped writing before b started leading.
    expect(b.started).toHaveLength(1);
    expect(a.stopped[0]!).toBeLessThan(b.started[0]!);

    const lease = await readLease(name);
    expect(lease.spec?.holderIdentity).toBe(b.identity);
    expect(lease.spec?.leaseTransitions).toBe(1);
  });

  it("after a crash (no release) the follower waits for expiry, then takes over", async () => {
    const { name, a, b } = pair();
    a.elector.start();
    await waitUntil("a to lead", () => a.elector.isLeader(), 5_000);
    b.elector.start();
    await new Promise((r) => setTimeout(r, 2 * RETRY_MS));

    // A crashed process: no more renewals, no release.
    await a.elector.stop({ release: false });
    const crashed = performance.now();
    expect((await readLease(name)).spec?.holderIdentity).toBe(a.identity);
    await waitUntil("b to take over", () => b.elector.isLeader(), LEASE_MS + 3 * MAX_ATTEMPT_GAP_MS);
    const took = performance.now() - crashed;
    console.log(
      `lease takeover after crash: ${Math.round(took)} ms (lease ${LEASE_MS} ms, retry ${RETRY_MS} ms)`,
    );
    // The follower times expiry from when it first saw a's last renewal (client-go's
    // observedTime), never from the holder's clock. So: not before the lease could have expired
    // (a's last renewal was at most one retry period before the crash), and within
    // leaseDuration plus two follower attempts: the one that saw the last renewal (up to a gap
    // after it, so after the crash) and the first one past expiry.
    expect(took).toBeGreaterThan(LEASE_MS - RETRY_MS - 100);
    expect(took).toBeLessThan(LEASE_MS + 2 * MAX_ATTEMPT_GAP_MS + 300);

    const lease = await readLease(name);
    expect(lease.spec?.holderIdentity).toBe(b.identity);
    expect(lease.spec?.leaseTransitions).toBe(1);
  });

  it("a leader whose Lease is taken behind its back steps down at once (resourceVersion-guarded renewal)", async () => {
    const { name, a } = pair();
    a.elector.start();
    await waitUntil("a to lead", () => a.elector.isLeader(), 5_000);
    const api = cluster.kubeConfig().makeApiClient(CoordinationV1Api);
    const lease = await api.readNamespacedLease({ namespace, name });
    await api.replaceNamespacedLease({
      namespace,
      name,
      body: { ...lease, spec: { ...lease.spec, holderIdentity: "intruder", leaseDurationSeconds: 3600 } },
    });
    const took = await waitUntil("a to step down", () => !a.elector.isLeader(), 2 * RETRY_MS + 500);
    expect(took).toBeLessThan(RENEW_MS);
    expect(a.stopped).toHaveLength(1);
    // a's stale renewal was refused (409) rather than overwriting the new holder.
    expect((await api.readNamespacedLease({ namespace, name })).spec?.holderIdentity).toBe("intruder");
    // And it stays a follower: the intruder's lease is valid for an hour.
    await new Promise((r) => setTimeout(r, 3 * RETRY_MS));
    expect(a.elector.isLeader()).toBe(false);
  });

  it("rejects timings that would let two leaders overlap", () => {
    const base = { kc, namespace, name: "x", identity: "i", log: captureLogger().log };
    const noop = { onStartedLeading: () => {}, onStoppedLeading: () => {} };
    expect(() => leaseElector({ ...base, ...noop, leaseDurationMs: 2_000, renewDeadlineMs: 2_000 })).toThrow(
      /leaseDurationMs/,
    );
    expect(() =>
      leaseElector({
        ...base,
        ...noop,
        leaseDurationMs: 5_000,
        renewDeadlineMs: 1_000,
        retryPeriodMs: 1_000,
      }),
    ).toThrow(/retryPeriodMs/);
  });
});

describe("LeaderElector when the API server goes away", () => {
  let cluster: Cluster;
  let p: Probe | undefined;
  // Each line with the monotonic time it was written, to find the last successful renewal.
  const lines: Array<{ t: number; line: string }> = [];
  const log = createLogger({
    level: "trace",
    destination: { write: (line: string) => lines.push({ t: performance.now(), line }) } as never,
  });

  beforeAll(async () => {
    cluster = await startCluster({ controllerManager: false });
  });
  afterAll(async () => {
    await p?.elector.stop();
    await cluster?.stop();
  });

  it("the leader steps down within renewDeadline, retries without a hot loop, and leads again when it is back", async () => {
    p = probe({
      kc: cluster.kubeConfig(),
      namespace: "default",
      name: "regcred",
      identity: "pod-a",
      log,
    });
    p.elector.start();
    await waitUntil("to lead", () => p!.elector.isLeader(), 5_000);
    await new Promise((r) => setTimeout(r, 2 * RETRY_MS));

    const before = lines.length;
    const stopAsked = performance.now();
    await cluster.stopApiserver();
    const down = performance.now();
    await waitUntil("step down", () => !p!.elector.isLeader(), RENEW_MS + 1_000);
    const lastRenew = lines.filter((l) => l.line.includes("leader election: renewed")).at(-1)!.t;
    const sinceRenew = p.stopped[0]! - lastRenew;
    console.log(
      `API server stop took ${Math.round(down - stopAsked)} ms; step-down ${Math.round(p.stopped[0]! - down)} ms ` +
        `after it was down, ${Math.round(sinceRenew)} ms after the last successful renewal (renew deadline ${RENEW_MS} ms)`,
    );
    // The deadline counts from the start of the last successful renewal request (the server's
    // renewTime is no earlier), so the step-down lands at renewDeadline after it, less that
    // request's duration: well before the lease, as other replicas see it, can expire.
    expect(sinceRenew).toBeLessThanOrEqual(RENEW_MS + 250);
    expect(sinceRenew).toBeGreaterThan(RENEW_MS - 300);
    expect(lastRenew).toBeLessThan(down);
    expect(p.stopped[0]! - lastRenew).toBeLessThan(LEASE_MS);
    expect(p.changes).toEqual([true, false]);

    // Keep it down a little longer: attempts stay one per retry period (no hot loop).
    await new Promise((r) => setTimeout(r, 2_000));
    const downFor = performance.now() - down;
    const failed = lines
      .slice(before)
      .filter(({ line: l }) => /leader election: (renew|read|acquire|create) failed/.test(l)).length;
    expect(failed).toBeGreaterThan(0);
    expect(failed).toBeLessThanOrEqual(Math.ceil(downFor / RETRY_MS) + 1);

    await cluster.startApiserver();
    await waitUntil("to lead again", () => p!.elector.isLeader(), 10_000);
    expect(p.started).toHaveLength(2);
    const lease = await cluster
      .kubeConfig()
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ namespace: "default", name: "regcred" });
    expect(lease.spec?.holderIdentity).toBe("pod-a");
    // Same holder throughout: not a transition.
    expect(lease.spec?.leaseTransitions).toBe(0);
  });
});
