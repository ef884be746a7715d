// Self-healing pulls on the rig's real node (kubelet + containerd), issue 17:
// - the registry revokes the credential in use, the next scheduled refresh is hours away: the
//   Pods in ErrImagePull run again without a human, after exactly one refresh (not one per Pod);
// - a Deployment created in the same instant as its namespace: stuck with healing off (its Pod
//   predates regcred's ServiceAccount entry), Running with healing on;
// - pull failures in an unselected namespace or on an unmanaged registry change nothing.
import { AppsV1Api, CoreV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { pushRunnableImage } from "../../rig/app-image.ts";
import { createNamespaces } from "../../rig/namespaces.ts";
import { serveRegistryAt, type ServedHost } from "../../rig/registry-hosts.ts";
import { dockerConfigJson, startRegistry, type Registry } from "../../rig/registry.ts";
import { sharedCluster } from "../../rig/shared.ts";
import { sharedNode } from "../../rig/shared-node.ts";
import { createPod, podBody } from "./pods.ts";
import { CountingProxy } from "../kube/counting-proxy.ts";
import { leastPrivilege } from "../kube/least-rbac.ts";
import { randomBytes } from "node:crypto";
import {
  namespaceWithDeployment,
  podsOf,
  pullFailing,
  regcredEvents,
  running,
  startHealDaemon,
  TurnableProvider,
  until,
  createWorkload,
} from "./self-heal-kit.ts";

const HOST = "pullwatch.corp.example:5443";
const kc = sharedCluster().kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const apps = kc.makeApiClient(AppsV1Api);
const good1 = { username: "puller", password: "self-heal-one-".padEnd(100, "1") };
const good2 = { username: "puller", password: "self-heal-two-".padEnd(100, "2") };

const describePods = async (namespace: string) =>
  JSON.stringify(
    (await podsOf(kc, namespace)).map((p) => ({
      name: p.metadata?.name,
      pullSecrets: p.spec?.imagePullSecrets,
      state: p.status?.containerStatuses?.[0]?.state,
    })),
  );

describe("node: self-healing pulls", () => {
  let registry: Registry;
  let served: ServedHost;
  let image: string;
  const cleanups: Array<() => Promise<unknown>> = [];

  beforeAll(async () => {
    registry = await startRegistry({ auth: "token", users: [good1] });
    [, served] = await Promise.all([sharedNode(), serveRegistryAt(registry, HOST)]);
    image = served.imageRef(await pushRunnableImage(registry, "team/heal-app", "v1"));
  });
  // Each test's daemon and namespaces go with it: the next daemon starts on a quiet cluster.
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c().catch(() => undefined);
  });
  /**
   * The daemon as installed (least privilege, healing or not) behind a proxy that can hold back
   * its ServiceAccount watch: how a regcred that is busy (many namespaces, a restart) loses the
   * race against the ReplicaSet controller, on purpose instead of by luck.
   */
  async function racingDaemon(provider: TurnableProvider, healing: boolean) {
    const run = randomBytes(3).toString("hex");
    const least = await leastPrivilege(sharedCluster(), `heal-${run}`, ["pull"], { healing });
    cleanups.push(() => least.cleanup());
    const proxy = await CountingProxy.start(sharedCluster());
    cleanups.push(() => proxy.stop());
    const token = least.kc.getCurrentUser()!.token!;
    const d = await startHealDaemon(proxy.kubeConfig(token), HOST, provider, healing);
    cleanups.push(() => d.stop());
    return { ...d, proxy };
  }

  /** Namespace and Deployment at once; the Pod is created before regcred sees the new ServiceAccount. */
  async function firstPodBeforeRegcred(d: Awaited<ReturnType<typeof racingDaemon>>, namespace: string) {
    d.proxy.hold((path) => path === "/api/v1/serviceaccounts");
    await namespaceWithDeployment(kc, namespace, { "regcred-heal": d.run }, image);
    cleanups.push(() => core.deleteNamespace({ name: namespace }));
    const first = await until("the first Pod exists", async () => (await podsOf(kc, namespace))[0], 30_000);
    d.proxy.release();
    expect(first.spec?.imagePullSecrets ?? []).toEqual([]);
    return first;
  }

  afterAll(async () => {
    await served?.stop();
    await registry?.stop();
  });

  it("revoked credential, refresh hours away: ErrImagePull Pods run again after one refresh, not a storm", async () => {
    await registry.setUsers([good1]);
    const provider = new TurnableProvider(HOST, good1.username, good1.password);
    const d = await startHealDaemon(kc, HOST, provider, false);
    cleanups.push(() => d.stop());
    const ns = await createNamespaces(kc, "heal-revoke", 1, { "regcred-heal": d.run });
    cleanups.push(() => ns.cleanup());
    const namespace = ns.names[0]!;
    await until(
      "Secret pull written",
      // A new namespace gets its Secret from a pass over that namespace alone (sync.last is the
      // last full pass): the Secret itself is the evidence.
      () =>
        core.readNamespacedSecret({ namespace, name: "pull" }).then(
          () => true,
          () => false,
        ),
      30_000,
    );
    const status = d.daemon.refresher.status()[0]!;
    expect(status.nextRefreshAt!.getTime() - Date.now()).toBeGreaterThan(2 * 3_600_000);

    await createWorkload(kc, namespace, image, { imagePullSecrets: ["pull"] });
    await until(
      "the workload runs",
      async () => (await podsOf(kc, namespace)).some(running),
      60_000,
      () => describePods(namespace),
    );
    expect(provider.mints).toBe(1);

    // The registry revokes it (token auth: at once); upstream now mints the new good one.
    await registry.setUsers([good2]);
    provider.password = good2.password;
    // The workload scales up: its new Pods must pull, with the revoked credential.
    await apps.patchNamespacedDeploymentScale(
      { namespace, name: "workload", body: { spec: { replicas: 4 } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    const firstFailure = await until(
      "a new Pod fails to pull",
      async () => ((await podsOf(kc, namespace)).some(pullFailing) ? Date.now() : undefined),
      60_000,
      () => describePods(namespace),
    );
    const allRunning = await until(
      "all 4 Pods run again",
      async () => {
        const pods = await podsOf(kc, namespace);
        return pods.length === 4 && pods.every(running) ? Date.now() : undefined;
      },
      90_000,
      () => describePods(namespace),
    );
    // Kubelet's back-off may still hold a retry after the Secret changed: a little more time
    // for a second reaction to show, if the rate limit were broken.
    await new Promise((r) => setTimeout(r, 3_000));
    const text = await d.metrics.text();
    console.log(
      `[self-heal] revoked credential: first ErrImagePull -> 4/4 Running in ${((allRunning - firstFailure) / 1000).toFixed(1)} s; upstream mints: ${provider.mints} (1 at start)\n` +
        text
          .split("\n")
          .filter((l) => l.startsWith("regcred_pull_failure"))
          .join("\n"),
    );
    expect(provider.mints).toBe(2);
    expect(text).toContain('regcred_pull_failure_refreshes_total{registry="under-test"} 1');
    expect(text).toMatch(/regcred_pull_failures_total\{registry="under-test",reason="unauthorized"\} [1-9]/);
    const secret = await core.readNamespacedSecret({ namespace, name: "pull" });
    expect(Buffer.from(secret.data![".dockerconfigjson"]!, "base64").toString()).toContain(good2.password);
    // An Event on a failing Pod says what regcred did.
    const notes = (
      await Promise.all(
        (await podsOf(kc, namespace)).map((p) => regcredEvents(kc, namespace, p.metadata!.name!)),
      )
    )
      .flat()
      .map((e) => `${e.reason}: ${e.message}`);
    expect(notes.join("\n")).toMatch(
      /PullCredentialRefreshed: kubelet was refused pulling .* regcred refreshed under-test/,
    );
  });

  it("a Deployment created with its namespace stays stuck with healing off: its Pod predates the ServiceAccount entry", async () => {
    await registry.setUsers([good1]);
    const provider = new TurnableProvider(HOST, good1.username, good1.password);
    const d = await racingDaemon(provider, false);
    const namespace = `heal-off-${d.run}`;
    await firstPodBeforeRegcred(d, namespace);
    const pod = await until(
      "regcred says the Pod lacks its pull Secret",
      async () => {
        const p = (await podsOf(kc, namespace))[0];
        if (!p) return undefined;
        const events = await regcredEvents(kc, namespace, p.metadata!.name!);
        return events.some((e) => e.reason === "PodLacksPullSecret") ? p : undefined;
      },
      60_000,
      () => describePods(namespace),
    );
    expect(pod.spec?.imagePullSecrets ?? []).toEqual([]);
    const sa = await core.readNamespacedServiceAccount({ namespace, name: "default" });
    expect(sa.imagePullSecrets).toEqual([{ name: "pull" }]);
    // Two more of kubelet's retries (back-off 10 s, 20 s): still the same Pod, still failing.
    await new Promise((r) => setTimeout(r, 20_000));
    const later = await podsOf(kc, namespace);
    expect(later.map((p) => p.metadata?.uid)).toEqual([pod.metadata?.uid]);
    expect(pullFailing(later[0]!)).toBe(true);
    expect(provider.mints).toBe(1);
  });

  it("healing on: the same Deployment ends Running; pull failures from an unselected namespace or an unmanaged registry change nothing", async () => {
    await registry.setUsers([good1]);
    const provider = new TurnableProvider(HOST, good1.username, good1.password);
    const d = await racingDaemon(provider, true);

    // Noise first, so that by the time the healing below is done these have been seen too.
    const wrong = { username: "puller", password: "wrong" };
    const noise = await createNamespaces(kc, "heal-noise", 2);
    cleanups.push(() => noise.cleanup());
    const [unselected, managed] = noise.names as [string, string];
    await core.patchNamespace(
      { name: managed, body: { metadata: { labels: { "regcred-heal": d.run } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    for (const namespace of [unselected, managed]) {
      await core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: "wrong" },
          type: "kubernetes.io/dockerconfigjson",
          data: {
            ".dockerconfigjson": Buffer.from(
              dockerConfigJson({ [HOST]: wrong, [registry.host]: wrong }),
            ).toString("base64"),
          },
        },
      });
    }
    // Unselected namespace, managed registry; a Deployment there (controller-owned) too.
    await createPod(
      kc,
      unselected,
      podBody("managed-registry", image, { imagePullSecrets: ["wrong"], imagePullPolicy: "Always" }),
    );
    await createWorkload(kc, unselected, image);
    // Selected namespace, an unmanaged registry (the rig registry's own address).
    const unmanagedImage = `${registry.host}/team/heal-app:v1`;
    await createPod(
      kc,
      managed,
      podBody("unmanaged-registry", unmanagedImage, {
        imagePullSecrets: ["wrong"],
        imagePullPolicy: "Always",
      }),
    );
    const noisePods = [
      [unselected, "managed-registry"],
      [managed, "unmanaged-registry"],
    ] as const;
    for (const [namespace, name] of noisePods)
      await until(
        `${namespace}/${name} fails to pull`,
        async () => pullFailing(await core.readNamespacedPod({ namespace, name })),
        60_000,
      );
    await until(
      "the unselected Deployment's Pod fails to pull",
      async () => (await podsOf(kc, unselected)).some(pullFailing),
      60_000,
    );
    const unselectedUids = (await podsOf(kc, unselected)).map((p) => p.metadata?.uid);

    const namespace = `heal-on-${d.run}`;
    const first = await firstPodBeforeRegcred(d, namespace);
    const healed = await until(
      "the Deployment runs",
      async () => (await podsOf(kc, namespace)).find(running),
      90_000,
      () => describePods(namespace),
    );
    const firstHadSecrets = (first.spec?.imagePullSecrets ?? []).length > 0;
    console.log(
      `[self-heal] healing on: first Pod ${first.metadata?.name} had imagePullSecrets: ${firstHadSecrets}; running Pod ${healed.metadata?.name}`,
    );
    // The scenario under test: the first Pod came before regcred's ServiceAccount entry.
    expect(firstHadSecrets).toBe(false);
    expect(healed.metadata?.uid).not.toBe(first.metadata?.uid);
    expect(healed.spec?.imagePullSecrets).toEqual([{ name: "pull" }]);
    const notes = await regcredEvents(kc, namespace, first.metadata!.name!);
    expect(notes.map((e) => e.reason)).toContain("PodRecreatedForPullSecret");
    expect(await d.metrics.text()).toContain(
      'regcred_pod_heals_total{registry="under-test",result="deleted"} 1',
    );

    // The noise: no mint, no delete, no Event.
    expect(provider.mints).toBe(1);
    expect((await podsOf(kc, unselected)).map((p) => p.metadata?.uid)).toEqual(unselectedUids);
    for (const [ns, name] of noisePods) {
      expect(await regcredEvents(kc, ns, name)).toEqual([]);
      expect(pullFailing(await core.readNamespacedPod({ namespace: ns, name }))).toBe(true);
    }
    expect(await d.metrics.text()).not.toMatch(/regcred_pull_failure_refreshes_total\{/);
  });
});
