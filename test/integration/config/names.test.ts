// The config's Kubernetes name rules agree with the real API server: every key, value and
// Secret name the config accepts is one the server accepts on a write, and every one it
// refuses the server refuses too (dry-run creates, so nothing is stored).
import { CoreV1Api, type V1ObjectMeta } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { sharedCluster } from "../../rig/shared.ts";
import { isLabelValue, isQualifiedName } from "../../../src/config/kube-names.ts";
import { ConfigError, parseConfig } from "../../../src/config/load.ts";
import { targetBody } from "../../../src/engine/plan.ts";

const a = (n: number) => "a".repeat(n);
const KEYS = [
  "simple",
  "team.example.com/owner",
  "UpperCase_1.x",
  "Example.com/owner",
  "example.com/-owner",
  "example_com/owner",
  "example.com/",
  "/owner",
  "a/b/c",
  "-owner",
  a(63),
  a(64),
  `${a(63)}.${a(63)}.${a(63)}.${a(61)}/x`,
  `${a(63)}.${a(63)}.${a(63)}.${a(62)}/x`,
];
const VALUES = ["", "platform", a(63), a(64), "-a", "a-", "a b", "1.2.3.4", "x_y", "ā"];

describe("config name rules against the API server", () => {
  const cluster = sharedCluster();
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  let ns: NamespaceSet;
  beforeAll(async () => {
    ns = await createNamespaces(cluster.kubeConfig(), "cfg-names", 1);
  });
  afterAll(() => ns?.cleanup());

  /** Whether the server takes a Secret with this metadata (dry run: validated, not stored). */
  async function serverAccepts(metadata: V1ObjectMeta): Promise<boolean> {
    try {
      await core.createNamespacedSecret({
        namespace: ns.names[0]!,
        dryRun: "All",
        body: { metadata, type: "Opaque", data: {} },
      });
      return true;
    } catch (err) {
      const code = (err as { code?: number }).code;
      if (code === 422) return false;
      throw err;
    }
  }

  it("label keys, annotation keys and label values", async () => {
    const disagreements: string[] = [];
    for (const [i, key] of KEYS.entries()) {
      const label = await serverAccepts({ name: `k${i}`, labels: { [key]: "v" } });
      if (label !== isQualifiedName(key)) disagreements.push(`label key ${key}: server ${label}`);
      const annotation = await serverAccepts({ name: `k${i}`, annotations: { [key]: "v" } });
      if (annotation !== isQualifiedName(key.toLowerCase()))
        disagreements.push(`annotation key ${key}: server ${annotation}`);
    }
    for (const [i, value] of VALUES.entries()) {
      const accepted = await serverAccepts({ name: `v${i}`, labels: { team: value } });
      if (accepted !== isLabelValue(value))
        disagreements.push(`label value ${JSON.stringify(value)}: server ${accepted}`);
    }
    expect(disagreements).toEqual([]);
  });

  it("a Secret name of 64 characters is a valid name, but its regcred.io/secret label is refused", async () => {
    const config = (name: string) =>
      `registries:\n  - { name: a, provider: static, registries: [docker.io], username: u, passwordFrom: { env: P } }\nsecrets: [{ name: ${name}, registries: [a] }]\n`;
    const creds = new Map([
      ["a", [{ registries: ["docker.io"], username: "u", password: "pw-12345", expiresAt: null }]],
    ]);
    const ok = parseConfig("n.yaml", config(`pull.${a(58)}`)).secrets[0]!; // 63
    const body = targetBody(ok, creds);
    expect("labels" in body && (await serverAccepts({ name: ok.name, labels: { ...body.labels } }))).toBe(
      true,
    );

    const long = `pull.${a(59)}`; // 64: a valid Secret name on its own
    expect(await serverAccepts({ name: long })).toBe(true);
    expect(await serverAccepts({ name: long, labels: { "regcred.io/secret": long } })).toBe(false);
    expect(() => parseConfig("n.yaml", config(long))).toThrow(ConfigError);
  });
});
