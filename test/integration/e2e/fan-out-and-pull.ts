// End to end: regcred (the real daemon, real provider) writes its Secret into namespaces of the
// rig's real API server; the Secret is read back from the API server and a real client pulls
// an image with it from the rig's real registry.
import { randomBytes } from "node:crypto";
import { CoreV1Api } from "@kubernetes/client-node";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces } from "../../rig/namespaces.ts";
import { pullWithDockerConfig, type PullResult } from "../../rig/registry.ts";
import { startDaemon } from "../../../src/daemon.ts";
import { createKubeOutput } from "../../../src/kube/output.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { parseConfig } from "../../../src/config/load.ts";
import { captureLogger } from "../../helpers/log.ts";

export interface E2EResult {
  /** The .dockerconfigjson as read back from each namespace. */
  dockerconfigjson: string[];
  pulls: PullResult[];
  logs: string;
}

/**
 * registriesYaml: the `registries:` list items (YAML, indented by two spaces) for one registry
 * named `under-test`. The target, namespaces and instance are added here.
 */
export async function fanOutAndPull(
  registriesYaml: string,
  image: string,
  namespaces = 2,
): Promise<E2EResult> {
  const cluster = sharedCluster();
  const run = randomBytes(3).toString("hex");
  const ns = await createNamespaces(cluster.kubeConfig(), `e2e-${run}`, namespaces, { "regcred-e2e": run });
  const { log, lines } = captureLogger("info");
  const metrics = new Metrics();
  const config = parseConfig(
    `e2e-${run}.yaml`,
    `registries:
${registriesYaml}
secrets:
  - name: pull
    registries: [under-test]
    namespaces: { selector: { matchLabels: { regcred-e2e: "${run}" } } }
kubernetes: { instance: e2e-${run} }
`,
  );
  const kc = cluster.kubeConfig();
  const daemon = await startDaemon({
    config,
    log,
    metrics,
    ...createKubeOutput({ kc, config, log, metrics }),
  });
  try {
    await daemon.refresher.settled();
    await daemon.sync.idle();
    const core = kc.makeApiClient(CoreV1Api);
    const dockerconfigjson: string[] = [];
    const pulls: PullResult[] = [];
    for (const namespace of ns.names) {
      const secret = await core.readNamespacedSecret({ namespace, name: "pull" });
      const json = Buffer.from(secret.data![".dockerconfigjson"]!, "base64").toString();
      dockerconfigjson.push(json);
      pulls.push(await pullWithDockerConfig(json, image));
    }
    return { dockerconfigjson, pulls, logs: lines.join("") };
  } finally {
    await daemon.stop();
    await ns.cleanup();
  }
}
