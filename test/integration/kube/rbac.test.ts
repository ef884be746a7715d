// regcred with nothing but the RBAC of src/kube/rbac.ts (what the chart installs for the
// config): a real ServiceAccount token from the TokenRequest API, bound to those rules and
// nothing else. Secrets are granted by name: the ones the config manages, no other.
import { randomBytes } from "node:crypto";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { managedSecretNames } from "../../../src/kube/rbac.ts";
import { startDaemon, type Daemon } from "../../../src/daemon.ts";
import { createKubeOutput } from "../../../src/kube/output.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { watchOnce } from "../../../src/kube/watch.ts";
import { configFrom } from "../../helpers/config.ts";
import { captureLogger } from "../../helpers/log.ts";
import { ScriptedProvider, ok } from "../../helpers/fake-provider.ts";
import { find, parsePrometheus } from "../../helpers/prom.ts";
import { leastPrivilege, type LeastPrivilege } from "./least-rbac.ts";

const cluster = sharedCluster();
const admin = cluster.kubeConfig();
const core = admin.makeApiClient(CoreV1Api);

describe("least RBAC", () => {
  const run = randomBytes(3).toString("hex");
  const target = `pull-${run}`;
  const foreign = `foreign-${run}`;
  let targets: NamespaceSet;
  let regcred: LeastPrivilege;

  beforeAll(async () => {
    targets = await createNamespaces(admin, `rbac-${run}`, 3, { "regcred-test": run });
    regcred = await leastPrivilege(cluster, `rb-${run}`, []);
    // Someone else's Secret, in a namespace regcred writes into.
    await core.createNamespacedSecret({
      namespace: targets.names[0]!,
      body: { metadata: { name: foreign }, stringData: { token: "not-regcreds" } },
    });
  });
  afterAll(async () => {
    await Promise.all([regcred?.cleanup(), targets?.cleanup()]);
  });

  let lastLines: string[] = [];
  let lastMetrics: Metrics;
  // Counted over the daemon's life: a ServiceAccount appearing can add a pass, so the last
  // pass alone is not the whole story.
  const writes = async (result: string, secret: string) =>
    find(parsePrometheus(await lastMetrics.text()), "regcred_secret_writes_total", { secret, result })[0]
      ?.value ?? 0;
  /** Runs the daemon under the RBAC the chart renders for this config (its names granted). */
  async function daemonWith(yaml: string): Promise<Daemon> {
    const { log, lines } = captureLogger("info");
    lastLines = lines;
    const metrics = (lastMetrics = new Metrics());
    const config = configFrom(yaml);
    await regcred.grant(managedSecretNames(config));
    const daemon = await startDaemon({
      config,
      log,
      metrics,
      ...createKubeOutput({ kc: regcred.kc, config, log, metrics }),
      providers: { hub: new ScriptedProvider([ok("rbac-password", new Date(Date.now() + 3_600_000))]) },
    });
    await daemon.refresher.settled();
    await daemon.sync.idle();
    return daemon;
  }
  const yaml = (name: string, retired: string[] = []) => `
registries:
  - { name: hub, provider: static, registries: [docker.io], username: u, passwordFrom: { env: UNUSED } }
secrets:
  - name: ${name}
    registries: [hub]
    namespaces: { selector: { matchLabels: { regcred-test: "${run}" } } }
    serviceAccounts: [default]
kubernetes: { instance: rbac-${run}, retiredSecrets: [${retired.join(", ")}] }
`;

  it("is enough to write Secrets, patch ServiceAccounts, and collect a removed target's Secrets", async () => {
    let daemon = await daemonWith(yaml(target));
    expect(daemon.sync.last?.error).toBeNull();
    expect(await writes("created", target)).toBe(3);
    expect(await writes("failed", target)).toBe(0);
    for (const namespace of targets.names) {
      await vi.waitFor(async () => {
        const sa = await core.readNamespacedServiceAccount({ namespace, name: "default" });
        expect(sa.imagePullSecrets?.map((e) => e.name)).toEqual([target]);
      });
    }
    await daemon.stop();

    // The target leaves the config (its name retired, as the chart's retiredSecrets does):
    // its Secrets and entries are collected, under RBAC that grants only these names.
    daemon = await daemonWith(yaml(`other-${run}`, [target]));
    expect(await writes("created", `other-${run}`)).toBe(3);
    expect(await writes("deleted", target)).toBe(3);
    expect(daemon.sync.last?.error).toBeNull();
    expect(lastLines.join("")).not.toContain("not written");
    // Messages and statuses only: a timestamp's milliseconds can read 403.
    const said = lastLines.map((l) => {
      const { msg, status } = JSON.parse(l) as { msg?: string; status?: number };
      return `${msg} ${status ?? ""}`;
    });
    expect(said.join("\n")).not.toMatch(/forbidden|\b403\b/i);
    const left = await core.listSecretForAllNamespaces({ fieldSelector: `metadata.name=${target}` });
    expect(left.items).toEqual([]);
    for (const namespace of targets.names) {
      const sa = await core.readNamespacedServiceAccount({ namespace, name: "default" });
      expect(sa.imagePullSecrets?.map((e) => e.name)).toEqual([`other-${run}`]);
    }
    await daemon.stop();
  });

  it("cannot read, list, watch, change or delete a Secret it does not manage", async () => {
    await regcred.grant([target]);
    const sa = regcred.kc.makeApiClient(CoreV1Api);
    const namespace = targets.names[0]!;
    const forbidden = { code: 403 };
    await expect(sa.readNamespacedSecret({ namespace, name: foreign })).rejects.toMatchObject(forbidden);
    await expect(sa.listNamespacedSecret({ namespace })).rejects.toMatchObject(forbidden);
    await expect(sa.listSecretForAllNamespaces()).rejects.toMatchObject(forbidden);
    await expect(
      sa.listSecretForAllNamespaces({ fieldSelector: `metadata.name=${foreign}` }),
    ).rejects.toMatchObject(forbidden);
    await expect(
      sa.listSecretForAllNamespaces({ labelSelector: "app.kubernetes.io/managed-by=regcred" }),
    ).rejects.toMatchObject(forbidden);
    await expect(
      sa.patchNamespacedSecret({ namespace, name: foreign, body: [{ op: "remove", path: "/data" }] }),
    ).rejects.toMatchObject(forbidden);
    await expect(sa.deleteNamespacedSecret({ namespace, name: foreign })).rejects.toMatchObject(forbidden);
    // The foreign Secret is as it was.
    const still = await core.readNamespacedSecret({ namespace, name: foreign });
    expect(Buffer.from(still.data!.token!, "base64").toString()).toBe("not-regcreds");
  });

  it("may list and watch a managed name across all namespaces by field selector (what the sink does)", async () => {
    await regcred.grant([target]);
    const sa = regcred.kc.makeApiClient(CoreV1Api);
    const listed = await sa.listSecretForAllNamespaces({ fieldSelector: `metadata.name=${target}` });
    expect(listed.metadata?.resourceVersion).toBeTruthy();
    const events: string[] = [];
    const watchName = (name: string) =>
      watchOnce(
        regcred.kc,
        "/api/v1/secrets",
        {
          resourceVersion: listed.metadata!.resourceVersion!,
          fieldSelector: `metadata.name=${name}`,
          timeoutSeconds: 1,
          signal: new AbortController().signal,
        },
        (e) => events.push(e.type),
      );
    await watchName(target);
    // The same watch of a name it does not manage is refused.
    await expect(watchName(foreign)).rejects.toMatchObject({ code: 403 });
    expect(events.every((t) => t !== "ERROR")).toBe(true);
  });

  it("does not reach beyond it", async () => {
    const sa = regcred.kc.makeApiClient(CoreV1Api);
    await expect(sa.listConfigMapForAllNamespaces()).rejects.toMatchObject({ code: 403 });
    await expect(sa.listPodForAllNamespaces()).rejects.toMatchObject({ code: 403 });
    await expect(sa.createNamespace({ body: { metadata: { name: `nope-${run}` } } })).rejects.toMatchObject({
      code: 403,
    });
  });
});
