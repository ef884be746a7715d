// The chart against the rig's real kube-apiserver: `helm install --dry-run=server`, the pod
// template through Pod Security admission ("restricted", enforced), then regcred itself run
// as the chart's ServiceAccount (TokenRequest token, only the chart's RBAC) with the config
// the chart rendered, fanning a Secret out to the namespaces it selects.
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CoordinationV1Api,
  CoreV1Api,
  KubernetesObjectApi,
  PatchStrategy,
  type KubernetesObject,
} from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { ensureTool } from "../../rig/tools.ts";
import { REPO_ROOT } from "../../rig/util.ts";
import { CHART_DIR, ciValues, helm, one, template, type K8sObject } from "./helm.ts";

const cluster = sharedCluster();
const admin = cluster.kubeConfig();
const core = admin.makeApiClient(CoreV1Api);
const objects = KubernetesObjectApi.makeApiClient(admin);

describe("chart on a real API server", () => {
  const run = randomBytes(3).toString("hex");
  const release = `chart-${run}`;
  const fullname = `${release}-regcred`;
  const dir = mkdtempSync(join(tmpdir(), "regcred-chart-"));
  let bin = "";
  let home: NamespaceSet;
  let targets: NamespaceSet;
  let others: NamespaceSet;
  const applied: K8sObject[] = [];
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    bin = await ensureTool("helm");
    // Pod Security "restricted" enforced where regcred runs, as a hardened cluster would.
    home = await createNamespaces(admin, `chart-home-${run}`, 1, {
      "pod-security.kubernetes.io/enforce": "restricted",
      "pod-security.kubernetes.io/enforce-version": "latest",
    });
    targets = await createNamespaces(admin, `chart-${run}`, 2, { "regcred-chart": run });
    others = await createNamespaces(admin, `chart-other-${run}`, 1);
  });

  afterAll(async () => {
    if (child?.pid) {
      try {
        process.kill(-child.pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
    for (const o of applied) {
      if (o.kind.startsWith("Cluster")) await objects.delete(o as KubernetesObject).catch(() => undefined);
    }
    await Promise.all([home?.cleanup(), targets?.cleanup(), others?.cleanup()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it("helm install --dry-run=server succeeds against the API server for each provider", () => {
    const ns = home.names[0]!;
    for (const p of ["ecr", "gcr", "acr", "ghcr", "ha"]) {
      const started = Date.now();
      const r = helm(bin, [
        "install",
        `${release}-${p}`,
        CHART_DIR,
        "--namespace",
        ns,
        "--kubeconfig",
        cluster.kubeconfigPath,
        "--dry-run=server",
        "--values",
        ciValues(p),
        // The rig has no prometheus-operator CRDs.
        "--set",
        "serviceMonitor.enabled=false,prometheusRule.enabled=false",
      ]);
      expect(r.status, `${p}: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain("STATUS: pending-install");
      expect(r.stdout).toContain(`kind: Deployment`);
      console.log(`helm install --dry-run=server ${p}: ${Date.now() - started} ms`);
    }
  });

  it("helm install --dry-run=server talks to the server: an unknown API kind fails there", () => {
    const r = helm(bin, [
      "install",
      `${release}-crd`,
      CHART_DIR,
      "--namespace",
      home.names[0]!,
      "--kubeconfig",
      cluster.kubeconfigPath,
      "--dry-run=server",
      "--values",
      ciValues("ha"), // serviceMonitor + prometheusRule on: no such CRDs here
    ]);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/monitoring\.coreos\.com\/v1|ServiceMonitor|PrometheusRule/);
  });

  it("the pod template is admitted by Pod Security 'restricted' (enforced), and a weakened one is not", async () => {
    const ns = home.names[0]!;
    const podFrom = (set: string[] = []): KubernetesObject => {
      const dep = one(
        template(bin, { release, namespace: ns, values: [ciValues("ghcr")], set }),
        "Deployment",
      );
      const tpl = (dep.spec as { template: { metadata: object; spec: object } }).template;
      return {
        apiVersion: "v1",
        kind: "Pod",
        metadata: { ...tpl.metadata, name: `psa-${run}`, namespace: ns },
        spec: tpl.spec,
      } as KubernetesObject;
    };
    // The ServiceAccount admission plugin wants the pod's ServiceAccount to exist.
    const sa = one(template(bin, { release, namespace: ns, values: [ciValues("ghcr")] }), "ServiceAccount");
    await objects.patch(
      sa as KubernetesObject,
      undefined,
      undefined,
      "regcred-chart-test",
      true,
      PatchStrategy.ServerSideApply,
    );
    await expect(objects.create(podFrom(), undefined, "All")).resolves.toMatchObject({ kind: "Pod" });
    await expect(
      objects.create(podFrom(["securityContext.allowPrivilegeEscalation=true"]), undefined, "All"),
    ).rejects.toMatchObject({
      code: 403,
      body: expect.stringContaining(
        'violates PodSecurity \\"restricted:latest\\": allowPrivilegeEscalation != false',
      ),
    });
  });

  it("regcred as the chart's ServiceAccount, with the chart's RBAC and config, fans out to matching namespaces", async () => {
    const ns = home.names[0]!;
    // The Secret's password comes from an env variable here: there is no kubelet to mount files
    // (the { secret: } -> file mapping is covered by template.test.ts).
    const overrides = join(dir, "values.yaml");
    writeFileSync(
      overrides,
      `registries:
  - { name: hub, provider: static, registries: [docker.io], username: puller, passwordFrom: { env: CHART_TEST_PASSWORD } }
secrets:
  - name: pull
    registries: [hub]
    namespaces: { selector: { matchLabels: { regcred-chart: "${run}" } } }
    serviceAccounts: [default]
events: false
serviceMonitor: { enabled: false }
prometheusRule: { enabled: false }
grafanaDashboard: { enabled: false }
hook: { enabled: false }
`,
    );
    const rendered = template(bin, {
      release,
      namespace: ns,
      values: [ciValues("ha"), overrides], // 3 replicas: leader election on, Lease = the Role's resourceName
    });
    const wanted = [
      "ServiceAccount",
      "ClusterRole",
      "ClusterRoleBinding",
      "Role",
      "RoleBinding",
      "ConfigMap",
    ];
    for (const kind of wanted) {
      for (const o of rendered.filter((x) => x.kind === kind)) {
        await objects.patch(
          o as KubernetesObject,
          undefined,
          undefined,
          "regcred-chart-test",
          true,
          PatchStrategy.ServerSideApply,
        );
        applied.push(o);
      }
    }
    const cm = await core.readNamespacedConfigMap({ namespace: ns, name: fullname });
    const configFile = join(dir, "config.yaml");
    writeFileSync(configFile, cm.data!["config.yaml"]!);
    const token = await cluster.serviceAccountToken(ns, fullname, { expirationSeconds: 3600 });
    const kubeconfig = cluster.writeKubeconfigForToken(token);

    const started = Date.now();
    child = spawn(
      join(REPO_ROOT, "node_modules/.bin/tsx"),
      ["src/main.ts", "run", "-c", configFile, "--kubeconfig", kubeconfig, "--port", "0"],
      {
        cwd: REPO_ROOT,
        stdio: ["ignore", "ignore", "pipe"],
        detached: true, // its own process group: tsx and node are killed together
        env: {
          ...process.env,
          CHART_TEST_PASSWORD: `chart-${run}-password`,
          POD_NAMESPACE: ns,
          POD_NAME: `${fullname}-0`,
        },
      },
    );
    let stderr = "";
    child.stderr!.on("data", (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child!.on("exit", (code) => resolve(code)));

    const auth = async (namespace: string) => {
      const s = await core.readNamespacedSecret({ namespace, name: "pull" });
      return JSON.parse(Buffer.from(s.data![".dockerconfigjson"]!, "base64").toString()) as {
        auths: Record<string, { username: string; password: string }>;
      };
    };
    for (const namespace of targets.names) {
      await vi.waitFor(
        async () => {
          if (child!.exitCode !== null) throw new Error(`regcred exited ${child!.exitCode}:\n${stderr}`);
          expect((await auth(namespace)).auths["https://index.docker.io/v1/"]).toMatchObject({
            username: "puller",
            password: `chart-${run}-password`,
          });
        },
        { timeout: 60_000, interval: 200 },
      );
    }
    console.log(
      `chart config as the chart's ServiceAccount: Secrets in 2 namespaces ${Date.now() - started} ms after start`,
    );
    // Leader election ran through the chart's Role: the Lease exists, held by this process.
    const lease = await admin
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ namespace: ns, name: fullname });
    expect(lease.spec?.holderIdentity).toBeTruthy();
    // ServiceAccounts were patched (chart's serviceaccounts patch rule).
    for (const namespace of targets.names) {
      await vi.waitFor(async () => {
        const sa = await core.readNamespacedServiceAccount({ namespace, name: "default" });
        expect(sa.imagePullSecrets?.map((e) => e.name)).toContain("pull");
      });
    }
    // Not in namespaces the selector does not match.
    await expect(
      core.readNamespacedSecret({ namespace: others.names[0]!, name: "pull" }),
    ).rejects.toMatchObject({ code: 404 });
    // A namespace labelled later gets it through the watch.
    const late = await createNamespaces(admin, `chart-late-${run}`, 1, { "regcred-chart": run });
    try {
      const t0 = Date.now();
      await vi.waitFor(async () => expect((await auth(late.names[0]!)).auths).toBeDefined(), {
        timeout: 15_000,
        interval: 100,
      });
      console.log(`new matching namespace got its Secret in ${Date.now() - t0} ms`);
    } finally {
      await late.cleanup();
    }
    expect(stderr).not.toContain(`chart-${run}-password`);
    // The chart's RBAC is enough: no warning or error from the API server's authorizer. The
    // log lines are parsed (pino writes "level":"error"), and must be there to be checked.
    const lines = stderr
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => JSON.parse(l) as { level: string; msg?: string });
    expect(lines.filter((l) => l.level === "info").length).toBeGreaterThan(0);
    expect(
      lines.filter(
        (l) => ["warn", "error", "fatal"].includes(l.level) && /forbidden|403/i.test(JSON.stringify(l)),
      ),
    ).toEqual([]);
    child.kill("SIGTERM");
    expect(await exited, stderr.slice(-3000)).toBe(0);
  });
});
