// The self-healing harness: the real daemon (leader, kube output, pull watcher) against the
// shared cluster, with one registry `under-test` whose provider is a counter the test turns:
// every mint is an "upstream call", and what it mints is whatever the test says is good now.
import { randomBytes } from "node:crypto";
import { AppsV1Api, CoreV1Api, type CoreV1Event, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import type { Provider } from "../../../providers/contract.ts";
import { parseConfig } from "../../../src/config/load.ts";
import { startDaemon, type Daemon } from "../../../src/daemon.ts";
import { createKubeOutput } from "../../../src/kube/output.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { captureLogger } from "../../helpers/log.ts";
import { podBody, podEvents } from "./pods.ts";

/** A provider whose upstream is a variable: `mints` counts the calls. */
export class TurnableProvider implements Provider {
  mints = 0;
  constructor(
    private readonly host: string,
    public username: string,
    public password: string,
    /** A lifetime of hours: the scheduled refresh is hours away. */
    private readonly lifetimeMs = 6 * 3_600_000,
  ) {}
  async mint() {
    this.mints++;
    return [
      {
        registries: [this.host],
        username: this.username,
        password: this.password,
        expiresAt: new Date(Date.now() + this.lifetimeMs),
      },
    ];
  }
}

export interface HealDaemon {
  daemon: Daemon;
  metrics: Metrics;
  /** The label value that selects a namespace: { "regcred-heal": run }. */
  run: string;
  logs(): string;
  stop(): Promise<void>;
}

/** Secret `pull` with `under-test`, into namespaces labelled regcred-heal=<run>, wired into `default`. */
export async function startHealDaemon(
  /** What the daemon talks to the API server with. */
  kc: KubeConfig,
  host: string,
  provider: TurnableProvider,
  healing: boolean,
): Promise<HealDaemon> {
  const run = randomBytes(3).toString("hex");
  const { log, lines } = captureLogger("info");
  const metrics = new Metrics();
  const config = parseConfig(
    `heal-${run}.yaml`,
    `registries:
  - name: under-test
    provider: static
    registries: ["${host}"]
    username: unused
    passwordFrom: { env: UNUSED_THE_TEST_PROVIDES_IT }
secrets:
  - name: pull
    registries: [under-test]
    namespaces: { selector: { matchLabels: { regcred-heal: "${run}" } } }
    serviceAccounts: [default]
kubernetes: { instance: heal-${run} }
pullFailures: { minInterval: 1m }
healing: { enabled: ${healing} }
`,
  );
  const daemon = await startDaemon({
    config,
    log,
    metrics,
    providers: { "under-test": provider },
    ...createKubeOutput({ kc, config, log, metrics }),
  });
  await daemon.refresher.settled();
  await daemon.sync.idle();
  return { daemon, metrics, run, logs: () => lines.join(""), stop: () => daemon.stop() };
}

/** A namespace and, in the same instant, a Deployment of `image` (no imagePullSecrets, default ServiceAccount). */
export async function namespaceWithDeployment(
  kc: KubeConfig,
  name: string,
  labels: Record<string, string>,
  image: string,
): Promise<void> {
  await kc
    .makeApiClient(CoreV1Api)
    .createNamespace({ body: { metadata: { name, labels: { "regcred-rig": "true", ...labels } } } });
  await createWorkload(kc, name, image);
}

/** Deployment `workload` (Pods labelled app=workload) of `image`, pulled Always. */
export async function createWorkload(
  kc: KubeConfig,
  namespace: string,
  image: string,
  opts: { imagePullSecrets?: string[]; replicas?: number } = {},
): Promise<void> {
  await kc.makeApiClient(AppsV1Api).createNamespacedDeployment({
    namespace,
    body: {
      metadata: { name: "workload" },
      spec: {
        replicas: opts.replicas ?? 1,
        selector: { matchLabels: { app: "workload" } },
        template: {
          metadata: { labels: { app: "workload" } },
          spec: {
            ...podBody("workload", image, {
              imagePullPolicy: "Always",
              ...(opts.imagePullSecrets ? { imagePullSecrets: opts.imagePullSecrets } : {}),
            }).spec!,
          },
        },
      },
    },
  });
}

export async function podsOf(kc: KubeConfig, namespace: string): Promise<V1Pod[]> {
  return (await kc.makeApiClient(CoreV1Api).listNamespacedPod({ namespace, labelSelector: "app=workload" }))
    .items;
}

/** The Events regcred posted about a Pod (events.k8s.io, seen through core/v1). */
export async function regcredEvents(kc: KubeConfig, namespace: string, pod: string): Promise<CoreV1Event[]> {
  return (await podEvents(kc, namespace, pod)).filter((e) => e.reportingComponent === "regcred.io/regcred");
}

export const running = (p: V1Pod) =>
  p.status?.phase === "Running" && (p.status.containerStatuses ?? []).every((s) => s.ready);
export const pullFailing = (p: V1Pod) =>
  ["ErrImagePull", "ImagePullBackOff"].includes(
    p.status?.containerStatuses?.[0]?.state?.waiting?.reason ?? "",
  );

/** Polls `check` every 250 ms until it returns a value; throws `what` (with `explain()`) at the deadline. */
export async function until<T>(
  what: string,
  check: () => Promise<T | undefined | false>,
  timeoutMs: number,
  explain: () => Promise<string> = async () => "",
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const got = await check();
    if (got !== undefined && got !== false) return got;
    if (Date.now() > deadline) throw new Error(`${what} within ${timeoutMs} ms: ${await explain()}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
