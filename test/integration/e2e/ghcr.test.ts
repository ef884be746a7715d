import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startRegistry, type Registry } from "../../rig/registry.ts";
import { FakeGitHub, classicPat, expirationHeader } from "../../providers/ghcr/fake-github.ts";
import { fanOutAndPull } from "./fan-out-and-pull.ts";

describe("e2e: ghcr provider -> API server -> real pull", () => {
  let registry: Registry;
  let github: FakeGitHub;
  let image: string;
  const pat = classicPat();
  const dir = mkdtempSync(path.join(tmpdir(), "regcred-e2e-ghcr-"));

  beforeAll(async () => {
    // GitHub cannot run here: the fake API checks the PAT and answers with GitHub's headers;
    // the registry is a real one that accepts exactly this username and PAT.
    github = await new FakeGitHub().start();
    github.pats.set(pat, {
      expiration: expirationHeader(new Date(Date.now() + 30 * 86_400_000)),
      scopes: "read:packages",
    });
    registry = await startRegistry({ users: [{ username: "ci-bot", password: pat }] });
    image = await registry.pushImage("octo/app", "v1");
    writeFileSync(path.join(dir, "pat"), `${pat}\n`);
  });
  afterAll(async () => {
    await registry?.stop();
    await github?.stop();
  });

  it("PAT mode: the Secret read back from the API server pulls the image", async () => {
    const result = await fanOutAndPull(
      `  - name: under-test
    provider: ghcr
    apiUrl: ${github.url}
    username: ci-bot
    tokenFrom: { file: ${path.join(dir, "pat")} }
    registries: [${registry.host}]`,
      image,
    );
    expect(result.pulls).toEqual([{ ok: true }, { ok: true }]);
    expect(Object.keys(JSON.parse(result.dockerconfigjson[0]!).auths)).toEqual([registry.host]);
    expect(github.requests.some((r) => r.authorization === `Bearer ${pat}`)).toBe(true);
    expect(result.logs).not.toContain(pat);
  });
});
