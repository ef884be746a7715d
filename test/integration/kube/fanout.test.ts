// The Kubernetes writer against the rig's real kube-apiserver: selection, Secrets, conflicts,
// ServiceAccounts, drift, garbage. Each suite selects its own namespaces by a unique label, so
// it shares the cluster with other suites safely.
import { randomBytes } from "node:crypto";
import { CoreV1Api, EventsV1Api, type V1Secret } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { startDaemon, type Daemon } from "../../../src/daemon.ts";
import { createKubeOutput } from "../../../src/kube/output.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { configFrom } from "../../helpers/config.ts";
import { captureLogger } from "../../helpers/log.ts";
import { ScriptedProvider, ok } from "../../helpers/fake-provider.ts";
import { find, parsePrometheus } from "../../helpers/prom.ts";
import { ownedEntriesAnnotation } from "../../../src/kube/serviceaccounts.ts";
import { EventRecorder } from "../../../src/kube/events.ts";
import { leastPrivilege, type LeastPrivilege } from "./least-rbac.ts";
import { managedSecretNames } from "../../../src/kube/rbac.ts";

const cluster = sharedCluster();
const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
// The daemon runs as regcred's ServiceAccount with only the least RBAC; the test itself is admin.
let regcred: LeastPrivilege;
beforeAll(async () => {
  regcred = await leastPrivilege(cluster, randomBytes(3).toString("hex"), []);
});
afterAll(async () => {
  await regcred?.cleanup();
});
const hours = (h: number) => new Date(Date.now() + h * 3_600_000);

function configFor(run: string, extra = "") {
  return configFrom(`
registries:
  - { name: hub, provider: static, registries: [docker.io], username: u, passwordFrom: { env: UNUSED } }
secrets:
  - name: pull-${run}
    registries: [hub]
    namespaces: { include: ["*"], exclude: ["*-excluded"], selector: { matchLabels: { regcred-test: "${run}" } } }
    serviceAccounts: [default, builder]
${extra}
refresh: { jitter: 0, minInterval: 1s }
kubernetes: { instance: t-${run} }
`);
}

const recorder = (log: ReturnType<typeof captureLogger>["log"]) =>
  new EventRecorder({ kc: regcred.kc, component: "regcred", instance: "fanout-test", log });

async function start(run: string, provider: ScriptedProvider, extra = "") {
  const { log, lines } = captureLogger("info");
  const metrics = new Metrics();
  const config = configFor(run, extra);
  await regcred.grant(managedSecretNames(config));
  const daemon = await startDaemon({
    config,
    log,
    metrics,
    ...createKubeOutput({ kc: regcred.kc, config, log, metrics, events: recorder(log) }),
    serve: false,
    providers: { hub: provider },
  });
  await daemon.refresher.settled();
  await daemon.sync.idle();
  return { daemon, lines, metrics };
}

async function secretIn(namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ namespace, name });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

function auths(secret: V1Secret): Record<string, { password: string }> {
  return JSON.parse(Buffer.from(secret.data![".dockerconfigjson"]!, "base64").toString()).auths;
}

describe("fan-out to namespaces", () => {
  const run = randomBytes(3).toString("hex");
  const name = `pull-${run}`;
  let matching: NamespaceSet;
  let excluded: NamespaceSet;
  let unlabelled: NamespaceSet;
  let daemon: Daemon;
  const provider = new ScriptedProvider([ok("fanout-password-1", hours(12))]);

  beforeAll(async () => {
    matching = await createNamespaces(cluster.kubeConfig(), `fan-${run}`, 200, { "regcred-test": run });
    excluded = await createNamespaces(cluster.kubeConfig(), `fan-${run}`, ["excluded"], {
      "regcred-test": run,
    });
    unlabelled = await createNamespaces(cluster.kubeConfig(), `fan-${run}-nolabel`, 2);
    ({ daemon } = await start(run, provider));
  }, 300_000);

  afterAll(async () => {
    await daemon?.stop();
    await Promise.all([matching?.cleanup(), excluded?.cleanup(), unlabelled?.cleanup()]);
  });

  it("writes the Secret into all 200 matching namespaces and no other", async () => {
    const all = await core.listSecretForAllNamespaces({ fieldSelector: `metadata.name=${name}` });
    const where = all.items.map((s) => s.metadata!.namespace!).sort();
    expect(where).toEqual([...matching.names].sort());
    const one = all.items[0]!;
    expect(one.type).toBe("kubernetes.io/dockerconfigjson");
    expect(one.metadata?.labels).toMatchObject({
      "app.kubernetes.io/managed-by": "regcred",
      "regcred.io/secret": name,
    });
    expect(one.metadata?.annotations?.["regcred.io/expires-at"]).toBeTruthy();
    expect(auths(one)["registry.example.com"]!.password).toBe("fanout-password-1");
    // A new Secret is created by a minimal POST (its own manager, so it owns nothing that
    // lasts) and at once applied whole: regcred owns every field by server-side apply from the
    // first write, so a label it later drops really goes.
    expect((one.metadata?.managedFields ?? []).map((f) => `${f.manager}/${f.operation}`).sort()).toEqual([
      "regcred-create/Update",
      "regcred/Apply",
    ]);
  });

  it("a new matching namespace has the Secret within a second", async () => {
    const created = Date.now();
    const fresh = await createNamespaces(cluster.kubeConfig(), `fan-${run}-new`, 1, { "regcred-test": run });
    let seenAt = 0;
    await vi.waitFor(
      async () => {
        expect(await secretIn(fresh.names[0]!, name)).toBeDefined();
        seenAt = Date.now();
      },
      { timeout: 5_000, interval: 25 },
    );
    const latency = seenAt - created;
    console.log(`new namespace -> Secret present: ${latency} ms`);
    expect(latency).toBeLessThan(1_000);
    await fresh.cleanup();
  });

  it("a refresh updates every Secret in place, keeping its UID", async () => {
    const ns = matching.names[7]!;
    const before = await secretIn(ns, name);
    provider.script([ok("fanout-password-2", hours(12))]);
    await daemon.refresher.refresh("hub");
    await daemon.sync.idle();
    const after = await secretIn(ns, name);
    expect(auths(after!)["registry.example.com"]!.password).toBe("fanout-password-2");
    expect(after!.metadata!.uid).toBe(before!.metadata!.uid);
    expect(after!.metadata!.resourceVersion).not.toBe(before!.metadata!.resourceVersion);
    // The update was a server-side apply: regcred now owns the data as an Apply operation.
    const applied = after!.metadata?.managedFields?.find(
      (f) => f.manager === "regcred" && f.operation === "Apply",
    );
    expect(applied).toBeDefined();
    expect(Object.keys((applied!.fieldsV1 ?? {}) as Record<string, unknown>)).toContain("f:data");
  });

  it("an unchanged credential writes nothing", async () => {
    const ns = matching.names[3]!;
    const before = await secretIn(ns, name);
    await daemon.refresher.refresh("hub");
    await daemon.sync.idle();
    expect((await secretIn(ns, name))!.metadata!.resourceVersion).toBe(before!.metadata!.resourceVersion);
  });

  it("a deleted managed Secret is put back", async () => {
    const ns = matching.names[11]!;
    await core.deleteNamespacedSecret({ namespace: ns, name });
    await vi.waitFor(async () => expect(await secretIn(ns, name)).toBeDefined(), {
      timeout: 5_000,
      interval: 50,
    });
  });

  it("an edited managed Secret is restored", async () => {
    const ns = matching.names[12]!;
    const tampered = JSON.stringify({ auths: { "evil.example.com": { auth: "ZXZpbDpldmls" } } });
    await core.replaceNamespacedSecret({
      namespace: ns,
      name,
      body: {
        ...(await secretIn(ns, name))!,
        data: { ".dockerconfigjson": Buffer.from(tampered).toString("base64") },
      },
    });
    await vi.waitFor(
      async () => expect(Object.keys(auths((await secretIn(ns, name))!))).toEqual(["registry.example.com"]),
      { timeout: 5_000, interval: 50 },
    );
  });

  it("a namespace relabelled out loses the Secret and its ServiceAccount entry", async () => {
    const ns = matching.names[20]!;
    await vi.waitFor(
      async () => {
        const sa = await core.readNamespacedServiceAccount({ namespace: ns, name: "default" });
        expect(sa.imagePullSecrets?.map((e) => e.name)).toContain(name);
      },
      { timeout: 10_000, interval: 100 },
    );
    await core.patchNamespace(
      { name: ns, body: [{ op: "remove", path: "/metadata/labels/regcred-test" }] },
      (await import("@kubernetes/client-node")).setHeaderOptions(
        "Content-Type",
        "application/json-patch+json",
      ),
    );
    await vi.waitFor(
      async () => {
        expect(await secretIn(ns, name)).toBeUndefined();
        const sa = await core.readNamespacedServiceAccount({ namespace: ns, name: "default" });
        expect(sa.imagePullSecrets?.map((e) => e.name) ?? []).not.toContain(name);
        expect(sa.metadata?.annotations?.[ownedEntriesAnnotation(`t-${run}`)]).toBeUndefined();
      },
      { timeout: 5_000, interval: 50 },
    );
  });
});

describe("never clobber", () => {
  const run = randomBytes(3).toString("hex");
  const name = `pull-${run}`;
  let ns: NamespaceSet;
  let daemon: Daemon;
  let metrics: Metrics;
  let lines: string[];
  const foreign = JSON.stringify({ auths: { "hand.example.com": { auth: "aGFuZDptYWRl" } } });

  beforeAll(async () => {
    ns = await createNamespaces(cluster.kubeConfig(), `clob-${run}`, 2, { "regcred-test": run });
    // kube-controller-manager creates the default ServiceAccounts; the SA check below needs them.
    for (const namespace of ns.names) {
      await vi.waitFor(() => core.readNamespacedServiceAccount({ namespace, name: "default" }), {
        timeout: 10_000,
        interval: 50,
      });
    }
    await core.createNamespacedSecret({
      namespace: ns.names[0]!,
      body: {
        metadata: { name, labels: { owner: "someone-else" } },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": Buffer.from(foreign).toString("base64") },
      },
    });
    ({ daemon, metrics, lines } = await start(
      run,
      new ScriptedProvider([ok("clobber-password", hours(12))]),
    ));
  }, 120_000);

  afterAll(async () => {
    await daemon?.stop();
    await ns?.cleanup();
  });

  it("leaves a foreign same-named Secret untouched and reports it", async () => {
    const untouched = (await secretIn(ns.names[0]!, name))!;
    expect(Object.keys(auths(untouched))).toEqual(["hand.example.com"]);
    expect(untouched.metadata?.labels).toEqual({ owner: "someone-else" });
    expect(untouched.metadata?.managedFields?.some((f) => f.manager === "regcred")).toBe(false);
    expect(await secretIn(ns.names[1]!, name)).toBeDefined();
    const samples = parsePrometheus(await metrics.text());
    expect(find(samples, "regcred_conflicts", { secret: name })[0]!.value).toBe(1);
    expect(find(samples, "regcred_namespaces_out_of_sync", { secret: name })[0]!.value).toBe(1);
    expect(lines.join("")).toContain(`Secret ${ns.names[0]}/${name} exists and was not created by regcred`);
    // The foreign namespace's ServiceAccount is not pointed at a Secret regcred does not own.
    const sa = await core.readNamespacedServiceAccount({ namespace: ns.names[0]!, name: "default" });
    expect(sa.imagePullSecrets?.map((e) => e.name) ?? []).not.toContain(name);
    // A Warning Event on the foreign Secret, and a Normal one where regcred created its own.
    const events = cluster.kubeConfig().makeApiClient(EventsV1Api);
    await vi.waitFor(async () => {
      const warnings = await events.listNamespacedEvent({ namespace: ns.names[0]! });
      const conflict = warnings.items.find((e) => e.reason === "Conflict" && e.regarding?.name === name);
      expect(conflict?.type).toBe("Warning");
      expect(conflict?.note).toContain("was not created by regcred");
      const normal = await events.listNamespacedEvent({ namespace: ns.names[1]! });
      expect(normal.items.find((e) => e.reason === "Created" && e.regarding?.name === name)?.type).toBe(
        "Normal",
      );
    });
  });

  it("takes over by itself once the foreign Secret is gone", async () => {
    await core.deleteNamespacedSecret({ namespace: ns.names[0]!, name });
    await vi.waitFor(
      async () => {
        const s = await secretIn(ns.names[0]!, name);
        expect(s?.metadata?.labels?.["app.kubernetes.io/managed-by"]).toBe("regcred");
      },
      { timeout: 5_000, interval: 50 },
    );
    await daemon.sync.idle();
    expect(find(parsePrometheus(await metrics.text()), "regcred_conflicts", { secret: name })[0]!.value).toBe(
      0,
    );
  });
});

describe("ServiceAccount imagePullSecrets", () => {
  const run = randomBytes(3).toString("hex");
  const name = `pull-${run}`;
  let ns: NamespaceSet;

  beforeAll(async () => {
    ns = await createNamespaces(cluster.kubeConfig(), `sa-${run}`, 1, { "regcred-test": run });
    await core.createNamespacedServiceAccount({
      namespace: ns.names[0]!,
      body: {
        metadata: { name: "builder" },
        imagePullSecrets: [{ name: "team-a-creds" }, { name: "team-b-creds" }],
      },
    });
  });
  afterAll(async () => {
    await ns?.cleanup();
  });

  const readSa = () => core.readNamespacedServiceAccount({ namespace: ns.names[0]!, name: "builder" });

  it("the API server declares imagePullSecrets an atomic list", async () => {
    const spec = JSON.parse((await cluster.rawGet("/openapi/v3/api/v1")).body) as {
      components: { schemas: Record<string, { properties: Record<string, Record<string, unknown>> }> };
    };
    const field =
      spec.components.schemas["io.k8s.api.core.v1.ServiceAccount"]!.properties["imagePullSecrets"]!;
    expect(field["x-kubernetes-list-type"]).toBe("atomic");
  });

  it("keeps foreign entries in order, adds regcred's once, also after a restart, and cleanup removes only it", async () => {
    const provider = new ScriptedProvider([ok("sa-password", hours(12))]);
    let { daemon } = await start(run, provider);
    await vi.waitFor(
      async () =>
        expect((await readSa()).imagePullSecrets?.map((e) => e.name)).toEqual([
          "team-a-creds",
          "team-b-creds",
          name,
        ]),
      {
        timeout: 5_000,
        interval: 50,
      },
    );
    await daemon.stop();
    ({ daemon } = await start(run, provider));
    await daemon.sync.idle();
    expect((await readSa()).imagePullSecrets?.map((e) => e.name)).toEqual([
      "team-a-creds",
      "team-b-creds",
      name,
    ]);

    await daemon.stop();
    // serviceAccounts: ["*"] takes every ServiceAccount, including ones created later.
    const star = new ScriptedProvider([ok("sa-password", hours(12))]);
    const { log } = captureLogger("info");
    const metrics = new Metrics();
    const config = configFrom(`
registries:
  - { name: hub, provider: static, registries: [docker.io], username: u, passwordFrom: { env: UNUSED } }
secrets:
  - name: ${name}
    registries: [hub]
    namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } }
    serviceAccounts: ["*"]
kubernetes: { instance: t-${run} }
`);
    await regcred.grant(managedSecretNames(config));
    daemon = await startDaemon({
      config,
      log,
      metrics,
      ...createKubeOutput({ kc: regcred.kc, config, log, metrics, events: recorder(log) }),
      providers: { hub: star },
    });
    await daemon.refresher.settled();
    await daemon.sync.idle();
    await core.createNamespacedServiceAccount({
      namespace: ns.names[0]!,
      body: { metadata: { name: "later-still" } },
    });
    await vi.waitFor(
      async () => {
        const later = await core.readNamespacedServiceAccount({
          namespace: ns.names[0]!,
          name: "later-still",
        });
        expect(later.imagePullSecrets?.map((e) => e.name)).toEqual([name]);
      },
      { timeout: 5_000, interval: 50 },
    );
    await daemon.stop();

    // The target leaves the config: its Secret and only its entries go.
    const other = configFrom(`
registries:
  - { name: hub, provider: static, registries: [docker.io], username: u, passwordFrom: { env: UNUSED } }
secrets:
  - name: unrelated-${run}
    registries: [hub]
    namespaces: { include: ["nothing-matches-${run}"] }
kubernetes: { instance: t-${run}, retiredSecrets: [${name}] }
`);
    await regcred.grant(managedSecretNames(other));
    daemon = await startDaemon({
      config: other,
      log,
      metrics,
      ...createKubeOutput({ kc: regcred.kc, config: other, log, metrics }),
      providers: { hub: star },
    });
    await daemon.refresher.settled();
    await daemon.sync.idle();
    await vi.waitFor(
      async () => {
        const sa = await readSa();
        expect(sa.imagePullSecrets?.map((e) => e.name)).toEqual(["team-a-creds", "team-b-creds"]);
        expect(await secretIn(ns.names[0]!, name)).toBeUndefined();
      },
      { timeout: 5_000, interval: 50 },
    );
    await daemon.stop();
  });
});
