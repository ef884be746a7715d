// The e2e harness (fan-out-and-pull.ts builds on it): the real daemon against the shared
// cluster, one `under-test` registry, and everything a test may need: the Secret as the API
// server holds it (annotations included), the refresher's view, and a hook that runs while the
// daemon is still up (to watch it retry). Pulls are left to the caller.
import { randomBytes } from "node:crypto";
import { CoreV1Api } from "@kubernetes/client-node";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces } from "../../rig/namespaces.ts";
import { startDaemon, type Daemon } from "../../../src/daemon.ts";
import { createKubeOutput } from "../../../src/kube/output.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { parseConfig } from "../../../src/config/load.ts";
import { captureLogger } from "../../helpers/log.ts";

export interface ReadBackSecret {
  namespace: string;
  type: string | undefined;
  annotations: Record<string, string>;
  /** The .dockerconfigjson, decoded from the Secret's data as read back from the API server. */
  dockerconfigjson: string;
}

export interface ReadBackResult {
  secrets: ReadBackSecret[];
  /** Everything the daemon logged (pino JSON lines), up to its stop. */
  logs: () => string;
}

/**
 * Starts the daemon with `registriesYaml` (items of `registries:`, indented by two spaces, one
 * named `under-test`) writing Secret `pull` into `namespaces` fresh namespaces, waits for the first
 * refresh and sync, reads every Secret back, runs `whileRunning`, then stops the daemon and
 * deletes the namespaces. whileRunning also gets the namespaces (to run Pods in them).
 */
export async function runDaemonAndReadBack(
  registriesYaml: string,
  opts: {
    namespaces?: number;
    whileRunning?: (daemon: Daemon, namespaces: string[]) => Promise<void>;
    /** More fields of the `pull` Secret target, YAML indented by four spaces (e.g. serviceAccounts). */
    target?: string;
  } = {},
): Promise<ReadBackResult> {
  const cluster = sharedCluster();
  const run = randomBytes(3).toString("hex");
  const kc = cluster.kubeConfig();
  const ns = await createNamespaces(kc, `e2e-${run}`, opts.namespaces ?? 2, { "regcred-e2e": run });
  const { log, lines } = captureLogger("info");
  const metrics = new Metrics();
  try {
    const config = parseConfig(
      `e2e-${run}.yaml`,
      `registries:
${registriesYaml}
secrets:
  - name: pull
    registries: [under-test]
    namespaces: { selector: { matchLabels: { regcred-e2e: "${run}" } } }
${opts.target ?? ""}kubernetes: { instance: e2e-${run} }
`,
    );
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
      const secrets: ReadBackSecret[] = [];
      for (const namespace of ns.names) {
        const secret = await core.readNamespacedSecret({ namespace, name: "pull" });
        secrets.push({
          namespace,
          type: secret.type,
          annotations: secret.metadata?.annotations ?? {},
          dockerconfigjson: Buffer.from(secret.data![".dockerconfigjson"]!, "base64").toString(),
        });
      }
      await opts.whileRunning?.(daemon, ns.names);
      return { secrets, logs: () => lines.join("") };
    } finally {
      await daemon.stop();
    }
  } finally {
    await ns.cleanup();
  }
}

/** The `auths` map of a .dockerconfigjson. */
export function authsOf(
  dockerconfigjson: string,
): Record<string, { username: string; password: string; auth: string }> {
  return (
    JSON.parse(dockerconfigjson) as {
      auths: Record<string, { username: string; password: string; auth: string }>;
    }
  ).auths;
}
