// What the Kubernetes writer's suites share: run the daemon as a given identity, read Secrets
// and ServiceAccounts back as admin, wait for the API server's default ServiceAccounts.
import type { CoreV1Api, KubeConfig, V1Secret } from "@kubernetes/client-node";
import { vi } from "vitest";
import { startDaemon, type Daemon } from "../../../src/daemon.ts";
import { createKubeOutput } from "../../../src/kube/output.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { configFrom } from "../../helpers/config.ts";
import { captureLogger } from "../../helpers/log.ts";
import type { ScriptedProvider } from "../../helpers/fake-provider.ts";
import { managedSecretNames } from "../../../src/kube/rbac.ts";
import type { LeastPrivilege } from "./least-rbac.ts";

export const hours = (h: number) => new Date(Date.now() + h * 3_600_000);

export interface Running {
  daemon: Daemon;
  metrics: Metrics;
  lines: string[];
  records: () => Array<Record<string, unknown>>;
}

/**
 * Starts the daemon writing to the cluster as `as`, with one static registry `hub`. Under least
 * privilege, the Secret names of this config are granted first, as the chart would render them.
 */
export async function runDaemon(
  as: KubeConfig | LeastPrivilege,
  provider: ScriptedProvider,
  secretsYaml: string,
): Promise<Running> {
  const { log, lines, records } = captureLogger("info");
  const metrics = new Metrics();
  const config = configFrom(`
registries:
  - { name: hub, provider: static, registries: [docker.io], username: u, passwordFrom: { env: UNUSED } }
${secretsYaml}
`);
  let kc: KubeConfig;
  if ("grant" in as) {
    await as.grant(managedSecretNames(config));
    kc = as.kc;
  } else kc = as;
  const daemon = await startDaemon({
    config,
    log,
    metrics,
    ...createKubeOutput({ kc, config, log, metrics }),
    serve: false,
    providers: { hub: provider },
  });
  await daemon.refresher.settled();
  await daemon.sync.idle();
  return { daemon, metrics, lines, records };
}

export async function secretIn(
  core: CoreV1Api,
  namespace: string,
  name: string,
): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ namespace, name });
  } catch (err) {
    if ((err as { code?: number }).code === 404) return undefined;
    throw err;
  }
}

/** The password the Secret holds for the scripted provider's registry. */
export function passwordOf(secret: V1Secret | undefined): string | undefined {
  if (!secret?.data?.[".dockerconfigjson"]) return undefined;
  const auths = JSON.parse(Buffer.from(secret.data[".dockerconfigjson"], "base64").toString())
    .auths as Record<string, { password?: string }>;
  return auths["registry.example.com"]?.password;
}

export async function pullSecretsOf(core: CoreV1Api, namespace: string, name = "default"): Promise<string[]> {
  const sa = await core.readNamespacedServiceAccount({ namespace, name });
  return (sa.imagePullSecrets ?? []).map((e) => e.name!);
}

/** kube-controller-manager creates `default` in every namespace; wait for it. */
export async function defaultServiceAccounts(core: CoreV1Api, namespaces: readonly string[]): Promise<void> {
  for (const namespace of namespaces) {
    await vi.waitFor(() => core.readNamespacedServiceAccount({ namespace, name: "default" }), {
      timeout: 20_000,
      interval: 50,
    });
  }
}
