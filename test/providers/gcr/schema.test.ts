import { describe, expect, it } from "vitest";
import { ConfigError } from "../../../src/config/load.ts";
import type { GcrSettings } from "../../../providers/gcr/schema.ts";
import { configFrom } from "../../helpers/config.ts";

function config(entry: string): string {
  return `registries:
  - name: gar
    provider: gcr
${entry
  .trim()
  .split("\n")
  .map((l) => `    ${l}`)
  .join("\n")}
secrets:
  - name: pull
    registries: [gar]
`;
}

function problems(entry: string): Array<{ path: string; message: string }> {
  try {
    configFrom(config(entry));
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error("expected the config to be rejected");
}

const settings = (entry: string) => configFrom(config(entry)).registries[0]!.settings as GcrSettings;

describe("gcr config", () => {
  it("accepts every Google registry host form, normalized, with cloud-platform as the default scope", () => {
    const s = settings(`
registries:
  - gcr.io
  - us.gcr.io
  - eu.gcr.io
  - asia.gcr.io
  - https://gcr.io/v2/
  - us-docker.pkg.dev
  - europe-docker.pkg.dev
  - asia-docker.pkg.dev
  - europe-west1-docker.pkg.dev
  - northamerica-northeast1-docker.pkg.dev
  - us-central1-docker.pkg.dev/my-project/images
`);
    expect(s.registries).toEqual([
      "gcr.io",
      "us.gcr.io",
      "eu.gcr.io",
      "asia.gcr.io",
      "gcr.io",
      "us-docker.pkg.dev",
      "europe-docker.pkg.dev",
      "asia-docker.pkg.dev",
      "europe-west1-docker.pkg.dev",
      "northamerica-northeast1-docker.pkg.dev",
      "us-central1-docker.pkg.dev/my-project/images",
    ]);
    expect(s.scopes).toEqual(["https://www.googleapis.com/auth/cloud-platform"]);
    expect(s.credentialsFile).toBeUndefined();
    expect(s.metadataServer).toBeUndefined();
  });

  it("a host that is not a Google registry is an error naming its path", () => {
    const found = problems(`
registries: [gcr.io, quay.io, europe-west1-npm.pkg.dev, docker.pkg.dev, gcr.io.example.com, "gcr.io:5000", mirror.gcr.io]
`);
    expect(found.map((p) => p.path)).toEqual([1, 2, 3, 4, 5, 6].map((i) => `registries[0].registries[${i}]`));
    expect(found[0]!.message).toMatch(
      /^expected a Google registry host \(gcr\.io, .*REGION-docker\.pkg\.dev.*\), got "quay\.io"$/,
    );
  });

  it("requires at least one host", () => {
    expect(problems("registries: []")).toEqual([
      { path: "registries[0].registries", message: "expected at least one registry host" },
    ]);
  });

  it("takes a key file, or the metadata server, not both", () => {
    expect(
      settings("registries: [gcr.io]\ncredentialsFile: /var/run/secrets/gcp/key.json").credentialsFile,
    ).toBe("/var/run/secrets/gcp/key.json");
    expect(settings("registries: [gcr.io]\nmetadataServer: true").metadataServer).toBe(true);
    expect(problems("registries: [gcr.io]\ncredentialsFile: key.json\nmetadataServer: true")).toEqual([
      {
        path: "registries[0].metadataServer",
        message: "expected at most one of credentialsFile or metadataServer",
      },
    ]);
  });

  it("refuses key material written inline", () => {
    const [problem] = problems(`registries: [gcr.io]\ncredentials: { type: service_account }`);
    expect(problem!.path).toBe("registries[0].credentials");
    expect(problem!.message).toMatch(/never written inline.*credentialsFile/);
  });

  it("impersonation: a service account, optional delegates and a lifetime in whole seconds up to 12h", () => {
    const s = settings(`
registries: [gcr.io]
impersonate:
  serviceAccount: ar-reader@registry-project.iam.gserviceaccount.com
  delegates: [hop@middle.iam.gserviceaccount.com]
  lifetime: 30m
`);
    expect(s.impersonate).toEqual({
      serviceAccount: "ar-reader@registry-project.iam.gserviceaccount.com",
      delegates: ["hop@middle.iam.gserviceaccount.com"],
      lifetime: 1_800_000,
    });
    const found = problems(`
registries: [gcr.io]
impersonate:
  serviceAccount: "../../evil:generateAccessToken"
  delegates: ["not an email"]
  lifetime: 13h
`);
    expect(found.map((p) => p.path)).toEqual([
      "registries[0].impersonate.serviceAccount",
      "registries[0].impersonate.delegates[0]",
      "registries[0].impersonate.lifetime",
    ]);
    expect(found[2]!.message).toBe("expected whole seconds between 1s and 12h, got 13h");
    expect(
      problems(
        "registries: [gcr.io]\nimpersonate: { serviceAccount: a@b.iam.gserviceaccount.com, lifetime: 1500ms }",
      )[0]!.message,
    ).toMatch(/whole seconds/);
    expect(problems("registries: [gcr.io]\nimpersonate: { lifetime: 1h }")[0]!.path).toBe(
      "registries[0].impersonate.serviceAccount",
    );
  });

  it("unknown keys and empty scopes are errors", () => {
    expect(problems("registries: [gcr.io]\nscope: x")).toEqual([
      { path: "registries[0]", message: 'unknown key "scope"' },
    ]);
    expect(problems("registries: [gcr.io]\nscopes: []")[0]!.path).toBe("registries[0].scopes");
  });
});
