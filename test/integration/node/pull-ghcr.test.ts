// ghcr provider on the rig's node: the real daemon checks the PAT against the fake GitHub API and
// writes Secret `pull`; a Pod naming it in imagePullSecrets pulls ghcr.io/octo/app:v1, served by
// the rig's registry under the name ghcr.io over TLS, which accepts exactly that user and PAT.
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { greetingOf, pushRunnableImage } from "../../rig/app-image.ts";
import type { NodeClient } from "../../rig/node.ts";
import { serveRegistryAt, type ServedHost } from "../../rig/registry-hosts.ts";
import { startRegistry, type Registry } from "../../rig/registry.ts";
import { sharedNode } from "../../rig/shared-node.ts";
import { FakeGitHub, classicPat, expirationHeader } from "../../providers/ghcr/fake-github.ts";
import { authsOf } from "../e2e/read-back.ts";
import { daemonThenKubeletPull } from "./kubelet-pull.ts";

describe("node: ghcr provider -> Secret -> kubelet pull from ghcr.io", () => {
  let node: NodeClient;
  let registry: Registry;
  let ghcr: ServedHost;
  let github: FakeGitHub;
  let image: string;
  const pat = classicPat();
  const dir = mkdtempSync(path.join(tmpdir(), "regcred-node-ghcr-"));

  beforeAll(async () => {
    github = await new FakeGitHub().start();
    github.pats.set(pat, {
      expiration: expirationHeader(new Date(Date.now() + 30 * 86_400_000)),
      scopes: "read:packages",
    });
    registry = await startRegistry({ users: [{ username: "ci-bot", password: pat }] });
    [node, ghcr] = await Promise.all([sharedNode(), serveRegistryAt(registry, "ghcr.io")]);
    image = ghcr.imageRef(await pushRunnableImage(registry, "octo/ghcr-app", "v1"));
    writeFileSync(path.join(dir, "pat"), `${pat}\n`);
  });
  afterAll(async () => {
    await ghcr?.stop();
    await registry?.stop();
    await github?.stop();
  });

  it("PAT mode: a Pod pulls ghcr.io/octo/ghcr-app:v1 through the Secret regcred wrote", async () => {
    expect(image).toBe("ghcr.io/octo/ghcr-app:v1");
    const result = await daemonThenKubeletPull(
      node,
      `  - name: under-test
    provider: ghcr
    apiUrl: ${github.url}
    username: ci-bot
    tokenFrom: { file: ${path.join(dir, "pat")} }
    registries: [ghcr.io]`,
      [image],
    );
    expect(Object.keys(authsOf(result.secrets[0]!.dockerconfigjson))).toEqual(["ghcr.io"]);
    const [pull] = result.pulls;
    expect(pull!.pulled).toMatch(/^Successfully pulled image "ghcr\.io\/octo\/ghcr-app:v1" in /);
    expect(pull!.output).toBe(`${greetingOf("octo/ghcr-app", "v1")}\n`);
    // containerd went to ghcr.io (our TLS terminator) and authenticated with Basic credentials.
    const manifests = ghcr.requests.filter((r) => r.path === "/v2/octo/ghcr-app/manifests/v1");
    expect(manifests.some((r) => r.auth === "Basic" && r.status === 200)).toBe(true);
    expect(result.logs).not.toContain(pat);
  });
});
