// Reading last good credentials back from regcred's Secrets: which Secret is read, and what
// becomes of its entries. (Against the real API server: test/integration/kube/once.test.ts.)
import type { V1Secret } from "@kubernetes/client-node";
import { describe, expect, it } from "vitest";
import { readLastGood, writtenCredentials } from "../../src/kube/last-good.ts";
import { plan } from "../../src/engine/plan.ts";
import { secretManifest } from "../../src/output/manifest.ts";
import { captureLogger } from "../helpers/log.ts";
import type { Target } from "../../src/config/schema.ts";
import type { Credential } from "../../providers/contract.ts";

const NOW = Date.parse("2026-12-01T12:00:00Z");
const target = (name: string, registries: string[]): Target =>
  ({
    name,
    registries,
    namespaces: { include: ["*"], exclude: [], selector: undefined },
    serviceAccounts: [],
    labels: {},
    annotations: {},
    adopt: false,
  }) as unknown as Target;

/** Secrets exactly as regcred writes them for these credentials. */
function written(namespace: string, targets: Target[], creds: Record<string, Credential[]>): V1Secret[] {
  const p = plan(targets, new Map(Object.entries(creds)), [{ name: namespace, labels: {} }], {
    ignoreSelection: true,
  });
  return p.secrets.map((s) => secretManifest(s) as V1Secret);
}
const cred = (keys: string[], password: string, expiresAt: string | null): Credential => ({
  registries: keys,
  username: "u",
  password,
  expiresAt: expiresAt ? new Date(expiresAt) : null,
});
/** The cache holds digests, never data. */
const digested = (s: V1Secret): V1Secret => ({ ...s, data: { ".dockerconfigjson": "sha256:..." } });

describe("readLastGood", () => {
  it("records each registry's own keys and expiry, and rebuilds its credentials from the Secret", async () => {
    const secrets = written("team-a", [target("pull", ["ecr", "hub"])], {
      ecr: [
        cred(
          ["1.dkr.ecr.eu-west-1.amazonaws.com", "2.dkr.ecr.eu-west-1.amazonaws.com"],
          "pw-ecr",
          "2026-12-01T18:00:00Z",
        ),
      ],
      hub: [cred(["https://index.docker.io/v1/"], "pw-hub", null)],
    });
    expect(writtenCredentials(secrets[0]!).get("ecr")).toEqual({
      keys: ["1.dkr.ecr.eu-west-1.amazonaws.com", "2.dkr.ecr.eu-west-1.amazonaws.com"],
      expiresAt: "2026-12-01T18:00:00.000Z",
    });
    const fetched: string[] = [];
    const seeds = await readLastGood(
      secrets.map(digested),
      async (ns, name) => (fetched.push(`${ns}/${name}`), secrets[0]!),
      captureLogger().log,
      NOW,
    );
    expect(fetched).toEqual(["team-a/pull"]);
    expect(seeds.get("ecr")!.map((c) => [c.registries, c.password, c.expiresAt?.toISOString()])).toEqual([
      [["1.dkr.ecr.eu-west-1.amazonaws.com"], "pw-ecr", "2026-12-01T18:00:00.000Z"],
      [["2.dkr.ecr.eu-west-1.amazonaws.com"], "pw-ecr", "2026-12-01T18:00:00.000Z"],
    ]);
    expect(seeds.get("hub")!.map((c) => [c.password, c.expiresAt])).toEqual([["pw-hub", null]]);
  });

  it("takes each registry from the Secret where it lives longest, and skips expired entries", async () => {
    const older = written("ns-old", [target("pull", ["ecr"])], {
      ecr: [cred(["r.example.com"], "pw-older", "2026-12-01T13:00:00Z")],
    });
    const newer = written("ns-new", [target("pull", ["ecr"])], {
      ecr: [cred(["r.example.com"], "pw-newer", "2026-12-01T15:00:00Z")],
    });
    const expired = written("ns-exp", [target("other", ["gone"])], {
      gone: [cred(["g.example.com"], "pw-gone", "2026-12-01T11:00:00Z")],
    });
    const all = [...older, ...newer, ...expired];
    const fetched: string[] = [];
    const seeds = await readLastGood(
      all.map(digested),
      async (ns, name) => {
        fetched.push(`${ns}/${name}`);
        return all.find((s) => s.metadata!.namespace === ns && s.metadata!.name === name)!;
      },
      captureLogger().log,
      NOW,
    );
    expect(fetched).toEqual(["ns-new/pull"]);
    expect(seeds.get("ecr")![0]!.password).toBe("pw-newer");
    expect(seeds.has("gone")).toBe(false);
  });

  it("a key shadowed by an earlier registry is not claimed by the later one", () => {
    const [s] = written("ns", [target("pull", ["first", "second"])], {
      first: [cred(["shared.example.com"], "pw-first", null)],
      second: [cred(["shared.example.com", "own.example.com"], "pw-second", null)],
    });
    const w = writtenCredentials(s!);
    expect(w.get("first")!.keys).toEqual(["shared.example.com"]);
    expect(w.get("second")!.keys).toEqual(["own.example.com"]);
  });

  it("a Secret that cannot be read is skipped, with a warning", async () => {
    const secrets = written("ns", [target("pull", ["ecr"])], {
      ecr: [cred(["r.example.com"], "pw", "2026-12-01T15:00:00Z")],
    });
    const { log, lines } = captureLogger();
    const seeds = await readLastGood(
      secrets.map(digested),
      async () => Promise.reject(new Error("forbidden")),
      log,
      NOW,
    );
    expect(seeds.size).toBe(0);
    expect(lines.join("")).toContain("reading last good credentials failed: forbidden");
  });
});
