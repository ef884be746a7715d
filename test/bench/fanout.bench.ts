/**
 * npm run bench:fanout — the Kubernetes writer on the rig's real API server (a cluster of its
 * own): 1,000 namespaces, one Secret merging 4 registries.
 *   (a) daemon start to all 1,000 Secrets written
 *   (b) a refreshed credential rolled out to all 1,000, against a baseline: the same 1,000
 *       updates sent by a plain parallel HTTPS loop (same concurrency, keep-alive)
 *   (c) p50 / p99 from namespace creation to Secret present, over 100 new namespaces
 *   (d) peak RSS of this process and API requests made (from the API server's own counter)
 * Targets (issue 4): (c) p99 < 1 s; (b) within 1.5x of the baseline; RSS < 150 MB.
 */
import { Agent, request } from "node:https";
import { performance } from "node:perf_hooks";
import { CoreV1Api } from "@kubernetes/client-node";
import { startCluster, type Cluster } from "../rig/cluster.ts";
import { startDaemon } from "../../src/daemon.ts";
import { createKubeOutput } from "../../src/kube/output.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { parseConfig } from "../../src/config/load.ts";
import { createLogger } from "../../src/observe/log.ts";
import { forEachLimit } from "../../src/kube/limit.ts";
import type { Credential, Provider } from "../../providers/contract.ts";

const NAMESPACES = Number(process.env.BENCH_NAMESPACES ?? 1_000);
const NEW_NAMESPACES = 100;
const CONCURRENCY = 32;

let peakRss = 0;
const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);

class Switchable implements Provider {
  constructor(
    private readonly host: string,
    public password: string,
  ) {}
  async mint(): Promise<Credential[]> {
    // ECR-sized tokens: the body size matters for the write path.
    return [
      {
        registries: [this.host],
        username: "AWS",
        password: this.password.padEnd(2_000, "x"),
        expiresAt: new Date(Date.now() + 12 * 3_600_000),
      },
    ];
  }
}

async function apiRequests(cluster: Cluster): Promise<number> {
  const { body } = await cluster.rawGet("/metrics");
  let total = 0;
  for (const line of body.split("\n")) {
    if (line.startsWith("apiserver_request_total{")) total += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return total;
}

function ms(n: number): string {
  return `${n.toFixed(0)} ms`;
}

async function main(): Promise<void> {
  const cluster = await startCluster({ controllerManager: false });
  try {
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const names = Array.from({ length: NAMESPACES }, (_, i) => `bench-${i}`);
    await forEachLimit(names, CONCURRENCY, async (name) => {
      await core.createNamespace({ body: { metadata: { name, labels: { bench: "yes" } } } });
    });

    const config = parseConfig(
      "bench.yaml",
      `registries:
${[0, 1, 2, 3].map((i) => `  - { name: r${i}, provider: static, registries: [r${i}.example.com], username: u, passwordFrom: { env: UNUSED } }`).join("\n")}
secrets:
  - { name: pull, registries: [r0, r1, r2, r3], namespaces: { selector: { matchLabels: { bench: "yes" } } } }
kubernetes: { events: false, concurrency: ${CONCURRENCY} }
log: { level: warn }
`,
    );
    const providers = Object.fromEntries(
      [0, 1, 2, 3].map((i) => [`r${i}`, new Switchable(`r${i}.example.com`, `first-${i}`)]),
    );
    const log = createLogger({ level: "warn" });
    const metrics = new Metrics();
    peakRss = process.memoryUsage().rss;
    const requestsBefore = await apiRequests(cluster);

    // (a) start to all written
    let t = performance.now();
    const daemon = await startDaemon({
      config,
      log,
      metrics,
      ...createKubeOutput({ kc: cluster.kubeConfig(), config, log, metrics }),
      providers,
    });
    await daemon.refresher.settled();
    await daemon.sync.idle();
    const startAll = performance.now() - t;
    const created = daemon.sync.last?.result?.created ?? 0;

    // (b) a refreshed credential rolled out to all
    providers["r2"]!.password = "second-2";
    t = performance.now();
    await daemon.refresher.refresh("r2");
    await daemon.sync.idle();
    const rollout = performance.now() - t;
    const updated = daemon.sync.last?.result?.updated ?? 0;

    // (c) namespace creation -> Secret present
    const latencies: number[] = [];
    for (let i = 0; i < NEW_NAMESPACES; i++) {
      const name = `bench-new-${i}`;
      const created = performance.now();
      await core.createNamespace({ body: { metadata: { name, labels: { bench: "yes" } } } });
      for (;;) {
        try {
          await core.readNamespacedSecret({ namespace: name, name: "pull" });
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 5));
        }
      }
      latencies.push(performance.now() - created);
    }
    latencies.sort((a, b) => a - b);
    const p = (q: number) => latencies[Math.min(latencies.length - 1, Math.ceil(q * latencies.length) - 1)]!;
    const requestsAfter = await apiRequests(cluster);
    await daemon.stop();
    const daemonPeak = peakRss;

    // Baseline: the same 1,000 writes, the same server-side apply of the same body, sent by a
    // plain keep-alive HTTPS loop at the same concurrency: what is left is client overhead.
    const sample = (await core.readNamespacedSecret({ namespace: names[0]!, name: "pull" }))!;
    const labels = sample.metadata!.labels!;
    const annotations = sample.metadata!.annotations!;
    const data = Buffer.from(
      JSON.stringify({
        auths: Object.fromEntries(
          [0, 1, 2, 3].map((i) => [
            `r${i}.example.com`,
            { username: "AWS", password: "third".padEnd(2_000, "y") },
          ]),
        ),
      }),
    ).toString("base64");
    const body = (namespace: string) =>
      JSON.stringify({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name: "pull", namespace, labels, annotations },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": data },
      });
    const agent = new Agent({ keepAlive: true, ca: cluster.caData, maxSockets: CONCURRENCY });
    const url = new URL(cluster.server);
    const patch = (namespace: string) =>
      new Promise<void>((resolve, reject) => {
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            method: "PATCH",
            path: `/api/v1/namespaces/${namespace}/secrets/pull?fieldManager=regcred&force=true`,
            agent,
            headers: {
              authorization: `Bearer ${cluster.adminToken}`,
              "content-type": "application/apply-patch+yaml",
            },
          },
          (res) => {
            res.resume();
            res.on("end", () =>
              res.statusCode === 200 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`)),
            );
          },
        );
        req.on("error", reject);
        req.end(body(namespace));
      });
    t = performance.now();
    await forEachLimit(names, CONCURRENCY, patch);
    const baseline = performance.now() - t;
    agent.destroy();

    clearInterval(sampler);
    const ratio = rollout / baseline;
    console.log(`namespaces: ${NAMESPACES}, one Secret x 4 registries, concurrency ${CONCURRENCY}`);
    console.log(`(a) start to all Secrets written: ${ms(startAll)} (${created} created)`);
    console.log(
      `(b) refreshed credential rolled out: ${ms(rollout)} (${updated} updated); baseline plain HTTPS loop: ${ms(baseline)}; ratio ${ratio.toFixed(2)}x`,
    );
    console.log(
      `(c) namespace created -> Secret present over ${NEW_NAMESPACES}: p50 ${ms(p(0.5))}, p99 ${ms(p(0.99))}`,
    );
    console.log(
      `(d) peak RSS ${(daemonPeak / 1048576).toFixed(0)} MB (bench process, includes the daemon); API requests during (a)-(c): ${requestsAfter - requestsBefore}`,
    );
    const met = p(0.99) < 1_000 && ratio <= 1.5 && daemonPeak < 150 * 1048576;
    console.log(`targets (p99 < 1 s, rollout <= 1.5x baseline, RSS < 150 MB): ${met ? "met" : "MISSED"}`);
  } finally {
    await cluster.stop();
  }
}

await main();
