// gcr provider on the rig's node: the real daemon takes a token from the fake GCE metadata
// server and writes Secret `pull` for europe-docker.pkg.dev and gcr.io; Pods naming the Secret
// pull from both host names, served by one token-auth rig registry over TLS (its realm on the
// served name), which accepts exactly that token for oauth2accesstoken.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { greetingOf, pushRunnableImage } from "../../rig/app-image.ts";
import type { NodeClient } from "../../rig/node.ts";
import { serveRegistryAt, type ServedHost } from "../../rig/registry-hosts.ts";
import { startRegistry, type Registry } from "../../rig/registry.ts";
import { sharedNode } from "../../rig/shared-node.ts";
import { googleEnv, startMetadataServer, type MetadataServer } from "../../providers/gcr/metadata-server.ts";
import { authsOf } from "../e2e/read-back.ts";
import { daemonThenKubeletPull } from "./kubelet-pull.ts";

const USERNAME = "oauth2accesstoken";

describe("node: gcr provider (metadata server) -> Secret -> kubelet pull from europe-docker.pkg.dev and gcr.io", () => {
  let node: NodeClient;
  let metadata: MetadataServer;
  let registry: Registry;
  let gar: ServedHost;
  let gcr: ServedHost;
  let images: string[];
  let restoreEnv: (() => void) | undefined;

  beforeAll(async () => {
    metadata = await startMetadataServer();
    metadata.behave({ ok: { expiresIn: 300 } });
    restoreEnv = googleEnv({
      GCE_METADATA_HOST: metadata.host,
      METADATA_SERVER_DETECTION: "assume-present",
      CLOUDSDK_CONFIG: mkdtempSync(path.join(tmpdir(), "regcred-node-gcloud-")),
    });
    registry = await startRegistry({ auth: "token" });
    [node, gar, gcr] = await Promise.all([
      sharedNode(),
      serveRegistryAt(registry, "europe-docker.pkg.dev"),
      serveRegistryAt(registry, "gcr.io"),
    ]);
    images = [
      gar.imageRef(await pushRunnableImage(registry, "proj/repo/gar-app", "v1")),
      gcr.imageRef(await pushRunnableImage(registry, "proj/gcr-app", "v1")),
    ];
  });
  afterAll(async () => {
    restoreEnv?.();
    await gar?.stop();
    await gcr?.stop();
    await registry?.stop();
    await metadata?.close();
  });

  it("metadataServer: Pods pull from europe-docker.pkg.dev and gcr.io with the minted token", async () => {
    expect(images).toEqual(["europe-docker.pkg.dev/proj/repo/gar-app:v1", "gcr.io/proj/gcr-app:v1"]);
    const tokenRequestsBefore = registry.tokenServer!.requests.length;
    const result = await daemonThenKubeletPull(
      node,
      `  - name: under-test
    provider: gcr
    metadataServer: true
    registryCheck: false # the registry learns the minted token only after rollout (beforePods)
    registries: [europe-docker.pkg.dev, gcr.io]`,
      images,
      {
        // The registry learns the token the metadata server just issued, and nothing else.
        beforePods: async (json) => {
          const token = metadata.issued.at(-1)!;
          expect(authsOf(json)["gcr.io"]!.password).toBe(token);
          await registry.setUsers([{ username: USERNAME, password: token }]);
        },
      },
    );
    expect(Object.keys(authsOf(result.secrets[0]!.dockerconfigjson)).sort()).toEqual(
      ["europe-docker.pkg.dev", "gcr.io"].sort(),
    );
    for (const [i, pull] of result.pulls.entries()) {
      expect(pull.pulled).toContain(`Successfully pulled image "${images[i]}" in `);
    }
    expect(result.pulls.map((p) => p.output)).toEqual([
      `${greetingOf("proj/repo/gar-app", "v1")}\n`,
      `${greetingOf("proj/gcr-app", "v1")}\n`,
    ]);
    // Each host's realm (https://HOST/token) was asked for a token (containerd posts the
    // credentials as an OAuth2 form), and granted one.
    for (const host of [gar, gcr]) {
      expect(host.requests.some((r) => r.path.startsWith("/token") && r.status === 200)).toBe(true);
    }
    const asUser = registry
      .tokenServer!.requests.slice(tokenRequestsBefore)
      .filter((r) => r.username === USERNAME);
    expect(asUser.length).toBeGreaterThanOrEqual(2);
    expect(asUser.every((r) => r.ok)).toBe(true);
    expect(result.logs).not.toContain(metadata.issued.at(-1)!);
  });
});
