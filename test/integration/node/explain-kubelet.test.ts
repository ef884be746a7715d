// `regcred explain` against what the real kubelet does: one Pod per row, each with its own pull
// Secret, pulling (imagePullPolicy Always) from the rig registry served under real host names;
// explain's exit code (0: the pull authenticates, 1: it does not) must equal the Pod's fate
// (Running, or ErrImagePull). Rows cover ports, path prefixes, a wildcard, Docker Hub short
// names with both of its keys, a rejected password and kubelet's fall-through to a later key.
import { readFileSync } from "node:fs";
import { Agent, fetch as undiciFetch } from "undici";
import { CoreV1Api, type V1Pod } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pushRunnableImage } from "../../rig/app-image.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { DOCKER_HUB, serveRegistryAt, type ServedHost } from "../../rig/registry-hosts.ts";
import { dockerConfigJson, startRegistry, type Registry } from "../../rig/registry.ts";
import { sharedCluster } from "../../rig/shared.ts";
import { sharedNode } from "../../rig/shared-node.ts";
import { explain } from "../../../src/cli/explain.ts";
import type { Fetch } from "../../../src/registry/verify.ts";
import { createPod, podBody, podEvents } from "./pods.ts";
import { pullFailing, running, until } from "./self-heal-kit.ts";

/** kubelet failing to pull because the registry refused the credential (or the lack of one). */
const authRefused = (pod: V1Pod) =>
  pullFailing(pod) &&
  /\b40[13]\b|unauthori[sz]ed|denied|failed to authorize/i.test(
    pod.status?.containerStatuses?.[0]?.state?.waiting?.message ?? "",
  );

/**
 * Pull attempts that failed. A Pod's first attempt can run before the Node authorizer lets
 * kubelet read the Pod's Secret ("Unable to retrieve pull secret", then an anonymous pull and a
 * 401), which says nothing of the key: kubelet's verdict is the next attempt, once it has it.
 */
const failedPulls = async (namespace: string, pod: string) =>
  (await podEvents(kc, namespace, pod))
    .filter((e) => e.reason === "Failed" && /^Failed to pull image/.test(e.message ?? ""))
    .reduce((n, e) => n + (e.count ?? 1), 0);

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

/** explain() asking the served hosts through a client that trusts their throwaway CAs. */
function trusting(caFiles: string[]): Fetch {
  const dispatcher = new Agent({ connect: { ca: caFiles.map((f) => readFileSync(f, "utf8")) } });
  return ((url: string, init?: RequestInit) =>
    undiciFetch(url, { ...(init as object), dispatcher })) as unknown as Fetch;
}

describe("node: explain's verdict is what kubelet does", () => {
  let registry: Registry;
  let hosts: ServedHost[] = [];
  let ns: NamespaceSet;
  let hubImage: string;
  let fetch: Fetch;

  beforeAll(async () => {
    registry = await startRegistry({ auth: "token", users: [good] });
    const [, ...served] = await Promise.all([
      sharedNode(),
      serveRegistryAt(registry, CORP),
      serveRegistryAt(registry, ACR),
      serveRegistryAt(registry, DOCKER_HUB),
    ]);
    hosts = served;
    fetch = trusting(hosts.map((h) => h.caFile));
    await pushRunnableImage(registry, "team/app", "v1");
    hubImage = hosts[2]!.imageRef(await pushRunnableImage(registry, "pwrig/hub-app", "v1"));
    ns = await createNamespaces(kc, "explain-node", 1);
  });
  afterAll(async () => {
    await ns?.cleanup();
    await Promise.all(hosts.map((h) => h.stop()));
    await registry?.stop();
  });

  it(
    "over a table of hosts, ports, paths, wildcards and Docker Hub short names",
    { timeout: 240_000 },
    async () => {
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
                // Only a refusal is kubelet's verdict on the credential: any other pull error (a
                // name not resolved yet, a connection reset) is retried by kubelet, so wait on.
                if (running(pod)) return "pulls";
                return authRefused(pod) && (await failedPulls(namespace, row.name)) >= 2
                  ? "fails"
                  : undefined;
              },
              90_000,
            ),
            explain(row.image, {
              kubeconfig: cluster.kubeconfigPath,
              namespace,
              pod: row.name,
              serviceAccount: "default",
              output: "json",
              verify: true,
              fetch,
            }),
          ]);
          // What `regcred explain` exits with: 0 when the pull authenticates, 1 when not.
          const verdict = explained.verdict.authenticates ? "pulls" : "fails";
          const reason = explained.verdict.reason;
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
    },
  );
});
