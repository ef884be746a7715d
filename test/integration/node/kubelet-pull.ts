// The node-level e2e harness: the real daemon writes Secret `pull` (runDaemonAndReadBack), and
// while it runs, Pods on the rig's node pull private images with it: the kubelet's own keyring
// picks the Secret's key for the image's host, containerd pulls over TLS from the served host.
import type { NodeClient } from "../../rig/node.ts";
import { sharedCluster } from "../../rig/shared.ts";
import { runDaemonAndReadBack, type ReadBackSecret } from "../e2e/read-back.ts";
import { createNamespaces } from "../../rig/namespaces.ts";
import { dockerConfigJson } from "../../rig/registry.ts";
import { createPod, podBody, pulledMessage, waitPullFailure, waitRunning, type PullFailure } from "./pods.ts";

export interface KubeletPull {
  namespace: string;
  pod: string;
  image: string;
  /** The kubelet's Pulled event, e.g. `Successfully pulled image "ghcr.io/x:v1" in 49ms ...`. */
  pulled: string | undefined;
  /** What the container printed (read from the node's podLogsDir). */
  output: string;
}

export interface KubeletPullResult {
  secrets: ReadBackSecret[];
  pulls: KubeletPull[];
  logs: string;
}

/**
 * Runs the daemon with `registriesYaml` (one registry named under-test, as for
 * runDaemonAndReadBack), then, in every namespace, one Pod per image with
 * `imagePullSecrets: [pull]` (or none with `serviceAccountPatched`, when the target's
 * serviceAccounts make regcred patch the default ServiceAccount). `beforePods` sees the
 * read-back Secret first (e.g. to teach the registry the token just minted).
 */
export async function daemonThenKubeletPull(
  node: NodeClient,
  registriesYaml: string,
  images: string[],
  opts: {
    namespaces?: number;
    target?: string;
    serviceAccountPatched?: boolean;
    beforePods?: (dockerconfigjson: string) => Promise<void>;
    providers?: NonNullable<Parameters<typeof runDaemonAndReadBack>[1]>["providers"];
  } = {},
): Promise<KubeletPullResult> {
  const kc = sharedCluster().kubeConfig();
  const pulls: KubeletPull[] = [];
  const result = await runDaemonAndReadBack(registriesYaml, {
    namespaces: opts.namespaces ?? 1,
    ...(opts.target ? { target: opts.target } : {}),
    ...(opts.providers ? { providers: opts.providers } : {}),
    whileRunning: async (_daemon, namespaces) => {
      const { CoreV1Api } = await import("@kubernetes/client-node");
      const core = kc.makeApiClient(CoreV1Api);
      const first = await core.readNamespacedSecret({ namespace: namespaces[0]!, name: "pull" });
      await opts.beforePods?.(Buffer.from(first.data![".dockerconfigjson"]!, "base64").toString());
      for (const namespace of namespaces) {
        for (const [i, image] of images.entries()) {
          const pod = `app-${i}`;
          await createPod(
            kc,
            namespace,
            podBody(pod, image, opts.serviceAccountPatched ? {} : { imagePullSecrets: ["pull"] }),
          );
          pulls.push({ namespace, pod, image, pulled: undefined, output: "" });
        }
      }
      for (const p of pulls) {
        await waitRunning(kc, p.namespace, p.pod);
        p.pulled = await pulledMessage(kc, p.namespace, p.pod);
        // The first line reaches podLogsDir a moment after the container starts.
        for (let t = 0; t < 40 && !p.output; t++) {
          p.output = await node.podLogs(p.namespace, p.pod, "app");
          if (!p.output) await new Promise((r) => setTimeout(r, 100));
        }
      }
    },
  });
  return { secrets: result.secrets, pulls, logs: result.logs() };
}

/**
 * The negative control: in a fresh namespace, a Pod whose only pull Secret holds `auth` for the
 * image's host fails to pull. Returns the Pod's waiting reason and the kubelet's Failed events.
 */
export async function pullWithWrongSecret(
  image: string,
  auths: Record<string, { username: string; password: string }>,
): Promise<PullFailure> {
  const kc = sharedCluster().kubeConfig();
  const { CoreV1Api } = await import("@kubernetes/client-node");
  const ns = await createNamespaces(kc, "node-wrong", 1);
  try {
    const namespace = ns.names[0]!;
    await kc.makeApiClient(CoreV1Api).createNamespacedSecret({
      namespace,
      body: {
        metadata: { name: "wrong" },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": Buffer.from(dockerConfigJson(auths)).toString("base64") },
      },
    });
    await createPod(kc, namespace, podBody("denied", image, { imagePullSecrets: ["wrong"] }));
    return await waitPullFailure(kc, namespace, "denied");
  } finally {
    await ns.cleanup();
  }
}
