// End to end for provider acr: the real daemon, with the real ACR provider (real schema, real
// @azure/identity service principal login against the TLS fake Entra, real exchange call), writes
// its Secret into namespaces of the rig's real API server; the Secret is read back from the API
// server and crane pulls with it from the rig's real registry.
//
// Two stand-ins, both unavoidable here: the exchange endpoint (https://<login server>/oauth2/exchange)
// is the harness's fake ACR, injected through the provider's exchangeUrl client, as in the unit
// tests; and the login server prodreg.azurecr.io is reached through a CONNECT proxy that maps
// that one name to the rig's registry (login-server-proxy.ts), because the acr schema accepts
// only *.azurecr.io hosts. The .dockerconfigjson read back from the API server is pulled with
// unchanged. The registry's token server accepts user 00000000-... with exactly the refresh
// token the fake exchange minted (set after the mint, before the pull); unlike real ACR it does
// not verify the token's signature, it compares it byte for byte.
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startDaemon } from "../../../src/daemon.ts";
import { createKubeOutput } from "../../../src/kube/output.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { parseConfig } from "../../../src/config/load.ts";
import { createSecretReader } from "../../../src/config/secret-reader.ts";
import { ANNOTATION_EXPIRES } from "../../../src/engine/plan.ts";
import { createAcrProvider } from "../../../providers/acr/index.ts";
import { ACR_REFRESH_USERNAME } from "../../../providers/acr/exchange.ts";
import type { AcrSettings } from "../../../providers/acr/schema.ts";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces } from "../../rig/namespaces.ts";
import { dockerConfigJson, startRegistry, type PullResult, type Registry } from "../../rig/registry.ts";
import { captureLogger } from "../../helpers/log.ts";
import {
  REGISTRIES,
  SP_CLIENT,
  SP_SECRET,
  TENANT,
  startHarness,
  writeSecretFile,
  type Harness,
} from "../../providers/acr/harness.ts";
import { startLoginServerProxy, type LoginServerProxy } from "./login-server-proxy.ts";

const LOGIN_SERVER = REGISTRIES[0]!;

interface Auth {
  username: string;
  password: string;
  auth: string;
}

describe("e2e: acr provider -> API server -> real pull", () => {
  let h: Harness;
  let registry: Registry;
  let proxy: LoginServerProxy;
  let image: string;

  beforeAll(async () => {
    h = await startHarness();
    registry = await startRegistry({ auth: "token" });
    image = await registry.pushImage("team/app", "v1");
    proxy = await startLoginServerProxy(LOGIN_SERVER, registry);
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await h?.close();
  });

  it("service principal: the Secret read back from the API server pulls the image; expiry = the token's exp", async () => {
    const cluster = sharedCluster();
    const kc = cluster.kubeConfig();
    const run = randomBytes(3).toString("hex");
    const ns = await createNamespaces(kc, `e2e-acr-${run}`, 2, { "regcred-e2e": run });
    const secretFile = join(h.dir, writeSecretFile(h, "sp-secret", SP_SECRET));
    const { log, lines } = captureLogger("debug");
    const metrics = new Metrics();
    const config = parseConfig(
      join(h.dir, `e2e-${run}.yaml`),
      `registries:
  - name: under-test
    provider: acr
    registryCheck: false # the registry learns the minted token only after rollout
    registries: [${LOGIN_SERVER}]
    authorityHost: ${h.entra.url}
    disableInstanceDiscovery: true
    auth: servicePrincipal
    tenantId: ${TENANT}
    clientId: ${SP_CLIENT}
    clientSecretFrom: { file: ${secretFile} }
secrets:
  - name: pull
    registries: [under-test]
    namespaces: { selector: { matchLabels: { regcred-e2e: "${run}" } } }
kubernetes: { instance: e2e-acr-${run} }
`,
    );
    const entry = config.registries.find((r) => r.name === "under-test")!;
    // The provider the table would build, from the settings the config loader parsed; only its
    // clients differ: @azure/identity trusts the fake Entra's CA, the exchange URL is the fake's.
    const provider = createAcrProvider(
      entry.settings as AcrSettings,
      { log: log.child({ registry: "under-test" }), secrets: createSecretReader(h.dir) },
      h.clients,
    );
    const daemon = await startDaemon({
      config,
      log,
      metrics,
      providers: { "under-test": provider },
      ...createKubeOutput({ kc, config, log, metrics }),
    });
    const secrets: Array<{ annotations: Record<string, string>; json: string }> = [];
    try {
      await daemon.refresher.settled();
      await daemon.sync.idle();
      const core = kc.makeApiClient(CoreV1Api);
      for (const namespace of ns.names) {
        const s = await core.readNamespacedSecret({ namespace, name: "pull" });
        expect(s.type).toBe("kubernetes.io/dockerconfigjson");
        secrets.push({
          annotations: s.metadata?.annotations ?? {},
          json: Buffer.from(s.data![".dockerconfigjson"]!, "base64").toString(),
        });
      }
    } finally {
      await daemon.stop();
      await ns.cleanup();
    }

    // One Entra login (client secret checked by the fake), one exchange, one refresh token.
    expect(h.entra.requests.some((r) => r.form["client_secret"] === SP_SECRET)).toBe(true);
    expect(h.acr.issued).toHaveLength(1);
    const minted = h.acr.issued[0]!;
    expect(minted.registry).toBe(LOGIN_SERVER);
    expect(h.acr.requests[0]!.form).toMatchObject({
      grant_type: "access_token",
      service: LOGIN_SERVER,
      tenant: TENANT,
    });

    // The registry accepts the ACR username with exactly the minted refresh token (a JWT far
    // longer than bcrypt's 72 bytes, hence token auth).
    expect(minted.token.length).toBeGreaterThan(72);
    await registry.setUsers([{ username: ACR_REFRESH_USERNAME, password: minted.token }]);

    expect(secrets).toHaveLength(2);
    const pulls: PullResult[] = [];
    for (const s of secrets) {
      const auths = (JSON.parse(s.json) as { auths: Record<string, Auth> }).auths;
      expect(Object.keys(auths)).toEqual([LOGIN_SERVER]);
      expect(auths[LOGIN_SERVER]!.username).toBe(ACR_REFRESH_USERNAME);
      expect(auths[LOGIN_SERVER]!.password).toBe(minted.token);
      // Clients prefer "auth" when present: it must carry the same pair.
      expect(Buffer.from(auths[LOGIN_SERVER]!.auth, "base64").toString()).toBe(
        `${ACR_REFRESH_USERNAME}:${minted.token}`,
      );
      expect(s.annotations[ANNOTATION_EXPIRES]).toBe(new Date(minted.exp * 1000).toISOString());
      pulls.push(await proxy.pull(s.json, proxy.imageRef(image)));
    }
    expect(pulls).toEqual([{ ok: true }, { ok: true }]);
    // The pulls went to the login server name (through the proxy) and the token server saw the
    // ACR user with the right password each time.
    expect(proxy.connects.filter((c) => c === `${LOGIN_SERVER}:443`).length).toBeGreaterThanOrEqual(2);
    const tokenRequests = registry.tokenServer!.requests.filter((r) => r.username === ACR_REFRESH_USERNAME);
    expect(tokenRequests.filter((r) => r.ok).length).toBeGreaterThanOrEqual(2);

    // Control: the same config with one character of the refresh token's signature changed is refused.
    const tampered = minted.token.slice(0, -1) + (minted.token.endsWith("A") ? "B" : "A");
    const control = await proxy.pull(
      dockerConfigJson({ [LOGIN_SERVER]: { username: ACR_REFRESH_USERNAME, password: tampered } }),
      proxy.imageRef(image),
    );
    expect(control).toMatchObject({ ok: false, status: 401 });
    expect(registry.tokenServer!.requests.at(-1)).toMatchObject({
      username: ACR_REFRESH_USERNAME,
      ok: false,
    });

    const logs = lines.join("");
    expect(logs).not.toContain(minted.token);
    expect(logs).not.toContain(SP_SECRET);
  });
});
