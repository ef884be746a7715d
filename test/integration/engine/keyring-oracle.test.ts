/**
 * regcred's port of kubelet's keyring (src/engine/keyring.ts) against kubelet's own Go code
 * (k8s.io/kubernetes v1.35.4 pkg/credentialprovider, built as test/rig/tools/kube/keyring-oracle):
 * for every case both must pick the same credentials in the same order, or both refuse.
 */
import { spawnSync } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { lookup, type KeyringSecret } from "../../../src/engine/keyring.ts";
import { ensureTool } from "../../rig/tools.ts";

interface OracleAnswer {
  repository?: string;
  hits: Array<{ secret: string; username: string; password: string }>;
  error?: string;
}

let oracle: string;
beforeAll(async () => {
  oracle = await ensureTool("keyring-oracle");
});

function askKubelet(cases: Array<{ secrets: KeyringSecret[]; image: string }>): OracleAnswer[] {
  const res = spawnSync(oracle, [], { input: JSON.stringify(cases), encoding: "utf8", maxBuffer: 1 << 28 });
  if (res.status !== 0) throw new Error(`keyring-oracle failed: ${res.stderr}`);
  return JSON.parse(res.stdout) as OracleAnswer[];
}

function ours(c: { secrets: KeyringSecret[]; image: string }) {
  const r = lookup(c.secrets, c.image);
  if (!r.ok) return { error: true };
  return {
    repository: r.repository,
    hits: r.hits.map((h) => ({ secret: h.secret, username: h.username, password: h.password })),
  };
}

const kubelets = (a: OracleAnswer) =>
  a.error !== undefined ? { error: true } : { repository: a.repository, hits: a.hits };

const dockerconfig = (name: string, auths: Record<string, object>): KeyringSecret => ({
  name,
  type: "kubernetes.io/dockerconfigjson",
  data: { ".dockerconfigjson": JSON.stringify({ auths }) },
});
const cred = (user: string) => ({ username: user, password: `${user}-pw` });
const withAuth = (user: string) => ({ auth: Buffer.from(`${user}:${user}-pw`).toString("base64") });

const KEYS = [
  "123456789012.dkr.ecr.us-east-1.amazonaws.com",
  "*.dkr.ecr.us-east-1.amazonaws.com",
  "gcr.io",
  "gcr.io/my-project",
  "gcr.io/my",
  "https://gcr.io/v2/",
  "europe-docker.pkg.dev",
  "europe-docker.pkg.dev/proj/repo",
  "*.azurecr.io",
  "myreg.azurecr.io",
  "ghcr.io",
  "ghcr.io/org",
  "https://index.docker.io/v1/",
  "index.docker.io",
  "docker.io",
  "registry-1.docker.io",
  "registry.local:5000",
  "registry.local",
  "registry.local:443",
  "http://registry.local:5000/v1/",
  "*.icr.io",
  "us.icr.io",
  "private.us.icr.io",
  "k8s.*.io",
  "*.*.example.com",
  "app*.example.com",
  "[::1]:5000",
  "localhost:5000",
  "10.0.0.1:5000/team",
];

const IMAGES = [
  "nginx",
  "nginx:1.27",
  "library/nginx",
  "team/app:v1",
  "docker.io/team/app",
  "index.docker.io/team/app",
  "registry-1.docker.io/team/app",
  "123456789012.dkr.ecr.us-east-1.amazonaws.com/team/app:v1",
  "999999999999.dkr.ecr.us-east-1.amazonaws.com/app",
  "gcr.io/my-project/app@sha256:" + "a".repeat(64),
  "gcr.io/my-projectx/app",
  "gcr.io/other/app",
  "eu.gcr.io/my-project/app",
  "europe-docker.pkg.dev/proj/repo/app:1",
  "europe-docker.pkg.dev/proj/other/app",
  "myreg.azurecr.io/app",
  "a.b.azurecr.io/app",
  "ghcr.io/org/app:v2",
  "ghcr.io/someone/app",
  "registry.local:5000/app",
  "registry.local/app",
  "registry.local:443/app",
  "us.icr.io/ns/app",
  "private.us.icr.io/ns/app",
  "icr.io/ns/app",
  "k8s.gcr.io/pause",
  "a.b.example.com/x",
  "apps.example.com/x",
  "localhost:5000/x",
  "localhost/x",
  "[::1]:5000/x",
  "10.0.0.1:5000/team/app",
  "10.0.0.1:5000/teamx/app",
  "Upper/case",
  "gcr.io/Upper",
  "a".repeat(64),
];

describe("kubelet's keyring, ported", () => {
  it("picks what kubelet picks for every image against one Secret holding each key", () => {
    const cases = KEYS.flatMap((key, i) =>
      IMAGES.map((image) => ({ secrets: [dockerconfig(`s${i}`, { [key]: cred(`u${i}`) })], image })),
    );
    const answers = askKubelet(cases);
    cases.forEach((c, i) => expect({ case: c, r: ours(c) }).toEqual({ case: c, r: kubelets(answers[i]!) }));
  });

  it("orders several matching keys and Secrets as kubelet does", () => {
    // Deterministic pseudo-random subsets: 2-3 Secrets of up to 5 keys each.
    let seed = 7;
    const rand = (n: number) => (seed = (Math.imul(seed, 1103515245) + 12345) & 0x7fffffff) % n;
    const cases = Array.from({ length: 600 }, (_, n) => {
      const secrets = Array.from({ length: 2 + rand(2) }, (_, s) => {
        const auths: Record<string, object> = {};
        const seen = new Set<string>();
        for (let k = 0; k < 1 + rand(5); k++) {
          const key = KEYS[rand(KEYS.length)]!;
          // Two entries of one Secret under the same kubelet key come back in Go's random map
          // order: keep one per key so the order is defined.
          const norm = key.replace(/^https?:\/\//, "").replace(/\/v[12]\/$/, "");
          if (seen.has(norm)) continue;
          seen.add(norm);
          auths[key] = rand(2) ? cred(`c${n}s${s}k${k}`) : withAuth(`c${n}s${s}k${k}`);
        }
        return dockerconfig(`sec-${s}`, auths);
      });
      return { secrets, image: IMAGES[rand(IMAGES.length)]! };
    });
    const answers = askKubelet(cases);
    cases.forEach((c, i) => expect({ case: c, r: ours(c) }).toEqual({ case: c, r: kubelets(answers[i]!) }));
  });

  it("orders every matching key as kubelet does, with all keys in two Secrets", () => {
    // Entries that kubelet files under the same key would come back in Go's random map order
    // within one Secret, so the second spelling of a key goes into a second Secret.
    const first: Record<string, object> = {};
    const second: Record<string, object> = {};
    const seen = new Set<string>();
    KEYS.forEach((key, i) => {
      const norm = key.replace(/^https?:\/\//, "").replace(/\/v[12]\/$/, "");
      (seen.has(norm) ? second : first)[key] = i % 2 ? cred(`k${i}`) : withAuth(`k${i}`);
      seen.add(norm);
    });
    const cases = IMAGES.map((image) => ({
      secrets: [dockerconfig("first", first), dockerconfig("second", second)],
      image,
    }));
    const answers = askKubelet(cases);
    cases.forEach((c, i) =>
      expect({ image: c.image, r: ours(c) }).toEqual({ image: c.image, r: kubelets(answers[i]!) }),
    );
    // Not vacuous: some images match several keys, in kubelet's order.
    expect(
      ours(cases.find((c) => c.image === "gcr.io/my-project/app@sha256:" + "a".repeat(64))!).hits!.length,
    ).toBeGreaterThan(2);
  });

  it("reads Secrets as kubelet does: auth over username, legacy dockercfg, other types ignored, bad auth fails", () => {
    const cases = [
      {
        secrets: [
          dockerconfig("both", { "ghcr.io": { ...cred("plain"), ...withAuth("from-auth") } }),
          {
            name: "opaque",
            type: "Opaque",
            data: { ".dockerconfigjson": JSON.stringify({ auths: { "ghcr.io": cred("x") } }) },
          },
          {
            name: "legacy",
            type: "kubernetes.io/dockercfg",
            data: { ".dockercfg": JSON.stringify({ "ghcr.io": cred("old") }) },
          },
        ],
        image: "ghcr.io/org/app",
      },
      { secrets: [dockerconfig("unpadded", { "ghcr.io": { auth: "dTpw" } })], image: "ghcr.io/a" },
      { secrets: [dockerconfig("bad", { "ghcr.io": { auth: "not base64!" } })], image: "ghcr.io/a" },
      {
        secrets: [
          dockerconfig("nocolon", { "ghcr.io": { auth: Buffer.from("nocolon").toString("base64") } }),
        ],
        image: "ghcr.io/a",
      },
      { secrets: [dockerconfig("empty", {})], image: "ghcr.io/a" },
    ];
    const answers = askKubelet(cases);
    cases.forEach((c, i) => expect({ case: c, r: ours(c) }).toEqual({ case: c, r: kubelets(answers[i]!) }));
    // And the cases are not vacuous: the first one uses the auth field, then the legacy Secret.
    expect(ours(cases[0]!).hits?.map((h) => h.username)).toEqual(["from-auth", "old"]);
    expect(ours(cases[2]!)).toEqual({ error: true });
  });
});
