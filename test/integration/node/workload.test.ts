// Workloads on the rig's node pull with what regcred wrote:
// - static provider, Docker Hub: the Secret's legacy key https://index.docker.io/v1/ serves an
//   image with no registry in its name (rig/hub-app:v1 = docker.io/rig/hub-app:v1);
// - mirror provider, a self-hosted registry.corp.example:5443: a Deployment whose Pod spec names
//   no imagePullSecrets runs because regcred patched the namespace's default ServiceAccount;
// - negative control: a Pod whose Secret has a wrong password gets ErrImagePull with 401.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { AppsV1Api, CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { greetingOf, pushRunnableImage } from "../../rig/app-image.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import type { NodeClient } from "../../rig/node.ts";
import { DOCKER_HUB, serveRegistryAt, type ServedHost } from "../../rig/registry-hosts.ts";
import { dockerConfigJson, startRegistry, type Registry } from "../../rig/registry.ts";
import { sharedCluster } from "../../rig/shared.ts";
import { sharedNode } from "../../rig/shared-node.ts";
import { authsOf, runDaemonAndReadBack } from "../e2e/read-back.ts";
import { daemonThenKubeletPull, pullWithWrongSecret } from "./kubelet-pull.ts";
import { podBody, pulledMessage, waitRunning } from "./pods.ts";

const CORP = "registry.corp.example:5443";
const kc = sharedCluster().kubeConfig();
const core = kc.makeApiClient(CoreV1Api);
const b64 = (s: string) => Buffer.from(s).toString("base64");

describe("node: workloads pull with regcred's Secrets", () => {
  let node: NodeClient;
  let registry: Registry;
  let hub: ServedHost;
  let corp: ServedHost;
  let hubImage: string;
  let corpImage: string;
  let source: NamespaceSet;
  const dir = mkdtempSync(path.join(tmpdir(), "regcred-node-workload-"));

  beforeAll(async () => {
    registry = await startRegistry({
      users: [
        { username: "hub-user", password: "hub-pass-1" },
        { username: "corp-bot", password: "corp-pass-1" },
      ],
    });
    [node, hub, corp] = await Promise.all([
      sharedNode(),
      serveRegistryAt(registry, DOCKER_HUB),
      serveRegistryAt(registry, CORP),
    ]);
    hubImage = hub.imageRef(await pushRunnableImage(registry, "rig/hub-app", "v1"));
    corpImage = corp.imageRef(await pushRunnableImage(registry, "team/corp-app", "v1"));
    writeFileSync(path.join(dir, "hub-password"), "hub-pass-1\n");
    // What `kubectl create secret docker-registry` writes: the mirror provider's source.
    source = await createNamespaces(kc, "node-mirror-src", 1);
    await core.createNamespacedSecret({
      namespace: source.names[0]!,
      body: {
        metadata: { name: "corp-pull" },
        type: "kubernetes.io/dockerconfigjson",
        data: {
          ".dockerconfigjson": b64(
            dockerConfigJson({ [CORP]: { username: "corp-bot", password: "corp-pass-1" } }),
          ),
        },
      },
    });
  });
  afterAll(async () => {
    await source?.cleanup();
    await hub?.stop();
    await corp?.stop();
    await registry?.stop();
  });

  it("static, Docker Hub: the legacy key https://index.docker.io/v1/ serves rig/hub-app:v1 (no registry in the name)", async () => {
    expect(hubImage).toBe("rig/hub-app:v1");
    const result = await daemonThenKubeletPull(
      node,
      `  - name: under-test
    provider: static
    registries: [docker.io]
    username: hub-user
    passwordFrom: { file: ${path.join(dir, "hub-password")} }`,
      [hubImage],
    );
    expect(Object.keys(authsOf(result.secrets[0]!.dockerconfigjson))).toEqual([
      "https://index.docker.io/v1/",
    ]);
    expect(result.pulls[0]!.pulled).toMatch(/^Successfully pulled image "rig\/hub-app:v1" in /);
    expect(result.pulls[0]!.output).toBe(`${greetingOf("rig/hub-app", "v1")}\n`);
    // containerd resolved docker.io to registry-1.docker.io, i.e. our terminator, with credentials.
    expect(
      hub.requests.some(
        (r) => r.path === "/v2/rig/hub-app/manifests/v1" && r.auth === "Basic" && r.status === 200,
      ),
    ).toBe(true);
  });

  it("mirror, self-hosted host:port: a Deployment with no imagePullSecrets runs because regcred patched its ServiceAccount", async () => {
    const apps = kc.makeApiClient(AppsV1Api);
    let pod: Awaited<ReturnType<typeof waitRunning>> | undefined;
    let pulled: string | undefined;
    let output = "";
    const result = await runDaemonAndReadBack(
      `  - name: under-test
    provider: mirror
    source: { namespace: ${source.names[0]!}, name: corp-pull }`,
      {
        target: "    serviceAccounts: [default]\n",
        whileRunning: async (_daemon, [namespace]) => {
          const sa = await core.readNamespacedServiceAccount({ namespace: namespace!, name: "default" });
          expect(sa.imagePullSecrets).toEqual([{ name: "pull" }]);
          await apps.createNamespacedDeployment({
            namespace: namespace!,
            body: {
              metadata: { name: "workload" },
              spec: {
                replicas: 1,
                selector: { matchLabels: { app: "workload" } },
                template: {
                  metadata: { labels: { app: "workload" } },
                  // The workload's own spec: no imagePullSecrets, the default ServiceAccount.
                  spec: { ...podBody("workload", corpImage).spec! },
                },
              },
            },
          });
          let name: string | undefined;
          for (let i = 0; i < 120 && !name; i++) {
            const pods = await core.listNamespacedPod({
              namespace: namespace!,
              labelSelector: "app=workload",
            });
            name = pods.items[0]?.metadata?.name;
            if (!name) await new Promise((r) => setTimeout(r, 250));
          }
          expect(name).toBeDefined();
          pod = await waitRunning(kc, namespace!, name!);
          pulled = await pulledMessage(kc, namespace!, name!);
          await expect.poll(async () => (output = await node.podLogs(namespace!, name!, "app"))).not.toBe("");
        },
      },
    );
    expect(Object.keys(authsOf(result.secrets[0]!.dockerconfigjson))).toEqual([CORP]);
    // The ServiceAccount admission put the patched entry into the Pod; the Deployment did not.
    expect(pod!.spec?.imagePullSecrets).toEqual([{ name: "pull" }]);
    expect(pulled).toMatch(
      /^Successfully pulled image "registry\.corp\.example:5443\/team\/corp-app:v1" in /,
    );
    expect(output).toBe(`${greetingOf("team/corp-app", "v1")}\n`);
    expect(corp.port).toBe(5443);
  });

  it("control: a Pod whose Secret holds a wrong password gets ErrImagePull with 401 Unauthorized", async () => {
    // The image is on the node already (previous test): the kubelet must still check this
    // Pod's credentials with the registry (KubeletEnsureSecretPulledImages).
    const failure = await pullWithWrongSecret(corpImage, {
      [CORP]: { username: "corp-bot", password: "corp-pass-0" },
    });
    expect(["ErrImagePull", "ImagePullBackOff"]).toContain(failure.reason);
    expect(failure.failedEvents.join("\n")).toContain(`Failed to pull image "${corpImage}"`);
    expect(failure.failedEvents.join("\n")).toContain("401 Unauthorized");
  });
});
