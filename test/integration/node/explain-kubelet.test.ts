// `regcred explain` against what the real kubelet does: one Pod per row, each with its own pull
// Secret, pulling (imagePullPolicy Always) from the rig registry served under real host names;
// explain's exit code (0: the pull authenticates, 1: it does not) must equal the Pod's fate
// (Running, or ErrImagePull). Rows cover ports, path prefixes, a wildcard, Docker Hub short
// names with both of its keys, a rejected password and kubelet's fall-through to a later key.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushRunnableImage } from "../../rig/app-image.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { DOCKER_HUB, serveRegistryAt, type ServedHost } from "../../rig/registry-hosts.ts";
import { dockerConfigJson, startRegistry, type Registry } from "../../rig/registry.ts";
import { sharedCluster } from "../../rig/shared.ts";
import { sharedNode } from "../../rig/shared-node.ts";
import { REPO_ROOT } from "../../rig/util.ts";
import { createPod, podBody } from "./pods.ts";
import { pullFailing, running, until } from "./self-heal-kit.ts";

const CORP = "pw-explain.corp.example:5443";
const ACR = "pwexplain.azurecr.io";
const cluster = sharedCluster();
const kc = cluster.kubeConfig();
const good = { username: "puller", password: "explain-node-good-".padEnd(90, "g") };
const bad = { username: "puller", password: "explain-node-bad-".padEnd(90, "b") };

type Auths = Record<string, { username: string; password: string }>;
interface Row {
  name: string;
  image: string;
  auths: Auths;
}

const rows = (hub: string): Row[] => [
  { name: "port-exact", image: `${CORP}/team/app:v1`, auths: { [CORP]: good } },
  { name: "port-missing-in-key", image: `${CORP}/team/app:v1`, auths: { "pw-explain.corp.example": good } },
  { name: "path-prefix", image: `${CORP}/team/app:v1`, auths: { [`${CORP}/team`]: good } },
  { name: "path-other", image: `${CORP}/team/app:v1`, auths: { [`${CORP}/other`]: good } },
  { name: "wildcard", image: `${ACR}/team/app:v1`, auths: { "*.azurecr.io": good } },
  { name: "wildcard-two-labels", image: `${ACR}/team/app:v1`, auths: { "*.example.io": good, "*.io": good } },
  { name: "hub-legacy-key", image: hub, auths: { "https://index.docker.io/v1/": good } },
  { name: "hub-docker-io-key", image: hub, auths: { "docker.io": good } },
  { name: "hub-full-name", image: `docker.io/${hub}`, auths: { "index.docker.io": good } },
  { name: "rejected", image: `${CORP}/team/app:v1`, auths: { [CORP]: bad } },
  // kubelet tries every matching key, most specific first, until one is accepted.
  { name: "falls-through", image: `${CORP}/team/app:v1`, auths: { [`${CORP}/team/app`]: bad, [CORP]: good } },
];

/** The CLI as users run it, trusting the served hosts' CAs (NODE_EXTRA_CA_CERTS is read at start). */
function explainCli(
  args: string[],
  caBundle: string,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(join(REPO_ROOT, "node_modules/.bin/tsx"), ["src/main.ts", "explain", ...args], {
      cwd: REPO_ROOT,
      env: { ...process.env, NODE_EXTRA_CA_CERTS: caBundle },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

describe("node: explain's verdict is what kubelet does", () => {
  let registry: Registry;
  let hosts: ServedHost[] = [];
  let ns: NamespaceSet;
  let hubImage: string;
  const dir = mkdtempSync(join(tmpdir(), "regcred-explain-node-"));
  const caBundle = join(dir, "ca.pem");

  beforeAll(async () => {
    registry = await startRegistry({ auth: "token", users: [good] });
    const [, ...served] = await Promise.all([
      sharedNode(),
      serveRegistryAt(registry, CORP),
      serveRegistryAt(registry, ACR),
      serveRegistryAt(registry, DOCKER_HUB),
    ]);
    hosts = served;
    writeFileSync(caBundle, hosts.map((h) => readFileSync(h.caFile, "utf8")).join("\n"));
    await pushRunnableImage(registry, "team/app", "v1");
    hubImage = hosts[2]!.imageRef(await pushRunnableImage(registry, "pwrig/hub-app", "v1"));
    ns = await createNamespaces(kc, "explain-node", 1);
  });
  afterAll(async () => {
    await ns?.cleanup();
    await Promise.all(hosts.map((h) => h.stop()));
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("over a table of hosts, ports, paths, wildcards and Docker Hub short names", async () => {
    const core = kc.makeApiClient(CoreV1Api);
    const namespace = ns.names[0]!;
    const table = rows(hubImage);
    for (const row of table) {
      await core.createNamespacedSecret({
        namespace,
        body: {
          metadata: { name: row.name },
          type: "kubernetes.io/dockerconfigjson",
          data: { ".dockerconfigjson": Buffer.from(dockerConfigJson(row.auths)).toString("base64") },
        },
      });
      await createPod(
        kc,
        namespace,
        podBody(row.name, row.image, { imagePullSecrets: [row.name], imagePullPolicy: "Always" }),
      );
    }
    const outcomes = await Promise.all(
      table.map(async (row) => {
        const [kubelet, explained] = await Promise.all([
          until(
            `${row.name} runs or fails to pull`,
            async () => {
              const pod = await core.readNamespacedPod({ namespace, name: row.name });
              return running(pod) ? "pulls" : pullFailing(pod) ? "fails" : undefined;
            },
            90_000,
          ),
          explainCli(
            [
              "--kubeconfig",
              cluster.kubeconfigPath,
              "-n",
              namespace,
              "--pod",
              row.name,
              "-o",
              "json",
              row.image,
            ],
            caBundle,
          ),
        ]);
        const verdict =
          explained.code === 0
            ? "pulls"
            : explained.code === 1
              ? "fails"
              : `exit ${explained.code}: ${explained.stderr}`;
        const reason = explained.stdout
          ? (JSON.parse(explained.stdout) as { verdict: { reason: string } }).verdict.reason
          : "";
        return {
          row: row.name,
          image: row.image,
          keys: Object.keys(row.auths).join(" "),
          kubelet,
          explain: verdict,
          reason,
        };
      }),
    );
    console.log(
      "[explain vs kubelet]\n" +
        outcomes
          .map(
            (o) =>
              `${o.row.padEnd(22)} ${o.image.padEnd(45)} ${o.keys.padEnd(50)} kubelet=${o.kubelet} explain=${o.explain}`,
          )
          .join("\n"),
    );
    for (const o of outcomes)
      expect({ row: o.row, verdict: o.explain, reason: o.reason }).toEqual({
        row: o.row,
        verdict: o.kubelet,
        reason: o.reason,
      });
    // The table proves both directions.
    expect(new Set(outcomes.map((o) => o.kubelet))).toEqual(new Set(["pulls", "fails"]));
  });
});
