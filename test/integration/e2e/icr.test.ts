// End to end for provider icr: the real daemon with the real icr provider (real schema, real
// HTTPS call to the fake IAM, which checks the API key or verifies the compute-resource token)
// writes its Secret into namespaces of the rig's real API server; the Secret is read back and
// crane pulls with it, unchanged, from the rig's real registry.
//
// The registry is reached as us.icr.io through the CONNECT proxy that plays DNS and TLS for that
// one name (login-server-proxy.ts), because the icr schema accepts only *.icr.io domains: the
// auth key in the Secret is the real one. The registry's token server accepts user iambearer
// with exactly the access token the fake IAM issued (set after the mint, before the pull);
// unlike ICR it compares the token byte for byte instead of verifying IAM's signature.
// In trusted-profile mode the compute-resource token is a real one: the rig's API server mints it
// (TokenRequest, audience iam) and the fake IAM verifies it with the keys the API server
// publishes (/openid/v1/jwks), as IAM does with a registered IKS cluster.
import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ANNOTATION_EXPIRES } from "../../../src/engine/plan.ts";
import { sharedCluster } from "../../rig/shared.ts";
import { createNamespaces } from "../../rig/namespaces.ts";
import { dockerConfigJson, startRegistry, type PullResult, type Registry } from "../../rig/registry.ts";
import { writeFile } from "../../providers/icr/harness.ts";
import { runDaemonAndReadBack, authsOf, type ReadBackSecret } from "./read-back.ts";
import { startLoginServerProxy, type LoginServerProxy } from "./login-server-proxy.ts";
import {
  icrProviders,
  icrRegistryYaml,
  requestCrToken,
  startIcrIam,
  trustCluster,
  type IcrIam,
} from "./icr-setup.ts";

const DOMAIN = "us.icr.io";
const BEARER = "iambearer";

describe("e2e: icr provider -> API server -> real pull", () => {
  let iam: IcrIam;
  let registry: Registry;
  let proxy: LoginServerProxy;
  let image: string;

  beforeAll(async () => {
    iam = await startIcrIam();
    registry = await startRegistry({ auth: "token" });
    image = await registry.pushImage("team-ns/app", "v1");
    proxy = await startLoginServerProxy(DOMAIN, registry);
  });
  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    await iam?.close();
  });

  /** Every Secret holds exactly the newest issued token under us.icr.io; each one pulls. */
  async function checkAndPull(secrets: ReadBackSecret[], grant: string): Promise<string> {
    const minted = iam.iam.issued.filter((t) => t.grant === grant).at(-1)!;
    // An IAM access token is a JWT far longer than bcrypt's 72 bytes: token auth.
    expect(minted.token.length).toBeGreaterThan(72);
    // What ICR expects with an IAM access token, spelled out: not taken from the code under test.
    await registry.setUsers([{ username: BEARER, password: minted.token }]);
    expect(secrets).toHaveLength(2);
    const pulls: PullResult[] = [];
    for (const s of secrets) {
      expect(s.type).toBe("kubernetes.io/dockerconfigjson");
      const auths = authsOf(s.dockerconfigjson);
      expect(Object.keys(auths)).toEqual([DOMAIN]);
      expect(auths[DOMAIN]).toMatchObject({ username: BEARER, password: minted.token });
      expect(Buffer.from(auths[DOMAIN]!.auth, "base64").toString()).toBe(`${BEARER}:${minted.token}`);
      expect(s.annotations[ANNOTATION_EXPIRES]).toBe(new Date(minted.expiration * 1000).toISOString());
      pulls.push(await proxy.pull(s.dockerconfigjson, proxy.imageRef(image)));
    }
    expect(pulls).toEqual([{ ok: true }, { ok: true }]);
    const accepted = registry.tokenServer!.requests.filter((r) => r.username === BEARER && r.ok);
    expect(accepted.length).toBeGreaterThanOrEqual(2);
    return minted.token;
  }

  it("API key: the Secret read back from the API server pulls as iambearer; a wrong token is refused", async () => {
    const result = await runDaemonAndReadBack(icrRegistryYaml(iam, [DOMAIN], { apiKey: iam.apiKey }), {
      providers: icrProviders(iam),
    });
    // The key went to IAM, form-encoded, with the apikey grant.
    expect(iam.iam.tokenRequests().at(-1)).toMatchObject({
      contentType: "application/x-www-form-urlencoded",
      form: { grant_type: "urn:ibm:params:oauth:grant-type:apikey", apikey: iam.apiKey },
      status: 200,
    });
    const token = await checkAndPull(result.secrets, "urn:ibm:params:oauth:grant-type:apikey");
    expect(proxy.connects.filter((c) => c === `${DOMAIN}:443`).length).toBeGreaterThanOrEqual(2);

    // Control: one character of the token's signature changed, and the API key itself as the
    // password of iambearer, are both refused by the registry.
    const tampered = token.slice(0, -1) + (token.endsWith("A") ? "B" : "A");
    for (const password of [tampered, iam.apiKey]) {
      const control = await proxy.pull(
        dockerConfigJson({ [DOMAIN]: { username: BEARER, password } }),
        proxy.imageRef(image),
      );
      expect(control).toMatchObject({ ok: false, status: 401 });
      expect(registry.tokenServer!.requests.at(-1)).toMatchObject({ username: BEARER, ok: false });
    }

    // The key stays with regcred: in no namespace's Secret, not in the daemon's logs.
    for (const s of result.secrets) expect(s.dockerconfigjson).not.toContain(iam.apiKey);
    const logs = result.logs();
    expect(logs).toContain("credential for under-test refreshed");
    expect(logs).not.toContain(iam.apiKey);
    expect(logs).not.toContain(token);
  });

  it("trusted profile: a real projected token from the API server, verified by IAM, no key anywhere", async () => {
    const kc = sharedCluster().kubeConfig();
    const run = randomBytes(3).toString("hex");
    // regcred's own namespace and ServiceAccount, as the chart would create them.
    const home = await createNamespaces(kc, `icr-home-${run}`, 1, { "regcred-e2e-home": run });
    try {
      const namespace = home.names[0]!;
      const issuer = await trustCluster(iam, kc, namespace, "regcred");
      const crToken = await requestCrToken(kc, namespace, "regcred");
      const crTokenFile = writeFile(iam, "e2e-sa-token", crToken);

      const result = await runDaemonAndReadBack(
        icrRegistryYaml(iam, [DOMAIN], { profileId: iam.profile.id, crTokenFile }),
        { providers: icrProviders(iam) },
      );
      expect(iam.iam.tokenRequests().at(-1)).toMatchObject({
        form: {
          grant_type: "urn:ibm:params:oauth:grant-type:cr-token",
          cr_token: crToken,
          profile_id: iam.profile.id,
        },
        status: 200,
      });
      // The token IAM verified is the API server's own: its issuer, signed with its key.
      const claims = JSON.parse(Buffer.from(crToken.split(".")[1]!, "base64url").toString()) as {
        iss: string;
        sub: string;
        aud: string[];
      };
      expect(claims).toMatchObject({
        iss: issuer,
        sub: `system:serviceaccount:${namespace}:regcred`,
        aud: ["iam"],
      });
      await checkAndPull(result.secrets, "urn:ibm:params:oauth:grant-type:cr-token");
      expect(result.logs()).not.toContain(crToken);
    } finally {
      await home.cleanup();
    }
  });
});
