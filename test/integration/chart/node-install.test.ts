// The chart installed as a user installs it, on the rig's real node (kubelet + containerd):
// regcred's image, built from the Dockerfile, is pushed to a private registry and pulled by
// kubelet with a pull Secret; `helm install` brings the Pod up Running and Ready through its
// probes in a namespace that enforces Pod Security "restricted", with the chart's RBAC and the
// in-cluster config a Pod really gets (KUBERNETES_SERVICE_HOST/PORT from kubelet, the projected
// ServiceAccount token; the node routes the `kubernetes` Service to the API server), and it
// writes Secrets a workload then pulls with. One install serves every test, upgraded in place:
// `helm upgrade` (changed registry: the Pod rolls, the hook Job runs `regcred once`, the Secret
// changes), two replicas with one leader and a hand-over that rolls out a rotated credential,
// and `helm uninstall`, which leaves the Secrets, ServiceAccount entries and Lease regcred made
// (README, "Uninstall"). The tests run in order and each starts from the previous one's state.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  AppsV1Api,
  BatchV1Api,
  CoordinationV1Api,
  CoreV1Api,
  RbacAuthorizationV1Api,
  type V1Job,
  type V1Pod,
} from "@kubernetes/client-node";
import { stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { pushRunnableImage } from "../../rig/app-image.ts";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { startRegistry, type Registry } from "../../rig/registry.ts";
import type { NodeClient } from "../../rig/node.ts";
import { sharedNode } from "../../rig/shared-node.ts";
import { ensureTool } from "../../rig/tools.ts";
import { REPO_ROOT, runOk } from "../../rig/util.ts";
import { CHART_DIR, helmAsync } from "./helm.ts";
import { podGet } from "./pod-http.ts";
import { watchOnce } from "../../../src/kube/watch.ts";

const cluster = sharedCluster();
const admin = cluster.kubeConfig();
const core = admin.makeApiClient(CoreV1Api);
const apps = admin.makeApiClient(AppsV1Api);
const rbac = admin.makeApiClient(RbacAuthorizationV1Api);
const leases = admin.makeApiClient(CoordinationV1Api);

const b64 = (s: string) => Buffer.from(s).toString("base64");
const ready = (p: V1Pod) =>
  p.status?.phase === "Running" &&
  (p.status.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false);
const notFound = { code: 404 };

describe("chart on a real node (helm install, upgrade, replicas, uninstall)", () => {
  const run = randomBytes(3).toString("hex");
  const release = `node-${run}`;
  const fullname = `${release}-regcred`;
  const dir = mkdtempSync(join(tmpdir(), "regcred-node-chart-"));
  const selector = `app.kubernetes.io/instance=${release},app.kubernetes.io/component=controller`;
  let bin = "";
  let node: NodeClient;
  let images: Registry; // regcred's own image, private (htpasswd)
  let appsReg: Registry; // the workloads' image, private, token auth (exact passwords)
  let home: NamespaceSet;
  let targets: NamespaceSet;
  let others: NamespaceSet;
  let imageRef = "";
  let appImage = "";
  let installed = false;
  const passwords = { a: `team-a-${run}-one`, b: `team-b-${run}-two`, rotated: `team-b-${run}-three` };
  let ns = "";

  /** What the Pods, kubelet and containerd say, for a failed helm call or wait. */
  const diagnose = async () => {
    for (const p of (await core.listNamespacedPod({ namespace: ns })).items) {
      const name = p.metadata!.name!;
      console.log(name, JSON.stringify(p.status?.conditions), JSON.stringify(p.status?.containerStatuses));
      const events = await core.listNamespacedEvent({
        namespace: ns,
        fieldSelector: `involvedObject.name=${name}`,
      });
      console.log(events.items.map((e) => `${e.reason}: ${e.message}`).join("\n"));
      console.log((await node.podLogs(ns, name, "regcred").catch((e: Error) => e.message)).slice(-3000));
    }
    console.log(node.kubeletLog(60));
    console.log(node.containerdLog(20));
  };
  const helmIn = async (args: string[]) => {
    const started = Date.now();
    const r = await helmAsync(bin, [...args, "--namespace", ns, "--kubeconfig", cluster.kubeconfigPath]);
    console.log(`helm ${args[0]}: ${Date.now() - started} ms`);
    if (r.status !== 0) await diagnose();
    return r;
  };
  const pods = async () =>
    (await core.listNamespacedPod({ namespace: ns, labelSelector: selector })).items.filter(
      (p) => !p.metadata?.deletionTimestamp,
    );
  const secretAuths = async (namespace: string) => {
    const s = await core.readNamespacedSecret({ namespace, name: "app-pull" });
    return (
      JSON.parse(Buffer.from(s.data![".dockerconfigjson"]!, "base64").toString()) as {
        auths: Record<string, { username: string; password: string }>;
      }
    ).auths;
  };
  const registry = (user: "team-a" | "team-b") => ({
    registries: [
      {
        name: "apps",
        provider: "static",
        registries: [appsReg.host],
        username: user,
        passwordFrom: { secret: { name: "apps-registry", key: user } },
      },
    ],
  });
  /** The chart's values as a user writes them; `over` replaces top-level keys. */
  const values = (over: Record<string, unknown> = {}) => {
    const file = join(dir, `values-${randomBytes(3).toString("hex")}.yaml`);
    const [repository, tag] = [imageRef.slice(0, imageRef.lastIndexOf(":")), imageRef.split(":").at(-1)];
    writeFileSync(
      file,
      stringify({
        image: { repository, tag },
        imagePullSecrets: [{ name: "regcred-image-pull" }],
        ...registry("team-a"),
        secrets: [
          {
            name: "app-pull",
            registries: ["apps"],
            namespaces: { selector: { matchLabels: { "regcred-node": run } } },
            serviceAccounts: ["default"],
          },
        ],
        leaderElection: { leaseDuration: "6s", renewDeadline: "4s", retryPeriod: "1s" },
        readinessProbe: { httpGet: { path: "/readyz", port: "http" }, periodSeconds: 2, failureThreshold: 3 },
        ...over,
      }),
    );
    return file;
  };
  /** Waits until every target namespace's Secret holds `user`/`password` for the apps registry. */
  const secretsHold = async (username: string, password: string, timeout = 30_000) => {
    for (const namespace of targets.names) {
      await vi.waitFor(
        async () =>
          expect((await secretAuths(namespace))[appsReg.host]).toMatchObject({ username, password }),
        { timeout, interval: 250 },
      );
    }
  };

  beforeAll(async () => {
    bin = await ensureTool("helm");
    node = await sharedNode();
    images = await startRegistry({ users: [{ username: "regcred-image", password: `img-${run}` }] });
    appsReg = await startRegistry({
      auth: "token",
      users: [
        { username: "team-a", password: passwords.a },
        { username: "team-b", password: passwords.b },
      ],
    });
    // Build from the Dockerfile and push as a user's CI would (test/chart/image/build.sh).
    imageRef = `${images.host}/platform/regcred:${run}`;
    const started = Date.now();
    const r = await runOk(join(REPO_ROOT, "test/chart/image/build.sh"), ["localhost/regcred:node"], {
      env: {
        ...process.env,
        PUSH: imageRef,
        PUSH_CREDS: `${images.admin.username}:${images.admin.password}`,
      },
    });
    console.log(
      `image built/pushed in ${Math.round((Date.now() - started) / 1000)} s, size ${/^size=(.*)$/m.exec(r.stdout)?.[1] ?? "?"}`,
    );
    // The workload: a small runnable image in its own private registry.
    appImage = await pushRunnableImage(appsReg, "team/app", "v1");

    home = await createNamespaces(admin, `nc-home-${run}`, 1, {
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/enforce-version": "latest",
    });
    ns = home.names[0]!;
    targets = await createNamespaces(admin, `nc-${run}`, 2, { "regcred-node": run });
    others = await createNamespaces(admin, `nc-other-${run}`, 1);
    // The user's own Secrets: one to pull regcred's image, one holding the registry passwords.
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: "regcred-image-pull" },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": b64(images.dockerConfigJson("regcred-image", `img-${run}`)) },
      },
    });
    await core.createNamespacedSecret({
      namespace: ns,
      body: {
        metadata: { name: "apps-registry" },
        stringData: { "team-a": passwords.a, "team-b": passwords.b },
      },
    });
  }, 1_800_000);

  afterAll(async () => {
    if (installed) await helmIn(["uninstall", release, "--wait", "--ignore-not-found"]);
    await Promise.all([home?.cleanup(), targets?.cleanup(), others?.cleanup()]);
    await Promise.all([images?.stop(), appsReg?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  }, 300_000);

  it("helm install: the Pod pulls its image with the pull Secret, is Ready through its probes under 'restricted' with in-cluster config, and writes the Secrets", async () => {
    const r = await helmIn([
      "install",
      release,
      CHART_DIR,
      "--values",
      values(),
      "--wait",
      "--timeout",
      "4m",
    ]);
    installed = r.status === 0;
    expect(r.status, r.stderr).toBe(0);
    const [pod, ...more] = await pods();
    expect(more).toEqual([]);
    expect(ready(pod!)).toBe(true);
    // Admitted where "restricted" is enforced (a hostNetwork Pod would not be).
    const home_ = await core.readNamespace({ name: ns });
    expect(home_.metadata?.labels?.["pod-security.kubernetes.io/enforce"]).toBe("restricted");
    expect(pod!.spec!.hostNetwork).toBeFalsy();
    // The image kubelet ran is the one pushed to the private registry, pulled with the Secret.
    const status = pod!.status!.containerStatuses![0]!;
    expect(status.image).toBe(imageRef);
    expect(status.imageID).toMatch(/@sha256:[a-f0-9]{64}$/);
    expect(pod!.spec!.imagePullSecrets).toEqual([{ name: "regcred-image-pull" }]);
    // Ready came from the probes: they are HTTP on the Pod's port, and /readyz answers 200 on
    // the Pod's own IP, as kubelet sees it.
    const container = pod!.spec!.containers[0]!;
    expect(container.readinessProbe?.httpGet).toMatchObject({ path: "/readyz", port: "http" });
    expect(container.startupProbe?.httpGet).toMatchObject({ path: "/healthz", port: "http" });
    expect(await podGet(pod!.status!.podIP!, 8080, "/readyz")).toEqual({ status: 200, body: "ok\n" });
    // In-cluster config as a Pod really gets it: the chart's ServiceAccount with its projected
    // token, the service env kubelet injects (nothing in the spec overrides it), no kubeconfig.
    expect(pod!.spec!.serviceAccountName).toBe(fullname);
    const envNames = (container.env ?? []).map((e) => e.name);
    expect(envNames.filter((n) => /^KUBE/.test(n))).toEqual([]);
    const token = pod!.spec!.volumes!.find((v) => v.name.startsWith("kube-api-access-"));
    expect(token?.projected?.sources?.some((s) => s.serviceAccountToken)).toBe(true);
    expect(container.volumeMounts!.map((m) => m.mountPath)).toContain(
      "/var/run/secrets/kubernetes.io/serviceaccount",
    );
    expect(pod!.spec!.volumes!.filter((v) => /kubeconfig/i.test(JSON.stringify(v)))).toEqual([]);
    await expect(rbac.readClusterRole({ name: fullname })).resolves.toBeDefined();
    await secretsHold("team-a", passwords.a);
    await expect(
      core.readNamespacedSecret({ namespace: others.names[0]!, name: "app-pull" }),
    ).rejects.toMatchObject(notFound);
    logFootprint(pod!);

    // And kubelet pulls with it: a workload that names no pull Secret runs its private image.
    await apps.createNamespacedDeployment({
      namespace: targets.names[0]!,
      body: {
        metadata: { name: "app" },
        spec: {
          selector: { matchLabels: { app: "app" } },
          template: {
            metadata: { labels: { app: "app" } },
            spec: {
              automountServiceAccountToken: false,
              containers: [{ name: "app", image: appImage }],
            },
          },
        },
      },
    });
    await vi.waitFor(
      async () => {
        const d = await apps.readNamespacedDeployment({ namespace: targets.names[0]!, name: "app" });
        expect(d.status?.readyReplicas).toBe(1);
      },
      { timeout: 90_000, interval: 500 },
    );
  }, 600_000);

  it("helm upgrade with a changed registry rolls the Pod, runs the hook Job to completion, changes the Secret", async () => {
    const before = (await pods()).map((p) => p.metadata!.name!);
    // Watch the hook Job: helm deletes it once it succeeded. The rollout before the
    // post-upgrade hook can be quiet for longer than 30 s (client-node's Watch gave up there
    // and CI saw no Job), so the watch lasts past the upgrade's timeout, and one that ends
    // early fails the test with its reason instead of reading as "no Job".
    const jobs: V1Job[] = [];
    let ended: unknown;
    const listed = await admin.makeApiClient(BatchV1Api).listNamespacedJob({ namespace: ns, limit: 1 });
    const stopWatch = new AbortController();
    const watching = watchOnce<V1Job>(
      admin,
      `/apis/batch/v1/namespaces/${ns}/jobs`,
      { resourceVersion: listed.metadata!.resourceVersion!, timeoutSeconds: 300, signal: stopWatch.signal },
      (event) => {
        if (event.type === "ADDED" || event.type === "MODIFIED" || event.type === "DELETED")
          jobs.push(event.object);
      },
    ).then(
      () => (ended = new Error("the API server ended the Job watch")),
      (err: unknown) => (ended = stopWatch.signal.aborted ? undefined : err),
    );
    try {
      const r = await helmIn([
        "upgrade",
        release,
        CHART_DIR,
        "--values",
        values({ ...registry("team-b"), hook: { enabled: true, activeDeadlineSeconds: 180 } }),
        "--wait",
        "--timeout",
        "4m",
      ]);
      expect(r.status, r.stderr).toBe(0);
      expect(ended).toBeUndefined();
    } finally {
      stopWatch.abort();
      await watching;
    }
    const hook = jobs.filter((j) => j.metadata?.name === `${fullname}-once`);
    expect(hook.length).toBeGreaterThan(0);
    expect(
      hook.some((j) => j.status?.conditions?.some((c) => c.type === "Complete" && c.status === "True")),
    ).toBe(true);
    expect(hook[0]!.spec!.template.spec!.containers[0]!.args).toEqual([
      "once",
      "--config",
      "/etc/regcred/config.yaml",
      "--output",
      "kube",
    ]);
    const after = await pods();
    expect(after).toHaveLength(1);
    expect(before).not.toContain(after[0]!.metadata!.name);
    expect(ready(after[0]!)).toBe(true);
    await secretsHold("team-b", passwords.b);
  }, 600_000);

  it("replicaCount 2: two Ready Pods, one leader; deleting it hands over, and the new leader rolls out a rotated credential", async () => {
    const r = await helmIn([
      "upgrade",
      release,
      CHART_DIR,
      "--values",
      values({ ...registry("team-b"), replicaCount: 2 }),
      "--wait",
      "--timeout",
      "4m",
    ]);
    expect(r.status, r.stderr).toBe(0);
    const holderOf = async () =>
      (await leases.readNamespacedLease({ namespace: ns, name: fullname })).spec?.holderIdentity ?? "";
    const isHolder = (p: V1Pod, holder: string) => holder.startsWith(`${p.metadata!.name!}`);
    const leaderMetric = async (p: V1Pod) =>
      /^regcred_leader (\d)/m.exec((await podGet(p.status!.podIP!, 8080, "/metrics")).body)?.[1];
    let two: V1Pod[] = [];
    await vi.waitFor(
      async () => {
        two = await pods();
        expect(two.filter(ready)).toHaveLength(2);
        const holder = await holderOf();
        expect(two.filter((p) => isHolder(p, holder))).toHaveLength(1);
      },
      { timeout: 60_000, interval: 500 },
    );
    const holder = await holderOf();
    const leader = two.find((p) => isHolder(p, holder))!;
    const standby = two.find((p) => p !== leader)!;
    await vi.waitFor(
      async () => {
        expect(await leaderMetric(leader)).toBe("1");
        expect(await leaderMetric(standby)).toBe("0");
      },
      { timeout: 10_000, interval: 200 },
    );

    const t0 = Date.now();
    await core.deleteNamespacedPod({ namespace: ns, name: leader.metadata!.name! });
    // The deleted leader releases the Lease on SIGTERM; the standby and the Deployment's
    // replacement Pod (which starts in well under a second) race for it, and either may win.
    let next: V1Pod | undefined;
    await vi.waitFor(
      async () => {
        const holder = await holderOf();
        expect(holder).not.toBe("");
        expect(isHolder(leader, holder)).toBe(false);
        next = (await pods()).find((p) => isHolder(p, holder) && ready(p));
        expect(next).toBeDefined();
      },
      { timeout: 30_000, interval: 200 },
    );
    const newLeader = next!;
    console.log(
      `hand-over to ${newLeader.metadata!.name === standby.metadata!.name ? "the standby" : "the replacement"}: ${Date.now() - t0} ms`,
    );
    // The gauge follows the Lease write it answers to: poll, do not race it.
    await vi.waitFor(async () => expect(await leaderMetric(newLeader)).toBe("1"), {
      timeout: 10_000,
      interval: 200,
    });

    // Rotate team-b's password where the user keeps it; kubelet updates the mounted file, the
    // new leader re-reads it and writes it everywhere.
    await appsReg.setUsers([
      { username: "team-a", password: passwords.a },
      { username: "team-b", password: passwords.rotated },
    ]);
    await core.patchNamespacedSecret({
      namespace: ns,
      name: "apps-registry",
      body: [{ op: "replace", path: "/data/team-b", value: b64(passwords.rotated) }],
    });
    const t1 = Date.now();
    await secretsHold("team-b", passwords.rotated, 120_000);
    console.log(`rotated credential in every target ${Date.now() - t1} ms after the Secret edit`);
    const metrics = (await podGet(newLeader.status!.podIP!, 8080, "/metrics")).body;
    expect(metrics).toMatch(/^regcred_secret_writes_total\{secret="app-pull",result="updated"\} [1-9]/m);
    // The other Pod is a standby: it wrote nothing.
    const replacement = (await pods()).find((p) => p.metadata!.name !== newLeader.metadata!.name && ready(p));
    if (replacement) expect(await leaderMetric(replacement)).toBe("0");
  }, 600_000);

  it("helm uninstall removes regcred and its RBAC, and leaves the Secrets, ServiceAccount entries and Lease it made", async () => {
    const r = await helmIn(["uninstall", release, "--wait", "--timeout", "2m"]);
    expect(r.status, r.stderr).toBe(0);
    installed = false;
    await vi.waitFor(async () => expect(await pods()).toEqual([]), { timeout: 60_000, interval: 500 });
    await expect(apps.readNamespacedDeployment({ namespace: ns, name: fullname })).rejects.toMatchObject(
      notFound,
    );
    await expect(core.readNamespacedServiceAccount({ namespace: ns, name: fullname })).rejects.toMatchObject(
      notFound,
    );
    await expect(core.readNamespacedConfigMap({ namespace: ns, name: fullname })).rejects.toMatchObject(
      notFound,
    );
    await expect(rbac.readClusterRole({ name: fullname })).rejects.toMatchObject(notFound);
    await expect(rbac.readClusterRoleBinding({ name: fullname })).rejects.toMatchObject(notFound);
    await expect(
      rbac.readNamespacedRole({ namespace: ns, name: `${fullname}-leader-election` }),
    ).rejects.toMatchObject(notFound);
    // What regcred made, not Helm, stays (README "Uninstall").
    for (const namespace of targets.names) {
      const secret = await core.readNamespacedSecret({ namespace, name: "app-pull" });
      expect(secret.metadata?.labels?.["regcred.io/instance"]).toBe(release);
      expect((await secretAuths(namespace))[appsReg.host]?.password).toBe(passwords.rotated);
      const sa = await core.readNamespacedServiceAccount({ namespace, name: "default" });
      expect(sa.imagePullSecrets?.map((e) => e.name)).toContain("app-pull");
    }
    await expect(leases.readNamespacedLease({ namespace: ns, name: fullname })).resolves.toBeDefined();
    // Still usable: a new Pod of the workload pulls with the rotated Secret left behind (kubelet
    // checks the credential even though the image is on the node; the old one is refused now).
    const namespace = targets.names[0]!;
    const old = (await core.listNamespacedPod({ namespace, labelSelector: "app=app" })).items.map(
      (p) => p.metadata!.name!,
    );
    await core.deleteCollectionNamespacedPod({ namespace, labelSelector: "app=app", gracePeriodSeconds: 0 });
    await vi.waitFor(
      async () => {
        const fresh = (await core.listNamespacedPod({ namespace, labelSelector: "app=app" })).items.filter(
          (p) => !p.metadata?.deletionTimestamp && !old.includes(p.metadata!.name!),
        );
        expect(fresh.filter(ready)).toHaveLength(1);
      },
      { timeout: 90_000, interval: 500 },
    );
  }, 300_000);

  /**
   * The rig's footprint while regcred runs, from /proc (for the report; nothing is asserted):
   * resident memory of kubelet, containerd, kube-scheduler, the node's API relay, and regcred's
   * container process and its shim.
   */
  function logFootprint(pod: V1Pod): void {
    const read = (pid: number, file: string) => {
      try {
        return readFileSync(`/proc/${pid}/${file}`, "utf8");
      } catch {
        return "";
      }
    };
    const field = (pid: number, name: string) =>
      Number(new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(read(pid, "status"))?.[1]);
    // regcred's process: in the Pod's cgroup (cgroupfs: .../pod<UID>/<container>), running `run`.
    const main = readdirSync("/proc")
      .filter((e) => /^\d+$/.test(e))
      .map(Number)
      .find(
        (pid) =>
          read(pid, "cgroup").includes(`pod${pod.metadata!.uid!}`) &&
          read(pid, "cmdline").includes("run\0--config"),
      );
    const { pids } = node.info;
    const parts = {
      kubelet: pids.kubelet,
      containerd: pids.containerd,
      scheduler: pids.scheduler,
      apiRelay: pids.apiRelay,
      regcred: main,
      shim: main === undefined ? undefined : field(main, "PPid"),
    };
    console.log(
      `footprint (RSS MiB): ${Object.entries(parts)
        .map(([k, pid]) => `${k} ${pid === undefined ? "?" : (field(pid, "VmRSS") / 1024).toFixed(1)}`)
        .join(", ")}`,
    );
  }
});
