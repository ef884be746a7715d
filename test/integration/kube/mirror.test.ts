// The mirror provider against the rig's real kube-apiserver: a pull Secret in one namespace is
// followed by watch and fanned out by the daemon into several namespaces, merged with another
// registry; edits, deletion and re-creation of the source; the RBAC the README documents.
import { randomBytes } from "node:crypto";
import { CoreV1Api, RbacAuthorizationV1Api, type V1Secret } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { pullWithDockerConfig, startRegistry, type Registry } from "../../rig/registry.ts";
import { startDaemon, type Daemon } from "../../../src/daemon.ts";
import { createKubeOutput } from "../../../src/kube/output.ts";
import { kubeClusterAccess } from "../../../src/kube/cluster-access.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { Refresher } from "../../../src/engine/refresher.ts";
import { DEFAULT_REFRESH } from "../../../src/base/refresh.ts";
import { createMirrorProvider } from "../../../providers/mirror/index.ts";
import { mirrorSchema } from "../../../providers/mirror/schema.ts";
import { configFrom } from "../../helpers/config.ts";
import { captureLogger } from "../../helpers/log.ts";
import { ScriptedProvider, ok } from "../../helpers/fake-provider.ts";
import { managedSecretNames } from "../../../src/kube/rbac.ts";
import { leastPrivilege, type LeastPrivilege } from "./least-rbac.ts";

const cluster = sharedCluster();
const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
const rbac = cluster.kubeConfig().makeApiClient(RbacAuthorizationV1Api);
const b64 = (s: string) => Buffer.from(s).toString("base64");
const HUB = "https://index.docker.io/v1/";

type Auths = Record<string, { username: string; password: string; auth: string }>;

function auths(secret: V1Secret): Auths {
  return JSON.parse(Buffer.from(secret.data![".dockerconfigjson"]!, "base64").toString()).auths;
}

function sourceBody(name: string, registryHost: string, password: string): V1Secret {
  // What `kubectl create secret docker-registry` writes (auth field), plus entries that the
  // config's registries: filter must keep out.
  const config = {
    auths: {
      [registryHost]: { username: "corp-bot", password, auth: b64(`corp-bot:${password}`) },
      "quay.io": { username: "quay-robot", password: "quay-robot-token" },
      "ghcr.io": { auth: b64("octo:not-mirrored-token") },
    },
  };
  return {
    metadata: { name },
    type: "kubernetes.io/dockerconfigjson",
    data: { ".dockerconfigjson": b64(JSON.stringify(config)) },
  };
}

describe("mirror: fan out a source Secret, following it by watch", () => {
  const run = randomBytes(3).toString("hex");
  const target = `pull-${run}`;
  const sourceName = `corp-pull-${run}`;
  let sourceNs: NamespaceSet;
  let targets: NamespaceSet;
  let reg: Registry;
  let image: string;
  let daemon: Daemon;
  let regcred: LeastPrivilege;

  /** Every target namespace's copy, by namespace (one request). */
  async function copies(): Promise<Map<string, V1Secret>> {
    const all = await core.listSecretForAllNamespaces({ fieldSelector: `metadata.name=${target}` });
    return new Map(all.items.map((s) => [s.metadata!.namespace!, s]));
  }

  async function everyTargetHas(password: string): Promise<void> {
    const now = await copies();
    expect([...now.keys()].sort()).toEqual([...targets.names].sort());
    for (const s of now.values()) expect(auths(s)[reg.host]!.password).toBe(password);
  }

  beforeAll(async () => {
    reg = await startRegistry({ users: [{ username: "corp-bot", password: "corp-pass-1" }] });
    image = await reg.pushImage("corp/app", "v1");
    sourceNs = await createNamespaces(cluster.kubeConfig(), `mir-${run}-src`, 1);
    targets = await createNamespaces(cluster.kubeConfig(), `mir-${run}`, 5, { "regcred-test": run });
    await core.createNamespacedSecret({
      namespace: sourceNs.names[0]!,
      body: sourceBody(sourceName, reg.host, "corp-pass-1"),
    });
    const { log } = captureLogger("info");
    const metrics = new Metrics();
    const config = configFrom(`
registries:
  - name: corp
    provider: mirror
    source: { namespace: ${sourceNs.names[0]}, name: ${sourceName} }
    registries: ["${reg.host}", quay.io]
  - { name: hub, provider: static, registries: [docker.io], username: u, passwordFrom: { env: UNUSED } }
secrets:
  - name: ${target}
    registries: [corp, hub]
    namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } }
refresh: { jitter: 0, minInterval: 1s, retry: { initial: 2s, max: 10s } }
kubernetes: { instance: t-${run} }
`);
    // Under the chart's RBAC for this config: the targets and the mirror source, by name.
    regcred = await leastPrivilege(cluster, `mir-${run}`, managedSecretNames(config));
    daemon = await startDaemon({
      config,
      log,
      metrics,
      ...createKubeOutput({ kc: regcred.kc, config, log, metrics }),
      serve: false,
      providers: { hub: new ScriptedProvider([ok("hub-static-password", null, [HUB])]) },
    });
    await daemon.refresher.settled();
    await daemon.sync.idle();
  }, 300_000);

  afterAll(async () => {
    await daemon?.stop();
    await reg?.stop();
    await Promise.all([sourceNs?.cleanup(), targets?.cleanup(), regcred?.cleanup()]);
  });

  it("writes the mirrored auths, merged with the static registry, into every target namespace", async () => {
    const now = await copies();
    expect([...now.keys()].sort()).toEqual([...targets.names].sort());
    for (const secret of now.values()) {
      const a = auths(secret);
      expect(Object.keys(a).sort()).toEqual([reg.host, HUB, "quay.io"].sort());
      expect(a[reg.host]).toMatchObject({ username: "corp-bot", password: "corp-pass-1" });
      expect(a["quay.io"]).toMatchObject({ username: "quay-robot", password: "quay-robot-token" });
      expect(a[HUB]!.password).toBe("hub-static-password");
      expect(secret.metadata!.annotations!["regcred.io/registries"]).toBe("corp,hub");
    }
    expect(daemon.refresher.status().find((s) => s.name === "corp")).toMatchObject({
      state: "ok",
      expiresAt: null,
    });
    // The copy pulls from the real registry.
    const copy = now.get(targets.names[0]!)!;
    expect(
      await pullWithDockerConfig(Buffer.from(copy.data![".dockerconfigjson"]!, "base64").toString(), image),
    ).toEqual({
      ok: true,
    });
  });

  it("a new password in the source reaches every target namespace within a second", async () => {
    await reg.setUsers([{ username: "corp-bot", password: "corp-pass-2" }]);
    const ns = sourceNs.names[0]!;
    const current = await core.readNamespacedSecret({ namespace: ns, name: sourceName });
    await core.replaceNamespacedSecret({
      namespace: ns,
      name: sourceName,
      body: { ...sourceBody(sourceName, reg.host, "corp-pass-2"), metadata: current.metadata! },
    });
    const edited = Date.now();
    let seenAt = 0;
    await vi.waitFor(
      async () => {
        await everyTargetHas("corp-pass-2");
        seenAt = Date.now();
      },
      { timeout: 10_000, interval: 20 },
    );
    const latency = seenAt - edited;
    console.log(`source edited -> all ${targets.names.length} target namespaces updated: ${latency} ms`);
    expect(latency).toBeLessThan(1_000);
    const copy = (await copies()).get(targets.names[2]!)!;
    expect(
      await pullWithDockerConfig(Buffer.from(copy.data![".dockerconfigjson"]!, "base64").toString(), image),
    ).toEqual({
      ok: true,
    });
  });

  it("a deleted source keeps the last good auths in the targets and reports not_found", async () => {
    const before = await copies();
    await core.deleteNamespacedSecret({ namespace: sourceNs.names[0]!, name: sourceName });
    await vi.waitFor(
      () =>
        expect(daemon.refresher.status().find((s) => s.name === "corp")!.lastError?.reason).toBe("not_found"),
      { timeout: 10_000, interval: 20 },
    );
    const corp = daemon.refresher.status().find((s) => s.name === "corp")!;
    expect(corp).toMatchObject({ state: "failing", usable: true });
    expect(corp.lastError!.message).toContain(`${sourceNs.names[0]}/${sourceName}`);
    expect(corp.nextRefreshAt).not.toBeNull();
    await daemon.sync.idle();
    const after = await copies();
    for (const [ns, secret] of after) {
      expect(auths(secret)[reg.host]!.password).toBe("corp-pass-2");
      expect(secret.metadata!.resourceVersion).toBe(before.get(ns)!.metadata!.resourceVersion);
    }
  });

  it("re-creating the source recovers", async () => {
    // With the registry's current password: registryCheck (on) holds back one the registry refuses.
    await reg.setUsers([{ username: "corp-bot", password: "corp-pass-3" }]);
    await core.createNamespacedSecret({
      namespace: sourceNs.names[0]!,
      body: sourceBody(sourceName, reg.host, "corp-pass-3"),
    });
    const created = Date.now();
    await vi.waitFor(() => everyTargetHas("corp-pass-3"), { timeout: 10_000, interval: 20 });
    console.log(`source re-created -> all target namespaces updated: ${Date.now() - created} ms`);
    expect(daemon.refresher.status().find((s) => s.name === "corp")).toMatchObject({
      state: "ok",
      lastError: null,
    });
  });
});

describe("mirror: the RBAC in the README is enough, and too little is access_denied", () => {
  const run = randomBytes(3).toString("hex");
  const sourceName = `corp-pull-${run}`;
  let ns: NamespaceSet;
  let home: NamespaceSet;

  beforeAll(async () => {
    ns = await createNamespaces(cluster.kubeConfig(), `mir-${run}-rbac`, 1);
    home = await createNamespaces(cluster.kubeConfig(), `mir-${run}-home`, 1);
    const namespace = ns.names[0]!;
    await core.createNamespacedSecret({
      namespace,
      body: sourceBody(sourceName, "registry.corp.test", "rbac-pass-1"),
    });
    // A decoy in the same namespace: the Role must not reach it.
    await core.createNamespacedSecret({
      namespace,
      body: sourceBody(`other-${run}`, "registry.corp.test", "decoy-pass"),
    });
    for (const sa of ["regcred", "nobody"]) {
      await core.createNamespacedServiceAccount({
        namespace: home.names[0]!,
        body: { metadata: { name: sa } },
      });
    }
    // As in providers/mirror/README.md.
    await rbac.createNamespacedRole({
      namespace,
      body: {
        metadata: { name: "regcred-mirror-source" },
        rules: [
          {
            apiGroups: [""],
            resources: ["secrets"],
            resourceNames: [sourceName],
            verbs: ["get", "list", "watch"],
          },
        ],
      },
    });
    await rbac.createNamespacedRoleBinding({
      namespace,
      body: {
        metadata: { name: "regcred-mirror-source" },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "regcred-mirror-source" },
        subjects: [{ kind: "ServiceAccount", name: "regcred", namespace: home.names[0]! }],
      },
    });
  });

  afterAll(async () => {
    await Promise.all([ns?.cleanup(), home?.cleanup()]);
  });

  async function refresherAs(sa: string, name = sourceName) {
    const token = await cluster.serviceAccountToken(home.names[0]!, sa);
    const { log, lines } = captureLogger("info");
    const provider = createMirrorProvider(
      mirrorSchema.parse({ name: "corp", provider: "mirror", source: { namespace: ns.names[0]!, name } }),
      { log, secrets: {} as never, cluster: kubeClusterAccess(cluster.kubeConfigForToken(token)) },
    );
    const refresher = new Refresher(
      [{ name: "corp", kind: "mirror", policy: { ...DEFAULT_REFRESH, jitter: 0 }, provider }],
      { log, metrics: new Metrics() },
    );
    refresher.start();
    await refresher.settled();
    return { refresher, lines };
  }

  it("get/list/watch with resourceNames: reads and follows the one Secret", async () => {
    const { refresher, lines } = await refresherAs("regcred");
    try {
      expect(refresher.credentials().get("corp")![0]).toMatchObject({ password: "rbac-pass-1" });
      const namespace = ns.names[0]!;
      const current = await core.readNamespacedSecret({ namespace, name: sourceName });
      await core.replaceNamespacedSecret({
        namespace,
        name: sourceName,
        body: { ...sourceBody(sourceName, "registry.corp.test", "rbac-pass-2"), metadata: current.metadata! },
      });
      await vi.waitFor(() => expect(refresher.credentials().get("corp")![0]!.password).toBe("rbac-pass-2"), {
        timeout: 5_000,
        interval: 20,
      });
      // The name-selected watch was authorized (no "failed ... restarting" from the cache).
      expect(lines.join("")).not.toContain("forbidden");
    } finally {
      await refresher.stop();
    }
  });

  it("another Secret in that namespace is access_denied for the same identity", async () => {
    const { refresher } = await refresherAs("regcred", `other-${run}`);
    try {
      expect(refresher.status()[0]!.lastError).toMatchObject({ reason: "access_denied" });
      expect(refresher.status()[0]!.lastError!.message).toContain("HTTP 403");
    } finally {
      await refresher.stop();
    }
  });

  it("an identity without the Role is access_denied", async () => {
    const { refresher } = await refresherAs("nobody");
    try {
      expect(refresher.status()[0]!.lastError).toMatchObject({ reason: "access_denied" });
      expect(refresher.credentials().has("corp")).toBe(false);
    } finally {
      await refresher.stop();
    }
  });
});
