/**
 * npm run bench:fanout [-- --namespaces N] — the Kubernetes writer on the rig's real API
 * server (a cluster of its own): N namespaces (default 1,000; BENCH_NAMESPACES too), one
 * Secret merging 4 registries. The daemon runs as its own ServiceAccount under the RBAC
 * `regcred rbac -c` renders for the config (Secrets by name), the bench as admin.
 *   (a) daemon start to all N Secrets written
 *   (b) a refreshed credential rolled out to all N (the second rollout: steady state),
 *       against a baseline: the same server-side apply of the same body (one password
 *       rotated), sent by a plain parallel HTTPS loop (same concurrency, keep-alive, same
 *       ServiceAccount token, so the same RBAC and API priority level)
 *   (c) p50 / p99 from namespace creation to Secret present, over 100 new namespaces, seen by
 *       a watch of the bench's own (no polling), against a baseline controller that only POSTs,
 *       measured interleaved with them (one namespace each in turn, the daemon running), so
 *       both see the same API server under the same load
 *   (d) the daemon process's peak RSS (VmHWM), its CPU time, and the API requests the daemon
 *       alone made during (a)-(c) (the API server's per-flow-schema counter: only the daemon
 *       and the baseline controller, whose POSTs are counted and taken off, use a
 *       ServiceAccount here; the bench is admin, exempt)
 * Targets (issue 14): (c) p50 <= 10 ms, p99 < 1 s; (b) within 1.5x of the baseline;
 * RSS <= 100 MB at 1,000, <= 150 MB at 10,000.
 */
import { Agent, request } from "node:https";
import { performance } from "node:perf_hooks";
import { CoreV1Api } from "@kubernetes/client-node";
import { startCluster, type Cluster } from "../rig/cluster.ts";
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describeShipped, shippedEnv, shippedNode } from "../helpers/shipped-node.ts";
import { forEachLimit } from "../../src/kube/limit.ts";
import { managedSecretNames, rbacManifests } from "../../src/kube/rbac.ts";
import { parseConfig } from "../../src/config/load.ts";
import { watchOnce, type WatchEvent } from "../../src/kube/watch.ts";
import { KubernetesObjectApi, type KubernetesObject, type V1Secret } from "@kubernetes/client-node";

const root = path.resolve(import.meta.dirname, "../..");

/** Polls until fn returns a value (30 ms steps; 5 min and 100 ms per namespace at most). */
async function until<T>(fn: () => T | undefined | Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 300_000 + 100 * NAMESPACES;
  for (;;) {
    if (daemonDied) throw new Error(`bench: ${daemonDied}`);
    // A failed poll (the daemon's server resetting an idle keep-alive socket on a loaded
    // machine) is "not yet"; a dead daemon is the end.
    const value = await Promise.resolve()
      .then(fn)
      .catch((err: unknown) => {
        if (daemonDied) throw new Error(`bench: ${daemonDied}`);
        if (Date.now() > deadline) throw err;
        return undefined;
      });
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error("bench: timed out");
    await new Promise((r) => setTimeout(r, 30));
  }
}

function namespacesArg(): number {
  const i = process.argv.indexOf("--namespaces");
  const raw = i >= 0 ? process.argv[i + 1] : process.env.BENCH_NAMESPACES;
  const n = Number(raw ?? 1_000);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`bench:fanout: --namespaces: expected a positive whole number, got ${raw}`);
    process.exit(2);
  }
  return n;
}

const NAMESPACES = namespacesArg();
const NEW_NAMESPACES = 100;
const CONCURRENCY = 32;

/** Requests the API server dispatched for ServiceAccounts: here, the daemon's alone. */
async function daemonRequests(cluster: Cluster): Promise<number> {
  const { body } = await cluster.rawGet("/metrics");
  let total = 0;
  for (const line of body.split("\n")) {
    if (
      line.startsWith("apiserver_flowcontrol_dispatched_requests_total{") &&
      line.includes('flow_schema="service-accounts"')
    ) {
      total += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return total;
}

/** A process's CPU time so far, user and system (/proc/PID/stat, in clock ticks of 1/100 s). */
function cpuSeconds(pid: number): number {
  // The fields after the command, which is in parentheses and may itself hold spaces.
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // utime and stime are fields 14 and 15 of stat(5); fields[0] here is field 3.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function ms(n: number): string {
  return `${n.toFixed(0)} ms`;
}

let benchDone = false;
let daemonDied: string | null = null;

/**
 * Where the resident memory sits (/proc/PID/smaps): the V8 heap and malloc arenas are
 * anonymous, the node binary's code is file-backed; the largest anonymous mappings show
 * whether it is one heap or many arenas.
 */
function residentBreakdown(pid: number): string {
  const smaps = readFileSync(`/proc/${pid}/smaps`, "utf8");
  let file = 0;
  let anon = 0;
  const anonMaps: Array<{ size: number; name: string }> = [];
  for (const block of smaps.split(/\n(?=[0-9a-f]+-[0-9a-f]+ )/)) {
    const rss = Number(/\nRss:\s+(\d+) kB/.exec(block)?.[1] ?? 0) * 1024;
    const anonymous = Number(/\nAnonymous:\s+(\d+) kB/.exec(block)?.[1] ?? 0) * 1024;
    anon += anonymous;
    file += rss - anonymous;
    const name = /^\S+ \S+ \S+ \S+ \S+[ \t]*(.*)/.exec(block)?.[1] || "anon";
    if (anonymous > 0) anonMaps.push({ size: anonymous, name });
  }
  anonMaps.sort((a, b) => b.size - a.size);
  const mb = (n: number) => `${(n / 1048576).toFixed(1)}`;
  return `anonymous ${mb(anon)} MB (${anonMaps.length} mappings, largest ${anonMaps
    .slice(0, 5)
    .map((m) => `${mb(m.size)} ${m.name}`)
    .join(", ")}), file-backed ${mb(file)} MB`;
}

/**
 * What ships (the image's node flags and environment, the chart's NODE_OPTIONS), unless
 * BENCH_DAEMON_NODE_ARGS, BENCH_DAEMON_NODE_OPTIONS or BENCH_DAEMON_ENV ("K=V K=V", over the
 * image's) say otherwise (to measure a setting before shipping it).
 */
const image = shippedNode();
const shipped = {
  args: process.env.BENCH_DAEMON_NODE_ARGS?.split(" ").filter(Boolean) ?? image.args,
  nodeOptions: process.env.BENCH_DAEMON_NODE_OPTIONS ?? image.nodeOptions,
  imageEnv: {
    ...image.imageEnv,
    ...Object.fromEntries(
      (process.env.BENCH_DAEMON_ENV ?? "")
        .split(" ")
        .filter(Boolean)
        .map((kv) => {
          const eq = kv.indexOf("=");
          if (eq <= 0) throw new Error(`BENCH_DAEMON_ENV: expected K=V, got ${JSON.stringify(kv)}`);
          return [kv.slice(0, eq), kv.slice(eq + 1)];
        }),
    ),
  },
};

/** The q-quantile of sorted values. */
function percentile(sorted: readonly number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

/** When each new namespace was created, its create answered, and its Secret seen (performance.now()). */
interface NewNamespaceTimes {
  created: Map<string, number>;
  answered: Map<string, number>;
  seen: Map<string, number>;
}

/** Who writes into a new namespace: what the namespace is named and labelled, which Secret comes. */
interface Arm {
  prefix: string;
  labels: Record<string, string>;
  secret: string;
}

/**
 * Creates NEW_NAMESPACES namespaces per arm, one at a time and the arms in turn (which goes
 * first alternates), and returns per arm the sorted times from the create call to a watch
 * seeing the arm's Secret added there, with the moments behind them.
 */
async function newNamespaceLatencies(
  cluster: Cluster,
  arms: readonly Arm[],
): Promise<Array<{ latencies: number[]; times: NewNamespaceTimes }>> {
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  const seen = new Map<string, number>();
  const expected = new Map<string, { secret: string; arrived: () => void }>();
  // From now on only new Secrets are events, so no selector: the arms' names differ.
  const stopWatch = await watchFromNow<V1Secret>(
    cluster,
    "/api/v1/secrets",
    {},
    () => core.listSecretForAllNamespaces({ limit: 1 }),
    (event) => {
      if (event.type !== "ADDED") return;
      const ns = event.object.metadata?.namespace ?? "";
      const want = expected.get(ns);
      if (!want || want.secret !== event.object.metadata?.name || seen.has(ns)) return;
      seen.set(ns, performance.now());
      want.arrived();
    },
  );
  const results = arms.map(() => ({
    latencies: [] as number[],
    times: { created: new Map(), answered: new Map(), seen } as NewNamespaceTimes,
  }));
  for (let i = 0; i < NEW_NAMESPACES; i++) {
    for (const a of arms.map((_, k) => (k + i) % arms.length)) {
      const { prefix, labels, secret } = arms[a]!;
      const { latencies, times } = results[a]!;
      const name = `${prefix}-${i}`;
      const arrived = new Promise<void>((resolve) => expected.set(name, { secret, arrived: resolve }));
      const created = performance.now();
      times.created.set(name, created);
      await core.createNamespace({ body: { metadata: { name, labels } } });
      times.answered.set(name, performance.now());
      await Promise.race([
        arrived,
        new Promise((_, reject) =>
          setTimeout(() => reject(new Error(`no Secret ${secret} in ${name} after 60 s`)), 60_000),
        ),
      ]);
      latencies.push(seen.get(name)! - created);
    }
  }
  await stopWatch();
  for (const r of results) r.latencies.sort((a, b) => a - b);
  return results;
}

/** Watches path from now on (a one-item list gives the version) until the returned stop(). */
async function watchFromNow<T extends KubernetesObject>(
  cluster: Cluster,
  path: string,
  selector: { labelSelector?: string; fieldSelector?: string },
  list: () => Promise<{ metadata?: { resourceVersion?: string } }>,
  onEvent: (event: WatchEvent<T>) => void,
): Promise<() => Promise<void>> {
  const listed = await list();
  const stop = new AbortController();
  const watching = watchOnce<T>(
    cluster.kubeConfig(),
    path,
    {
      resourceVersion: listed.metadata!.resourceVersion!,
      ...selector,
      timeoutSeconds: 3_600,
      signal: stop.signal,
    },
    onEvent,
  ).catch(() => undefined);
  return async () => {
    stop.abort();
    await watching;
  };
}

/**
 * The least any controller can do for (c), as the baseline: a namespace watch that POSTs the
 * Secret the moment a namespace with the label is added, on a warm keep-alive connection, with
 * the daemon's token and the daemon's body. What (c) measures beyond this is regcred's own. It
 * notes when each namespace's event arrived and its POST was answered, so the floor can be
 * split in stages.
 */
async function floorController(
  cluster: Cluster,
  labelSelector: string,
  post: (namespace: string) => Promise<void>,
): Promise<{ stop: () => Promise<void>; noticed: Map<string, number>; posted: Map<string, number> }> {
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  const noticed = new Map<string, number>();
  const posted = new Map<string, number>();
  const stop = await watchFromNow<KubernetesObject>(
    cluster,
    "/api/v1/namespaces",
    { labelSelector },
    () => core.listNamespace({ limit: 1 }),
    (event) => {
      if (event.type !== "ADDED") return;
      const name = event.object.metadata!.name!;
      noticed.set(name, performance.now());
      void post(name)
        .then(() => posted.set(name, performance.now()))
        .catch(() => undefined);
    },
  );
  return { stop, noticed, posted };
}

/**
 * The floor's p50 split in stages, each the median over the new namespaces of the gap between
 * two moments: where the baseline's milliseconds go on this machine.
 */
function floorStages(
  times: NewNamespaceTimes,
  noticed: Map<string, number>,
  posted: Map<string, number>,
): string {
  const median = (from: Map<string, number>, to: Map<string, number>) => {
    const gaps = [...from]
      .filter(([name]) => to.has(name))
      .map(([name, t]) => to.get(name)! - t)
      .sort((a, b) => a - b);
    return gaps.length ? `${percentile(gaps, 0.5).toFixed(1)} ms` : "n/a";
  };
  return (
    `create answered ${median(times.created, times.answered)}, ` +
    `namespace event at the controller ${median(times.created, noticed)}, ` +
    `its POST answered ${median(noticed, posted)}, ` +
    `Secret event at the bench after that ${median(posted, times.seen)}`
  );
}

async function main(): Promise<void> {
  const cluster = await startCluster({ controllerManager: false });
  try {
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const names = Array.from({ length: NAMESPACES }, (_, i) => `bench-${i}`);
    await forEachLimit(names, CONCURRENCY, async (name) => {
      await core.createNamespace({ body: { metadata: { name, labels: { bench: "yes" } } } });
    });

    // The daemon runs as its own process, built JavaScript as in the image, so its peak RSS
    // (VmHWM) is the daemon's alone. The rollout is triggered the way a rotation reaches it:
    // one registry's mounted secret file changes.
    execFileSync("npm", ["run", "-s", "build"], { cwd: root, stdio: "inherit" });
    const dir = mkdtempSync(path.join(tmpdir(), "regcred-bench-"));
    for (const i of [0, 1, 2, 3]) writeFileSync(path.join(dir, `r${i}`), `first-${i}-`.padEnd(2_000, "x"));
    const configYaml = `registries:
${[0, 1, 2, 3].map((i) => `  - { name: r${i}, provider: static, registries: [r${i}.example.com], username: AWS, passwordFrom: { file: r${i} } }`).join("\n")}
secrets:
  - { name: pull, registries: [r0, r1, r2, r3], namespaces: { selector: { matchLabels: { bench: "yes" } } } }
kubernetes: { events: false, concurrency: ${CONCURRENCY} }
server: { port: 0, host: 127.0.0.1 }
log: { level: warn }
`;
    writeFileSync(path.join(dir, "config.yaml"), configYaml);
    // The daemon's identity: a ServiceAccount bound to the RBAC rendered for this config.
    await core.createNamespace({ body: { metadata: { name: "regcred" } } });
    const objects = KubernetesObjectApi.makeApiClient(cluster.kubeConfig());
    const secretNames = managedSecretNames(parseConfig("config.yaml", configYaml));
    for (const m of rbacManifests({ namespace: "regcred", secretNames })) {
      await objects.create(m as KubernetesObject);
    }
    const token = await cluster.serviceAccountToken("regcred", "regcred", { expirationSeconds: 86_400 });
    const daemonKubeconfig = cluster.writeKubeconfigForToken(token);
    const requestsBefore = await daemonRequests(cluster);
    let t = performance.now();
    const daemon = spawn(
      process.execPath,
      [
        ...shipped.args,
        "dist/src/main.js",
        "run",
        "-c",
        path.join(dir, "config.yaml"),
        "--kubeconfig",
        daemonKubeconfig,
        "--port",
        "0",
        "--log-level",
        "info",
      ],
      {
        cwd: root,
        stdio: ["ignore", "ignore", "pipe"],
        // What ships: the image's environment and the chart's nodeOptions (see `shipped`).
        env: { ...process.env, ...shippedEnv(shipped) },
      },
    );
    let stderr = "";
    daemon.stderr.on("data", (d: Buffer) => (stderr = (stderr + d.toString()).slice(-20_000)));
    // A daemon that dies (out of memory, a crash) ends the bench saying so, not with a fetch error.
    daemon.once("exit", (code, signal) => {
      if (!benchDone)
        daemonDied = `the daemon exited (code ${code}, signal ${signal}); its last words:\n${stderr.slice(-4_000)}`;
    });
    const daemonUrl = await until(() => /"url":"([^"]+)"/.exec(stderr)?.[1]);
    const writes = async (result: string) => {
      const text = await (await fetch(`${daemonUrl}/metrics`)).text();
      return Number(
        new RegExp(`regcred_secret_writes_total\\{secret="pull",result="${result}"\\} (\\d+)`).exec(
          text,
        )?.[1] ?? 0,
      );
    };

    // (a) start to all written
    await until(async () => ((await writes("created")) >= NAMESPACES ? true : undefined));
    const startAll = performance.now() - t;
    const hwm = () =>
      Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${daemon.pid}/status`, "utf8"))![1]) * 1024;
    const peakAfterStart = hwm();
    const cpuAfterStart = cpuSeconds(daemon.pid!);
    const created = await writes("created");

    // (b) a refreshed credential rolled out to all
    t = performance.now();
    writeFileSync(path.join(dir, "r2"), "second-2-".padEnd(2_000, "y"));
    await until(async () => ((await writes("updated")) >= NAMESPACES ? true : undefined));
    const firstRollout = performance.now() - t;
    // Again, as every later refresh is: Secrets created by POST pay a one-time managedFields
    // conversion on their first apply, so the first rollout is not the steady state.
    t = performance.now();
    writeFileSync(path.join(dir, "r1"), "second-1-".padEnd(2_000, "y"));
    await until(async () => ((await writes("updated")) >= 2 * NAMESPACES ? true : undefined));
    const rollout = performance.now() - t;
    const peakAfterRollouts = hwm();
    const cpuAfterRollouts = cpuSeconds(daemon.pid!);
    const updated = (await writes("updated")) - NAMESPACES;

    // The baselines' writes: plain keep-alive HTTPS with the daemon's token.
    const sample = (await core.readNamespacedSecret({ namespace: names[0]!, name: "pull" }))!;
    const labels = sample.metadata!.labels!;
    const annotations = sample.metadata!.annotations!;
    // The very body the daemon writes, one password rotated (same sizes, `auth` fields included).
    const current = JSON.parse(Buffer.from(sample.data![".dockerconfigjson"]!, "base64").toString()) as {
      auths: Record<string, { username: string; password: string; auth: string }>;
    };
    const rotated = "third-0-".padEnd(2_000, "z");
    current.auths["r0.example.com"] = {
      username: "AWS",
      password: rotated,
      auth: Buffer.from(`AWS:${rotated}`).toString("base64"),
    };
    const data = Buffer.from(JSON.stringify(current)).toString("base64");
    const body = (namespace: string, name: string) =>
      JSON.stringify({
        apiVersion: "v1",
        kind: "Secret",
        metadata: { name, namespace, labels, annotations },
        type: "kubernetes.io/dockerconfigjson",
        data: { ".dockerconfigjson": data },
      });
    const agent = new Agent({ keepAlive: true, ca: cluster.caData, maxSockets: CONCURRENCY });
    const url = new URL(cluster.server);
    const write = (
      method: "PATCH" | "POST",
      path: string,
      contentType: string,
      namespace: string,
      name = "pull",
    ) =>
      new Promise<void>((resolve, reject) => {
        const req = request(
          {
            host: url.hostname,
            port: url.port,
            method,
            path,
            agent,
            headers: { authorization: `Bearer ${token}`, "content-type": contentType },
          },
          (res) => {
            res.resume();
            res.on("end", () =>
              res.statusCode! < 300 ? resolve() : reject(new Error(`HTTP ${res.statusCode}`)),
            );
          },
        );
        req.on("error", reject);
        req.end(body(namespace, name));
      });

    // (c) namespace creation -> Secret present, seen by a watch (no polling of the bench's
    // own in the way, and no poll interval in the figure), in turn with the baseline: a
    // controller that only POSTs, for namespaces the daemon sees but does not select, a Secret
    // of another name (one the daemon does not watch).
    let floorPosts = 0;
    const floor = await floorController(cluster, "bench-floor=yes", (namespace) => {
      floorPosts++;
      return write(
        "POST",
        `/api/v1/namespaces/${namespace}/secrets?fieldManager=regcred`,
        "application/json",
        namespace,
        "floor",
      );
    });
    const [daemonArm, floorArm] = await newNamespaceLatencies(cluster, [
      { prefix: "bench-new", labels: { bench: "yes" }, secret: "pull" },
      { prefix: "bench-floor", labels: { "bench-floor": "yes" }, secret: "floor" },
    ]);
    await floor.stop();
    const latencies = daemonArm!.latencies;
    const p = (q: number) => percentile(latencies, q);
    const requestsAfter = (await daemonRequests(cluster)) - floorPosts;
    const daemonPeak = hwm();
    const cpuAtEnd = cpuSeconds(daemon.pid!);
    const processMetrics = (await until(async () => (await fetch(`${daemonUrl}/metrics`)).text()))
      .split("\n")
      .filter((l) =>
        /^regcred_(nodejs_heap_size_(used|total)_bytes|nodejs_external_memory_bytes|process_resident_memory_bytes) /.test(
          l,
        ),
      )
      .map((l) =>
        l
          .replace(/^regcred_/, "")
          .replace(/ (\d+)$/, (_, n: string) => ` ${(Number(n) / 1048576).toFixed(0)} MB`),
      );
    const where = residentBreakdown(daemon.pid!);
    benchDone = true;
    daemon.kill("SIGTERM");
    await new Promise((r) => daemon.once("exit", r));

    // Baseline for (b): the same 1,000 writes, the same server-side apply of the same body, sent
    // by a plain keep-alive HTTPS loop at the same concurrency: what is left is client overhead.
    const patch = (namespace: string) =>
      write(
        "PATCH",
        `/api/v1/namespaces/${namespace}/secrets/pull?fieldManager=regcred&force=true`,
        "application/apply-patch+yaml",
        namespace,
      );
    t = performance.now();
    await forEachLimit(names, CONCURRENCY, patch);
    const baseline = performance.now() - t;
    agent.destroy();

    const ratio = rollout / baseline;
    console.log(
      `namespaces: ${NAMESPACES}, one Secret x 4 registries, concurrency ${CONCURRENCY}, daemon runs as ${describeShipped(shipped)}`,
    );
    console.log(`(a) start to all Secrets written: ${ms(startAll)} (${created} created)`);
    console.log(
      `(b) refreshed credential rolled out: ${ms(rollout)} (${updated} updated; the first rollout after creation took ${ms(firstRollout)}); baseline plain HTTPS loop: ${ms(baseline)}; ratio ${ratio.toFixed(2)}x`,
    );
    console.log(
      `(c) namespace created -> Secret present over ${NEW_NAMESPACES}: p50 ${ms(p(0.5))}, p99 ${ms(p(0.99))}; ` +
        `baseline, a watch that only POSTs, in turn with them: p50 ${ms(percentile(floorArm!.latencies, 0.5))}, p99 ${ms(percentile(floorArm!.latencies, 0.99))}`,
    );
    console.log(`    baseline p50 by stage: ${floorStages(floorArm!.times, floor.noticed, floor.posted)}`);
    console.log(
      `(d) daemon peak RSS (VmHWM) ${(daemonPeak / 1048576).toFixed(0)} MB (by the end of (a) ${(peakAfterStart / 1048576).toFixed(0)} MB, of (b) ${(peakAfterRollouts / 1048576).toFixed(0)} MB); the daemon's API requests during (a)-(c): ${requestsAfter - requestsBefore}`,
    );
    console.log(
      `    daemon CPU (user + system): ${cpuAfterStart.toFixed(1)} s by the end of (a), ` +
        `${(cpuAfterRollouts - cpuAfterStart).toFixed(1)} s for the two rollouts of (b), ` +
        `${(cpuAtEnd - cpuAfterRollouts).toFixed(2)} s for (c)`,
    );
    console.log(`    daemon memory after (c): ${processMetrics.join(", ")}`);
    console.log(`    resident after (c), by mapping: ${where}`);
    const verdict = (ok: boolean) => (ok ? "met" : "MISSED");
    const rssTarget = NAMESPACES <= 1_000 ? 100 : 150;
    console.log(
      `targets: (c) p50 <= 10 ms ${verdict(p(0.5) <= 10)}, p99 < 1 s ${verdict(p(0.99) < 1_000)}; (b) rollout <= 1.5x baseline ${verdict(ratio <= 1.5)}; ` +
        `(d) RSS <= ${rssTarget} MB ${verdict(daemonPeak <= rssTarget * 1048576)}`,
    );
  } finally {
    await cluster.stop();
  }
}

await main();
