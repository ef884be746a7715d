import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../../src/config/load.ts";
import type { AcrSettings } from "../../../providers/acr/schema.ts";
import { cloudOf } from "../../../providers/acr/index.ts";

function config(entry: string): string {
  return `registries:\n  - name: acr\n    provider: acr\n${entry
    .trim()
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n")}\nsecrets:\n  - name: regcred\n    registries: [acr]\n`;
}

function parse(entry: string): AcrSettings {
  return parseConfig("test.yaml", config(entry)).registries[0]!.settings as AcrSettings;
}

function problems(entry: string): Array<{ path: string; message: string }> {
  try {
    parseConfig("test.yaml", config(entry));
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
  throw new Error("expected the config to be rejected");
}

describe("acr config", () => {
  it("parses a workload identity entry with defaults", () => {
    const s = parse(`
registries: [MyReg.azurecr.io, "https://other.azurecr.io/"]
auth: workloadIdentity
clientId: aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee`);
    expect(s).toMatchObject({
      registries: ["myreg.azurecr.io", "other.azurecr.io"],
      auth: "workloadIdentity",
      audience: "acr",
      disableInstanceDiscovery: false,
    });
    expect(cloudOf(s).authorityHost).toBe("https://login.microsoftonline.com");
  });

  it("defaults to the default credential chain", () => {
    expect(parse("registries: [myreg.azurecr.io]").auth).toBe("default");
  });

  it("infers sovereign clouds from the login server suffix", () => {
    expect(cloudOf(parse("registries: [cnreg.azurecr.cn]"))).toMatchObject({
      name: "china",
      authorityHost: "https://login.chinacloudapi.cn",
    });
    expect(cloudOf(parse("registries: [govreg.azurecr.us]"))).toMatchObject({
      name: "usgov",
      authorityHost: "https://login.microsoftonline.us",
    });
  });

  it("parses a service principal with a secret reference and a scoped token", () => {
    const s = parse(`
registries: [myreg.azurecr.io]
auth: servicePrincipal
tenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47
clientId: 11111111-2222-3333-4444-555555555555
clientSecretFrom: { file: /var/run/secrets/azure/client-secret }
scopedToken:
  subscriptionId: 0b1f6471-1bf0-4dda-aec3-111122223333
  resourceGroup: rg-images
  tokenName: regcred-pull
  passwordLifetime: 6h`);
    expect(s.scopedToken).toMatchObject({
      tokenName: "regcred-pull",
      passwordLifetime: 6 * 3_600_000,
      password: "alternate",
    });
  });

  it.each([
    ["registries: [ghcr.io]", "registries[0].registries[0]", /expected an ACR login server/],
    ["registries: [myreg.azurecr.io/team]", "registries[0].registries[0]", /without port or path/],
    ["registries: [a.azurecr.io, b.azurecr.cn]", "registries[0].registries", /one cloud/],
    [
      "registries: [ghcr.io, a.azurecr.io, b.azurecr.cn]",
      "registries[0].registries",
      /got public and china:/,
    ],
    ["registries: [a.azurecr.io]\ncloud: china", "registries[0].cloud", /cloud china serves \*\.azurecr\.cn/],
    [
      "registries: [a.azurecr.io]\nauthorityHost: http://login.example",
      "registries[0].authorityHost",
      /https:\/\//,
    ],
    ["registries: [a.azurecr.io]\naudience: graph", "registries[0].audience", /acr|arm/],
    ["registries: [a.azurecr.io]\nauth: certificate", "registries[0].auth", /servicePrincipal/],
    [
      "registries: [a.azurecr.io]\nclientSecret: hunter2",
      "registries[0].clientSecret",
      /never written inline/,
    ],
    [
      "registries: [a.azurecr.io]\nauth: managedIdentity\ntenantId: contoso.onmicrosoft.com",
      "registries[0].tenantId",
      /not used by auth: managedIdentity/,
    ],
    [
      "registries: [a.azurecr.io]\nauth: managedIdentity\nclientId: x\nresourceId: /subscriptions/s/rg/x",
      "registries[0].resourceId",
      /at most one/,
    ],
    [
      "registries: [a.azurecr.io]\nauth: servicePrincipal\nclientId: x\nclientSecretFrom: { env: S }",
      "registries[0].tenantId",
      /required/,
    ],
    [
      "registries: [a.azurecr.io]\nauth: servicePrincipal\ntenantId: t\nclientId: x\nclientSecretFrom: { env: S }\ncertificateFile: sp.pem",
      "registries[0].clientSecretFrom",
      /exactly one of clientSecretFrom or certificateFile/,
    ],
    [
      "registries: [a.azurecr.io]\nauth: default\ntokenFile: /t",
      "registries[0].tokenFile",
      /not used by auth: default/,
    ],
    [
      "registries: [aaaaa.azurecr.io, bbbbb.azurecr.io]\nscopedToken: { subscriptionId: 0b1f6471-1bf0-4dda-aec3-111122223333, resourceGroup: rg, tokenName: puller }",
      "registries[0].registries",
      /exactly one registry/,
    ],
    [
      "registries: [aaaaa.azurecr.io]\nscopedToken: { subscriptionId: nope, resourceGroup: rg, tokenName: puller }",
      "registries[0].scopedToken.subscriptionId",
      /GUID/,
    ],
    ["registries: [a.azurecr.io]\nregion: westeurope", "registries[0]", /unknown key "region"/],
  ])("rejects %j at %s", (entry, path, message) => {
    const found = problems(entry);
    expect(found).toContainEqual({ path, message: expect.stringMatching(message) });
  });
});
