// The icr config as regcred validate sees it: each mistake names its path and what was expected.
import { describe, expect, it } from "vitest";
import { icrSchema } from "../../../providers/icr/schema.ts";
import { parseConfig, ConfigError } from "../../../src/config/load.ts";

function issues(fields: Record<string, unknown>): string[] {
  const r = icrSchema.safeParse({ name: "icr", provider: "icr", ...fields });
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
}

const KEY = { apiKeyFrom: { file: "/var/run/secrets/ibm/apikey" } };

describe("icr schema", () => {
  it("accepts the global, regional and private domains, with a namespace path", () => {
    const r = icrSchema.parse({
      name: "icr",
      provider: "icr",
      registries: [
        "icr.io",
        "us.icr.io",
        "jp2.icr.io",
        "private.icr.io",
        "private.de.icr.io",
        "uk.icr.io/team-a",
      ],
      ...KEY,
    });
    expect(r.registries).toEqual([
      "icr.io",
      "us.icr.io",
      "jp2.icr.io",
      "private.icr.io",
      "private.de.icr.io",
      "uk.icr.io/team-a",
    ]);
    expect(r.iamEndpoint).toBe("https://iam.cloud.ibm.com");
  });

  it.each([
    ["eu.icr.io", /expected an IBM Cloud Container Registry domain/],
    ["us.icr.io.evil.example", /expected an IBM Cloud Container Registry domain/],
    ["registry.ng.bluemix.net", /expected an IBM Cloud Container Registry domain/],
    ["private.private.us.icr.io", /expected an IBM Cloud Container Registry domain/],
    ["cp.icr.io", /entitled registry.*user cp.*static/],
  ])("refuses %s as a registry", (host, message) => {
    const found = issues({ registries: [host], ...KEY });
    expect(found).toHaveLength(1);
    expect(found[0]).toMatch(/^registries\.0: /);
    expect(found[0]).toMatch(message);
  });

  it("takes exactly one of an API key or a trusted profile", () => {
    expect(issues({ registries: ["us.icr.io"] })).toEqual([
      expect.stringMatching(/^apiKeyFrom: expected exactly one of apiKeyFrom.*or trustedProfile/),
    ]);
    expect(issues({ registries: ["us.icr.io"], ...KEY, trustedProfile: { profileName: "p" } })).toEqual([
      expect.stringMatching(/^apiKeyFrom: expected exactly one/),
    ]);
  });

  it("never takes the key inline", () => {
    expect(issues({ registries: ["us.icr.io"], ...KEY, apiKey: "abc" })).toEqual([
      expect.stringMatching(/^apiKey: secret values are never written inline: use apiKeyFrom/),
    ]);
  });

  it("names the profile in exactly one way, defaults the IKS token path, and explains accountId", () => {
    const ok = icrSchema.parse({
      name: "icr",
      provider: "icr",
      registries: ["us.icr.io"],
      trustedProfile: { profileName: "regcred-reader" },
    });
    expect(ok.trustedProfile).toEqual({
      profileName: "regcred-reader",
      crTokenFile: "/var/run/secrets/tokens/sa-token",
    });
    expect(
      issues({
        registries: ["us.icr.io"],
        trustedProfile: {
          profileName: "a",
          profileCrn: "crn:v1:bluemix:public:iam-identity::a/1::profile:Profile-1",
        },
      }),
    ).toEqual([
      expect.stringMatching(
        /^trustedProfile\.profileId: expected exactly one of .*got profileName and profileCrn/,
      ),
    ]);
    expect(issues({ registries: ["us.icr.io"], trustedProfile: {} })).toEqual([
      expect.stringMatching(
        /^trustedProfile\.profileId: expected exactly one of profileId, profileName or profileCrn$/,
      ),
    ]);
    expect(issues({ registries: ["us.icr.io"], trustedProfile: { profileId: "regcred" } })).toEqual([
      expect.stringMatching(/^trustedProfile\.profileId: expected a trusted profile ID/),
    ]);
    expect(
      issues({ registries: ["us.icr.io"], trustedProfile: { profileName: "a", accountId: "0123" } }),
    ).toEqual([expect.stringMatching(/^trustedProfile\.accountId: IAM's cr-token grant takes no account/)]);
  });

  it("takes a private or regional IAM endpoint, https only, and strips a trailing /identity/token", () => {
    const at = (iamEndpoint: string) =>
      icrSchema.parse({ name: "icr", provider: "icr", registries: ["us.icr.io"], ...KEY, iamEndpoint })
        .iamEndpoint;
    expect(at("https://private.iam.cloud.ibm.com")).toBe("https://private.iam.cloud.ibm.com");
    expect(at("https://private.us-south.iam.cloud.ibm.com/identity/token")).toBe(
      "https://private.us-south.iam.cloud.ibm.com",
    );
    expect(
      issues({ registries: ["us.icr.io"], ...KEY, iamEndpoint: "http://private.iam.cloud.ibm.com" }),
    ).toEqual([expect.stringMatching(/^iamEndpoint: expected an https:\/\/ URL/)]);
    expect(issues({ registries: ["us.icr.io"], ...KEY, iamEndpoint: "https://iam.example.com" })).toEqual([
      expect.stringMatching(/^iamEndpoint: expected an IAM host under cloud\.ibm\.com/),
    ]);
  });

  it("is a provider kind the config loader knows, with errors naming the file and path", () => {
    const config = parseConfig(
      "/etc/regcred/config.yaml",
      `registries:
  - name: icr
    provider: icr
    registries: [us.icr.io]
    trustedProfile: { profileId: Profile-8e2ef0a1-1c62-4ad8-9c6a-5b1c6f0d2e3a }
secrets:
  - name: pull
    registries: [icr]
    namespaces: { include: ["*"] }
`,
    );
    expect(config.registries[0]!.provider).toBe("icr");
    let err: unknown;
    try {
      parseConfig(
        "/etc/regcred/config.yaml",
        `registries:
  - name: icr
    provider: icr
    registries: [cp.icr.io]
    apiKeyFrom: { env: IBM_API_KEY }
secrets:
  - name: pull
    registries: [icr]
    namespaces: { include: ["*"] }
`,
      );
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message)).toMatch(
      /config\.yaml.*registries\[0\]\.registries\[0\].*entitled registry/s,
    );
  });
});
