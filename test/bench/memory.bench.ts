/**
 * npm run bench:memory — where the daemon's memory goes, on the rig's real API server (a cluster
 * of its own). Each row is `regcred run --output kube` as its own process, writing one Secret to
 * BENCH_NAMESPACES namespaces (default 100) and then idling, measured 5 s after the last write:
 *   RSS now and peak (VmRSS, VmHWM), V8 heap used / total, external memory, the code space, and
 *   the time from spawn to serving and to all Secrets written.
 * Rows, all measured in this run:
 *   - bare Node (an empty event loop): the floor
 *   - unbundled: `tsc` output of this tree, run from node_modules as the image used to
 *   - bundle: `npm run build` (scripts/bundle.ts), what the image ships; static registry only,
 *     then with an ECR, a GCR and an ACR registry configured (their mints fail fast against a
 *     closed port: the point is the SDK each loads, not a token)
 * Node runs as it ships: the image's node flags and the chart's nodeOptions (test/helpers/shipped-node.ts).
 */
import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { CoreV1Api } from "@kubernetes/client-node";
import { describeShipped, shippedEnv, shippedNode } from "../helpers/shipped-node.ts";
import { startCluster, type Cluster } from "../rig/cluster.ts";
import { forEachLimit } from "../../src/kube/limit.ts";

const root = path.resolve(import.meta.dirname, "../..");
const NAMESPACES = Number(process.env.BENCH_NAMESPACES ?? 100);
const SETTLE_MS = 5_000;
const node = process.execPath;
const MB = 1048576;

async function until<T>(fn: () => T | undefined | Promise<T | undefined>, what: string): Promise<T> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const value = await fn();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

function procStatus(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]) * 1024;
  return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
}

interface Row {
  label: string;
  rss: number;
  hwm: number;
  heapUsed?: number;
  heapTotal?: number;
  external?: number;
  code?: number;
  serving?: number;
  written?: number;
}

const registries = {
  static: `  - { name: quay, provider: static, registries: [quay.io], username: robot, passwordFrom: { env: BENCH_PASSWORD } }`,
  ecr: `  - { name: ecr, provider: ecr, regions: [eu-west-1], registries: [123456789012.dkr.ecr.eu-west-1.amazonaws.com] }`,
  gcr: `  - { name: gcr, provider: gcr, metadataServer: true, registries: [europe-docker.pkg.dev] }`,
  acr: `  - { name: acr, provider: acr, auth: workloadIdentity, registries: [myregistry.azurecr.io] }`,
};
type Kind = keyof typeof registries;

// Closed ports for every cloud endpoint: each provider loads its SDK and fails its mint at once.
const CLOSED = "http://127.0.0.1:9";
const cloudEnv = {
  BENCH_PASSWORD: "bench-password-value",
  AWS_ACCESS_KEY_ID: "AKIABENCHBENCHBENCH0",
  AWS_SECRET_ACCESS_KEY: "bench-secret-access-key-value",
  AWS_ENDPOINT_URL: CLOSED,
  AWS_EC2_METADATA_DISABLED: "true",
  GCE_METADATA_HOST: "127.0.0.1:9",
  GCE_METADATA_IP: "127.0.0.1:9",
  AZURE_CLIENT_ID: "00000000-0000-0000-0000-000000000001",
  AZURE_TENANT_ID: "00000000-0000-0000-0000-000000000002",
  AZURE_AUTHORITY_HOST: CLOSED,
  AZURE_FEDERATED_TOKEN_FILE: "/dev/null",
};

async function daemon(
  cluster: Cluster,
  dir: string,
  label: string,
  entry: string,
  kinds: Kind[],
): Promise<Row> {
  // Each row writes Secrets of its own name and instance: the rows do not see each other's.
  const slug = label.replace(/\W+/g, "-");
  const config = path.join(dir, `${slug}.yaml`);
  writeFileSync(
    config,
    `registries:
${kinds.map((k) => registries[k]).join("\n")}
secrets:
  - { name: ${slug}, registries: [quay], namespaces: { selector: { matchLabels: { bench: memory } } } }
${kinds
  .filter((k) => k !== "static")
  .map((k) => `  - { name: ${slug}-${k}, registries: [${k}], namespaces: { include: [bench-mem-0] } }`)
  .join("\n")}
kubernetes: { events: false, instance: ${slug} }
server: { port: 0, host: 127.0.0.1 }
`,
  );
  const started = performance.now();
  const args = [
    "run",
    "--port=0",
    "--log-level=info",
    `--config=${config}`,
    `--kubeconfig=${cluster.kubeconfigPath}`,
  ];
  const child = spawn(node, [...shippedNode().args, entry, ...args], {
    cwd: root,
    stdio: ["ignore", "ignore", "pipe"],
    env: { ...process.env, ...cloudEnv, ...shippedEnv(shippedNode()) },
  });
  let stderr = "";
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  try {
    const url = await until(() => /"url":"([^"]+)"/.exec(stderr)?.[1], `${label} to serve`);
    const serving = performance.now() - started;
    const metric = (text: string, name: string) =>
      Number(new RegExp(`^regcred_${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
    await until(async () => {
      const text = await (await fetch(`${url}/metrics`)).text();
      return metric(text, `secret_writes_total\\{secret="${slug}",result="created"\\}`) >= NAMESPACES
        ? true
        : undefined;
    }, `${label} to write ${NAMESPACES} Secrets`);
    const written = performance.now() - started;
    await new Promise((r) => setTimeout(r, SETTLE_MS));
    const text = await (await fetch(`${url}/metrics`)).text();
    return {
      label,
      ...procStatus(child.pid!),
      heapUsed: metric(text, "nodejs_heap_size_used_bytes"),
      heapTotal: metric(text, "nodejs_heap_size_total_bytes"),
      external: metric(text, "nodejs_external_memory_bytes"),
      code: metric(text, `nodejs_heap_space_size_used_bytes\\{space="code"\\}`),
      serving,
      written,
    };
  } catch (err) {
    process.stderr.write(stderr.slice(-3000));
    throw err;
  } finally {
    child.kill("SIGTERM");
    await new Promise((r) => child.once("exit", r));
  }
}

async function bareNode(): Promise<Row> {
  const child = spawn(node, ["-e", "setInterval(() => {}, 1000)"], { stdio: "ignore" });
  await new Promise((r) => setTimeout(r, 1_000));
  const row = { label: "bare Node (empty event loop)", ...procStatus(child.pid!) };
  child.kill();
  await new Promise((r) => child.once("exit", r));
  return row;
}

function print(rows: Row[]): void {
  const mb = (n: number | undefined) => (n === undefined || Number.isNaN(n) ? "-" : (n / MB).toFixed(1));
  const s = (n: number | undefined) => (n === undefined ? "-" : `${(n / 1000).toFixed(2)} s`);
  const header = [
    "",
    "RSS MB",
    "peak MB",
    "heap used",
    "heap total",
    "external",
    "code",
    "serving",
    "written",
  ];
  const lines = rows.map((r) => [
    r.label,
    mb(r.rss),
    mb(r.hwm),
    mb(r.heapUsed),
    mb(r.heapTotal),
    mb(r.external),
    mb(r.code),
    s(r.serving),
    s(r.written),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  for (const l of [header, ...lines])
    console.log(l.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  "));
}

async function main(): Promise<void> {
  const unbundled = path.join(root, ".out/bench-unbundled");
  rmSync(unbundled, { recursive: true, force: true });
  execFileSync("npm", ["run", "-s", "build"], { cwd: root, stdio: "inherit" });
  execFileSync("npx", ["tsc", "-p", "tsconfig.build.json", "--outDir", unbundled], {
    cwd: root,
    stdio: "inherit",
  });
  const cluster = await startCluster({ controllerManager: false });
  const dir = mkdtempSync(path.join(tmpdir(), "regcred-memory-"));
  try {
    const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
    const names = Array.from({ length: NAMESPACES }, (_, i) => `bench-mem-${i}`);
    await forEachLimit(names, 16, async (name) => {
      await core.createNamespace({ body: { metadata: { name, labels: { bench: "memory" } } } });
    });
    const bundle = "dist/src/main.js";
    const rows: Row[] = [await bareNode()];
    rows.push(
      await daemon(cluster, dir, "unbundled, static", path.join(unbundled, "src/main.js"), ["static"]),
    );
    rows.push(await daemon(cluster, dir, "bundle, static", bundle, ["static"]));
    for (const kind of ["ecr", "gcr", "acr"] as const)
      rows.push(await daemon(cluster, dir, `bundle, static + ${kind}`, bundle, ["static", kind]));
    rows.push(
      await daemon(cluster, dir, "bundle, static + ecr + gcr + acr", bundle, ["static", "ecr", "gcr", "acr"]),
    );
    console.log(
      `\n${NAMESPACES} namespaces, one Secret each; measured ${SETTLE_MS / 1000} s after the last write`,
    );
    console.log(`daemon runs as ${describeShipped(shippedNode())}\n`);
    print(rows);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    // Only this run needs it (and ESLint would read it).
    rmSync(unbundled, { recursive: true, force: true });
    await cluster.stop();
  }
}

await main();
