// The Entra modes end to end through the real @azure/identity (and MSAL) against the fake
// authority, then the real exchange request against the fake ACR.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ProviderError } from "../../../providers/contract.ts";
import { jwtPayload } from "../../../providers/acr/exchange.ts";
import { makeCA, makeServingCert } from "../../rig/certs.ts";
import { decodeJwt, signJwt } from "./fake-entra.ts";
import { FakeImds } from "./fake-imds.ts";
import {
  ACR_SCOPE,
  ARM_SCOPE,
  CERT_CLIENT,
  CLUSTER_ISSUER,
  REGISTRIES,
  SP_CLIENT,
  SP_SECRET,
  TENANT,
  WI_CLIENT,
  WI_SUBJECT,
  makeProvider,
  startHarness,
  writeSecretFile,
  type Harness,
} from "./harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
}, 60_000);
afterAll(async () => {
  vi.unstubAllEnvs();
  await h?.close();
});

const signal = () => new AbortController().signal;

/** The Entra token requests and exchanges one mint caused. */
async function mintCounting(mint: () => Promise<unknown>) {
  const entraBefore = h.entra.tokenRequests().length;
  const acrBefore = h.acr.requests.length;
  const result = await mint();
  return {
    result,
    entra: h.entra.tokenRequests().slice(entraBefore),
    exchanges: h.acr.requests.slice(acrBefore),
  };
}

function expectFailure(reason: string, pattern: RegExp) {
  return (err: unknown) => {
    expect(err).toBeInstanceOf(ProviderError);
    expect((err as ProviderError).reason).toBe(reason);
    expect((err as ProviderError).message).toMatch(pattern);
    return true;
  };
}

/** A projected service-account token as kubelet writes it for the AKS workload identity webhook. */
function serviceAccountToken(overrides: Record<string, unknown> = {}): string {
  const now = Math.floor(Date.now() / 1000);
  return signJwt(
    { alg: "RS256", kid: "cluster-key" },
    {
      aud: ["api://AzureADTokenExchange"],
      iss: CLUSTER_ISSUER,
      sub: WI_SUBJECT,
      iat: now,
      nbf: now,
      exp: now + 3600,
      "kubernetes.io": { namespace: "regcred", serviceaccount: { name: "regcred" } },
      ...overrides,
    },
    h.issuerKey,
  );
}

describe("service principal with a client secret (ClientSecretCredential)", () => {
  it("gets one Entra token for the ACR scope and exchanges it once per registry", async () => {
    const secret = writeSecretFile(h, "client-secret", SP_SECRET);
    const provider = makeProvider(h, {
      auth: "servicePrincipal",
      tenantId: TENANT,
      clientId: SP_CLIENT,
      clientSecretFrom: { file: secret },
    });
    const { result, entra, exchanges } = await mintCounting(() => provider.mint(signal()));
    const creds = result as Awaited<ReturnType<typeof provider.mint>>;

    expect(entra).toHaveLength(1);
    expect(entra[0]!.path).toBe(`/${TENANT}/oauth2/v2.0/token`);
    expect(entra[0]!.form).toMatchObject({
      client_id: SP_CLIENT,
      client_secret: SP_SECRET,
      scope: ACR_SCOPE,
      grant_type: "client_credentials",
    });
    const accessToken = [...h.entra.issued.values()].find((t) => t.clientId === SP_CLIENT)!.token;

    expect(exchanges.map((e) => e.registry).sort()).toEqual([...REGISTRIES].sort());
    for (const e of exchanges) {
      expect(e.contentType).toMatch(/^application\/x-www-form-urlencoded/);
      expect(e.form).toEqual({
        grant_type: "access_token",
        service: e.registry,
        access_token: accessToken,
        tenant: TENANT,
      });
    }

    expect(creds).toHaveLength(2);
    for (const c of creds) {
      const issued = h.acr.issued.find((t) => t.token === c.password)!;
      expect(issued).toBeDefined();
      expect(c.registries).toEqual([issued.registry]);
      expect(c.username).toBe("00000000-0000-0000-0000-000000000000");
      expect(c.expiresAt?.getTime()).toBe(issued.exp * 1000);
    }
  });

  it("classifies a wrong secret as bad_credentials, with Entra's AADSTS code", async () => {
    const provider = makeProvider(h, {
      auth: "servicePrincipal",
      tenantId: TENANT,
      clientId: SP_CLIENT,
      clientSecretFrom: { file: writeSecretFile(h, "wrong-secret", "not~the.secret_0000000000000000") },
    });
    const err = await provider.mint(signal()).catch((e: unknown) => e);
    expect(err).toSatisfy(
      expectFailure(
        "bad_credentials",
        /^Entra ID \(servicePrincipal\): AADSTS7000215: Invalid client secret provided\.[^\n]*'\.$/,
      ),
    );
    // Entra's correlation ID, for a support ticket.
    expect((err as ProviderError).requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("classifies an unknown application as not_found (AADSTS700016)", async () => {
    const provider = makeProvider(h, {
      auth: "servicePrincipal",
      tenantId: TENANT,
      clientId: "99999999-9999-9999-9999-999999999999",
      clientSecretFrom: { file: writeSecretFile(h, "other-secret", SP_SECRET) },
    });
    await expect(provider.mint(signal())).rejects.toSatisfy(expectFailure("not_found", /AADSTS700016/));
  });

  it("reads the secret from an environment variable too, and fails clearly when it is missing", async () => {
    vi.stubEnv("ACR_TEST_SECRET", SP_SECRET);
    const provider = makeProvider(h, {
      auth: "servicePrincipal",
      tenantId: TENANT,
      clientId: SP_CLIENT,
      clientSecretFrom: { env: "ACR_TEST_SECRET" },
    });
    await expect(provider.mint(signal())).resolves.toHaveLength(2);
    vi.stubEnv("ACR_TEST_SECRET", undefined);
    await expect(provider.mint(signal())).rejects.toSatisfy(
      expectFailure("source_unavailable", /ACR_TEST_SECRET is not set/),
    );
  });

  it("notices a rotated secret file and uses the new secret on the next refresh", async () => {
    const file = writeSecretFile(h, "rotating-secret", "old~secret.value_000000000000000000");
    const provider = makeProvider(h, {
      auth: "servicePrincipal",
      tenantId: TENANT,
      clientId: SP_CLIENT,
      clientSecretFrom: { file },
    });
    await expect(provider.mint(signal())).rejects.toMatchObject({ reason: "bad_credentials" });
    const changed = new Promise<void>((resolve) => {
      const stop = provider.watch!(() => {
        stop();
        resolve();
      });
    });
    writeSecretFile(h, "rotating-secret", SP_SECRET);
    await changed;
    const { result, entra } = await mintCounting(() => provider.mint(signal()));
    expect(result).toHaveLength(2);
    expect(entra[0]!.form["client_secret"]).toBe(SP_SECRET);
  });
});

describe("service principal with a certificate (ClientCertificateCredential)", () => {
  it("signs a client assertion the authority verifies with the registered certificate", async () => {
    const pem = writeSecretFile(h, "sp.pem", h.certificatePem);
    const provider = makeProvider(h, {
      auth: "servicePrincipal",
      tenantId: TENANT,
      clientId: CERT_CLIENT,
      certificateFile: pem,
    });
    const { result, entra, exchanges } = await mintCounting(() => provider.mint(signal()));
    expect(result).toHaveLength(2);
    expect(entra).toHaveLength(1);
    const form = entra[0]!.form;
    expect(form["client_secret"]).toBeUndefined();
    expect(form["client_assertion_type"]).toBe("urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
    // What the fake verified, visible: PS256 over the payload, addressed to the token endpoint.
    const { header, payload } = decodeJwt(form["client_assertion"]!)!;
    expect(header).toMatchObject({ alg: "PS256" });
    expect(header["x5t#S256"]).toBeTypeOf("string");
    expect(payload).toMatchObject({ iss: CERT_CLIENT, sub: CERT_CLIENT, aud: h.entra.tokenEndpoint });
    expect(exchanges.every((e) => h.entra.issued.has(e.form["access_token"]!))).toBe(true);
  });

  it("is refused when the certificate is not the one registered", async () => {
    const other = await makeServingCert(
      h.dir,
      "other-app",
      await makeCA(mkdtempSync(join(h.dir, "o-")), "other"),
    );
    const pem = writeSecretFile(
      h,
      "other.pem",
      readFileSync(other.certFile, "utf8") + readFileSync(other.keyFile, "utf8"),
    );
    const provider = makeProvider(h, {
      auth: "servicePrincipal",
      tenantId: TENANT,
      clientId: CERT_CLIENT,
      certificateFile: pem,
    });
    await expect(provider.mint(signal())).rejects.toSatisfy(expectFailure("bad_credentials", /AADSTS700027/));
  });
});

describe("AKS workload identity (WorkloadIdentityCredential)", () => {
  it("presents the projected service-account token as the client assertion", async () => {
    const saToken = serviceAccountToken();
    writeFileSync(join(h.dir, "azure-identity-token"), saToken);
    const provider = makeProvider(h, {
      auth: "workloadIdentity",
      tenantId: TENANT,
      clientId: WI_CLIENT,
      tokenFile: join(h.dir, "azure-identity-token"),
    });
    const { result, entra } = await mintCounting(() => provider.mint(signal()));
    expect(result).toHaveLength(2);
    expect(entra).toHaveLength(1);
    expect(entra[0]!.form).toMatchObject({
      client_id: WI_CLIENT,
      client_assertion: saToken,
      scope: ACR_SCOPE,
    });
  });

  it("takes tenant, client and token file from the webhook's environment when not configured", async () => {
    const file = join(h.dir, "env-token");
    writeFileSync(file, serviceAccountToken());
    vi.stubEnv("AZURE_TENANT_ID", TENANT);
    vi.stubEnv("AZURE_CLIENT_ID", WI_CLIENT);
    vi.stubEnv("AZURE_FEDERATED_TOKEN_FILE", file);
    try {
      const provider = makeProvider(h, { auth: "workloadIdentity" });
      const { result, exchanges } = await mintCounting(() => provider.mint(signal()));
      expect(result).toHaveLength(2);
      // No tenantId in the config: the exchange's tenant comes from the Entra token's tid claim.
      expect(exchanges.every((e) => e.form["tenant"] === TENANT)).toBe(true);
    } finally {
      vi.unstubAllEnvs();
    }
  });

  it("is refused when no federated credential matches the service account (AADSTS700213)", async () => {
    const file = join(h.dir, "wrong-sa-token");
    writeFileSync(file, serviceAccountToken({ sub: "system:serviceaccount:default:default" }));
    const provider = makeProvider(h, {
      auth: "workloadIdentity",
      tenantId: TENANT,
      clientId: WI_CLIENT,
      tokenFile: file,
    });
    await expect(provider.mint(signal())).rejects.toSatisfy(expectFailure("bad_credentials", /AADSTS700213/));
  });

  it("is refused when the assertion is not signed by the cluster's issuer key", async () => {
    const file = join(h.dir, "forged-sa-token");
    const now = Math.floor(Date.now() / 1000);
    const forged = signJwt(
      { alg: "RS256" },
      { aud: ["api://AzureADTokenExchange"], iss: CLUSTER_ISSUER, sub: WI_SUBJECT, iat: now, exp: now + 600 },
      generateKeyPairSync("rsa", { modulusLength: 2048 }).privateKey,
    );
    writeFileSync(file, forged);
    const provider = makeProvider(h, {
      auth: "workloadIdentity",
      tenantId: TENANT,
      clientId: WI_CLIENT,
      tokenFile: file,
    });
    await expect(provider.mint(signal())).rejects.toSatisfy(expectFailure("bad_credentials", /AADSTS700027/));
  });

  it("reports a missing token file setting as source_unavailable", async () => {
    vi.stubEnv("AZURE_FEDERATED_TOKEN_FILE", undefined);
    try {
      const provider = makeProvider(h, { auth: "workloadIdentity", tenantId: TENANT, clientId: WI_CLIENT });
      await expect(provider.mint(signal())).rejects.toSatisfy(
        expectFailure("source_unavailable", /federatedTokenFilePath/),
      );
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe("managed identity (ManagedIdentityCredential, IMDS)", () => {
  const USER_ASSIGNED = {
    clientId: "bbbbbbbb-0000-1111-2222-333333333333",
    resourceId: `/subscriptions/0b1f6471-1bf0-4dda-aec3-111122223333/resourceGroups/rg/providers/Microsoft.ManagedIdentity/userAssignedIdentities/regcred`,
  };
  const SYSTEM_ASSIGNED = "cccccccc-0000-1111-2222-333333333333";
  let imds: FakeImds;
  beforeAll(async () => {
    imds = await FakeImds.start(h.entra, {
      identities: [USER_ASSIGNED],
      systemAssigned: SYSTEM_ASSIGNED,
      audiences: ["https://containerregistry.azure.net", "https://management.azure.com"],
    });
  });
  afterAll(() => imds?.close());

  it.each([
    ["a user-assigned identity by client ID", { clientId: USER_ASSIGNED.clientId }, USER_ASSIGNED.clientId],
    [
      "a user-assigned identity by resource ID",
      { resourceId: USER_ASSIGNED.resourceId },
      USER_ASSIGNED.clientId,
    ],
    ["the system-assigned identity", {}, SYSTEM_ASSIGNED],
  ])("gets a token for %s and exchanges it", async (_what, fields, identity) => {
    vi.stubEnv("AZURE_POD_IDENTITY_AUTHORITY_HOST", imds.url);
    try {
      const before = imds.requests.length;
      // No TLS agent: IMDS is plain http (an https.Agent refuses http: URLs), and a managed
      // identity never talks to the authority itself.
      const provider = makeProvider(
        h,
        { auth: "managedIdentity", ...fields },
        { clients: { identityOptions: {} } },
      );
      const { result, exchanges } = await mintCounting(() => provider.mint(signal()));
      const calls = imds.requests.slice(before);
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({
        metadata: "true",
        query: { resource: "https://containerregistry.azure.net" },
      });
      expect(result).toHaveLength(2);
      const used = h.entra.issued.get(exchanges[0]!.form["access_token"]!);
      expect(used?.clientId).toBe(identity);
      // The tenant comes from the token's tid claim: a managed identity has no tenantId setting.
      expect(exchanges.every((e) => e.form["tenant"] === TENANT)).toBe(true);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe("default chain (DefaultAzureCredential)", () => {
  it("finds the service principal in the environment", async () => {
    vi.stubEnv("AZURE_TENANT_ID", TENANT);
    vi.stubEnv("AZURE_CLIENT_ID", SP_CLIENT);
    vi.stubEnv("AZURE_CLIENT_SECRET", SP_SECRET);
    try {
      const provider = makeProvider(h, {});
      const { result, entra } = await mintCounting(() => provider.mint(signal()));
      expect(result).toHaveLength(2);
      expect(entra.map((r) => r.form["client_id"])).toEqual([SP_CLIENT]);
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

describe("audience", () => {
  it("asks for the ARM audience when configured, and the exchange accepts that token", async () => {
    const provider = makeProvider(h, {
      auth: "servicePrincipal",
      tenantId: TENANT,
      clientId: SP_CLIENT,
      clientSecretFrom: { file: writeSecretFile(h, "arm-secret", SP_SECRET) },
      audience: "arm",
    });
    const { result, entra, exchanges } = await mintCounting(() => provider.mint(signal()));
    expect(result).toHaveLength(2);
    expect(entra[0]!.form["scope"]).toBe(ARM_SCOPE);
    expect(jwtPayload(exchanges[0]!.form["access_token"]!)?.["aud"]).toBe("https://management.azure.com");
  });
});
