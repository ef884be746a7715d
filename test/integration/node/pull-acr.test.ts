// acr provider on the rig's node: the real daemon logs in as a service principal at the TLS fake
// Entra, exchanges at the fake ACR and writes Secret `pull` for prodreg.azurecr.io; a Pod naming
// the Secret pulls prodreg.azurecr.io/team/acr-app:v1, served by a token-auth rig registry over
// TLS (realm https://prodreg.azurecr.io/token) that accepts exactly the minted refresh token, a
// JWT far past bcrypt's 72 bytes.
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createAcrProvider } from "../../../providers/acr/index.ts";
import { ACR_REFRESH_USERNAME } from "../../../providers/acr/exchange.ts";
import type { AcrSettings } from "../../../providers/acr/schema.ts";
import { createSecretReader } from "../../../src/config/secret-reader.ts";
import { greetingOf, pushRunnableImage } from "../../rig/app-image.ts";
import type { NodeClient } from "../../rig/node.ts";
import { serveRegistryAt, type ServedHost } from "../../rig/registry-hosts.ts";
import { startRegistry, type Registry } from "../../rig/registry.ts";
import { sharedNode } from "../../rig/shared-node.ts";
import {
  REGISTRIES,
  SP_CLIENT,
  SP_SECRET,
  TENANT,
  startHarness,
  writeSecretFile,
  type Harness,
} from "../../providers/acr/harness.ts";
import { authsOf } from "../e2e/read-back.ts";
import { daemonThenKubeletPull } from "./kubelet-pull.ts";

const LOGIN_SERVER = REGISTRIES[0]!;

describe("node: acr provider -> Secret -> kubelet pull from NAME.azurecr.io", () => {
  let node: NodeClient;
  let h: Harness;
  let registry: Registry;
  let acr: ServedHost;
  let image: string;

  beforeAll(async () => {
    h = await startHarness();
    registry = await startRegistry({ auth: "token" });
    [node, acr] = await Promise.all([sharedNode(), serveRegistryAt(registry, LOGIN_SERVER)]);
    image = acr.imageRef(await pushRunnableImage(registry, "team/acr-app", "v1"));
  });
  afterAll(async () => {
    await acr?.stop();
    await registry?.stop();
    await h?.close();
  });

  it("service principal: a Pod pulls prodreg.azurecr.io/team/acr-app:v1 with the minted refresh token", async () => {
    expect(image).toBe(`${LOGIN_SERVER}/team/acr-app:v1`);
    const secretFile = join(h.dir, writeSecretFile(h, "sp-secret", SP_SECRET));
    const result = await daemonThenKubeletPull(
      node,
      `  - name: under-test
    provider: acr
    registryCheck: false # the registry learns the minted token only after rollout (beforePods)
    registries: [${LOGIN_SERVER}]
    authorityHost: ${h.entra.url}
    disableInstanceDiscovery: true
    auth: servicePrincipal
    tenantId: ${TENANT}
    clientId: ${SP_CLIENT}
    clientSecretFrom: { file: ${secretFile} }`,
      [image],
      {
        // The real provider from the parsed settings; only its clients are the harness's (the
        // fake Entra's CA, the fake exchange URL).
        providers: (config, log) => {
          const entry = config.registries.find((r) => r.name === "under-test")!;
          return {
            "under-test": createAcrProvider(
              entry.settings as AcrSettings,
              { log: log.child({ registry: "under-test" }), secrets: createSecretReader(h.dir) },
              h.clients,
            ),
          };
        },
        beforePods: async (json) => {
          const minted = h.acr.issued.at(-1)!;
          expect(authsOf(json)[LOGIN_SERVER]!.password).toBe(minted.token);
          await registry.setUsers([{ username: ACR_REFRESH_USERNAME, password: minted.token }]);
        },
      },
    );
    const minted = h.acr.issued.at(-1)!;
    expect(minted.token.length).toBeGreaterThan(72);
    expect(Object.keys(authsOf(result.secrets[0]!.dockerconfigjson))).toEqual([LOGIN_SERVER]);
    expect(result.pulls[0]!.pulled).toContain(`Successfully pulled image "${image}" in `);
    expect(result.pulls[0]!.output).toBe(`${greetingOf("team/acr-app", "v1")}\n`);
    const granted = registry.tokenServer!.requests.filter((r) => r.username === ACR_REFRESH_USERNAME && r.ok);
    expect(granted.length).toBeGreaterThanOrEqual(1);
    expect(acr.requests.some((r) => r.path.startsWith("/token") && r.status === 200)).toBe(true);
    expect(result.logs).not.toContain(minted.token);
    expect(result.logs).not.toContain(SP_SECRET);
  });
});
