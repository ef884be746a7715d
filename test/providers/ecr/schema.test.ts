import { describe, expect, it } from "vitest";
import { ConfigError, parseConfig } from "../../../src/config/load.ts";
import { regionsOf, type EcrSettings } from "../../../providers/ecr/schema.ts";
import { parseEcrHost } from "../../../providers/ecr/hosts.ts";
import { extraHosts } from "../../../providers/ecr/index.ts";

function config(entry: string): string {
  return `registries:\n  - name: prod-ecr\n    provider: ecr\n${entry
    .trim()
    .split("\n")
    .map((l) => `    ${l}`)
    .join("\n")}\nsecrets:\n  - name: regcred\n    registries: [prod-ecr]\n`;
}

function parse(entry: string): EcrSettings {
  return parseConfig("test.yaml", config(entry)).registries[0]!.settings as EcrSettings;
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

describe("ecr host forms", () => {
  const valid: Array<
    [string, { account: string; region: string; fips: boolean; dualstack: boolean; partition: string }]
  > = [
    [
      "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
      { account: "123456789012", region: "eu-west-1", fips: false, dualstack: false, partition: "aws" },
    ],
    [
      "123456789012.dkr.ecr-fips.us-east-1.amazonaws.com",
      { account: "123456789012", region: "us-east-1", fips: true, dualstack: false, partition: "aws" },
    ],
    [
      "123456789012.dkr-ecr.eu-central-1.on.aws",
      { account: "123456789012", region: "eu-central-1", fips: false, dualstack: true, partition: "aws" },
    ],
    [
      "123456789012.dkr-ecr-fips.us-west-2.on.aws",
      { account: "123456789012", region: "us-west-2", fips: true, dualstack: true, partition: "aws" },
    ],
    [
      "123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn",
      { account: "123456789012", region: "cn-north-1", fips: false, dualstack: false, partition: "aws-cn" },
    ],
    [
      "123456789012.dkr-ecr.cn-northwest-1.on.amazonwebservices.com.cn",
      {
        account: "123456789012",
        region: "cn-northwest-1",
        fips: false,
        dualstack: true,
        partition: "aws-cn",
      },
    ],
    [
      "123456789012.dkr.ecr.us-gov-west-1.amazonaws.com",
      {
        account: "123456789012",
        region: "us-gov-west-1",
        fips: false,
        dualstack: false,
        partition: "aws-us-gov",
      },
    ],
    [
      "123456789012.dkr.ecr-fips.us-gov-east-1.amazonaws.com",
      {
        account: "123456789012",
        region: "us-gov-east-1",
        fips: true,
        dualstack: false,
        partition: "aws-us-gov",
      },
    ],
    [
      "123456789012.dkr.ecr.us-east-1.amazonaws.com/docker-hub",
      { account: "123456789012", region: "us-east-1", fips: false, dualstack: false, partition: "aws" },
    ],
  ];
  it.each(valid)("recognises %s", (host, want) => {
    const r = parseEcrHost(host);
    expect(r.ok).toBe(true);
    if (r.ok) expect({ ...r.host, partition: r.host.partition.name }).toEqual(want);
  });

  const invalid: Array<[string, RegExp]> = [
    ["12345678901.dkr.ecr.eu-west-1.amazonaws.com", /not an ECR registry host/], // 11 digits
    ["123456789012.ecr.eu-west-1.amazonaws.com", /not an ECR registry host/],
    ["ghcr.io", /not an ECR registry host/],
    [
      "123456789012.dkr.ecr.cn-north-1.amazonaws.com",
      /named <account>\.dkr\.ecr\.cn-north-1\.amazonaws\.com\.cn/,
    ],
    [
      "123456789012.dkr.ecr.eu-west-1.amazonaws.com.cn",
      /named <account>\.dkr\.ecr\.eu-west-1\.amazonaws\.com/,
    ],
    ["123456789012.dkr.ecr.eu-west-1.on.aws", /named <account>\.dkr\.ecr\.eu-west-1\.amazonaws\.com/], // dual-stack suffix with IPv4 form
    ["123456789012.dkr-ecr.eu-west-1.amazonaws.com", /named <account>\.dkr-ecr\.eu-west-1\.on\.aws/],
    ["123456789012.dkr.ecr.westeurope.amazonaws.com", /not an AWS region/],
  ];
  it.each(invalid)("rejects %s", (host, message) => {
    const r = parseEcrHost(host);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error).toMatch(message);
  });
});

describe("ecr config", () => {
  it("parses the multi-region, cross-account example", () => {
    const s = parse(`
regions: [eu-west-1, us-east-1]
registries:
  - 210987654321.dkr.ecr.eu-west-1.amazonaws.com
  - https://210987654321.dkr.ecr.us-east-1.amazonaws.com/
  - { host: ecr.internal.example.com, region: eu-west-1 }
auth:
  accessKeyIdFrom: { file: /var/run/aws/access-key-id }
  secretAccessKeyFrom: { env: AWS_SECRET }
assumeRole: { roleArn: "arn:aws:iam::123456789012:role/ecr-pull", externalId: ext-123, duration: 1h }`);
    expect(regionsOf(s)).toEqual(["eu-west-1", "us-east-1"]);
    expect(s.public).toBe(false);
    expect(s.assumeRole).toEqual({
      roleArn: "arn:aws:iam::123456789012:role/ecr-pull",
      externalId: "ext-123",
      sessionName: "regcred",
      duration: 3_600_000,
    });
    expect(extraHosts(s, "eu-west-1")).toEqual([
      "210987654321.dkr.ecr.eu-west-1.amazonaws.com",
      "ecr.internal.example.com",
    ]);
    expect(extraHosts(s, "us-east-1")).toEqual(["210987654321.dkr.ecr.us-east-1.amazonaws.com"]);
  });

  it("accepts a single region, GovCloud, China, and ECR Public without a region", () => {
    expect(
      regionsOf(
        parse("region: us-gov-west-1\nregistries: [123456789012.dkr.ecr-fips.us-gov-west-1.amazonaws.com]"),
      ),
    ).toEqual(["us-gov-west-1"]);
    expect(
      regionsOf(parse("region: cn-north-1\nregistries: [123456789012.dkr.ecr.cn-north-1.amazonaws.com.cn]")),
    ).toEqual(["cn-north-1"]);
    const pub = parse("public: true");
    expect(regionsOf(pub)).toEqual(["us-east-1"]);
    expect(extraHosts(parse("public: true\nregistries: [public.ecr.aws/myalias]"), "us-east-1")).toEqual([
      "public.ecr.aws/myalias",
    ]);
  });

  it("rejects a host that cannot belong to the entry's regions, naming the path", () => {
    expect(
      problems(
        "regions: [eu-west-1, us-east-1]\nregistries: [123456789012.dkr.ecr.eu-west-1.amazonaws.com, 123456789012.dkr.ecr.ap-south-1.amazonaws.com]",
      ),
    ).toEqual([
      {
        path: "registries[0].registries[1]",
        message: expect.stringMatching(
          /is in ap-south-1, which is not one of this entry's regions \(eu-west-1, us-east-1\)/,
        ),
      },
    ]);
  });

  it("rejects hosts of the wrong form or partition, naming the path", () => {
    const p = problems(
      "region: cn-north-1\nregistries: [123456789012.dkr.ecr.cn-north-1.amazonaws.com, quay.io]",
    );
    expect(p.map((x) => x.path)).toEqual(["registries[0].registries[0]", "registries[0].registries[1]"]);
    expect(p[0]!.message).toMatch(/amazonaws\.com\.cn/);
    expect(p[1]!.message).toMatch(/not an ECR registry host.*\{ host: \.\.\., region: \.\.\. \}/);
  });

  it("rejects an alias for a region the entry does not mint", () => {
    expect(problems("region: eu-west-1\nregistries: [{ host: ecr.example.com, region: us-east-1 }]")).toEqual(
      [
        {
          path: "registries[0].registries[0].region",
          message: expect.stringMatching(/us-east-1 is not one of this entry's regions/),
        },
      ],
    );
  });

  it("rejects regions across partitions, duplicates, both region and regions, and none", () => {
    expect(problems("regions: [eu-west-1, cn-north-1]")[0]).toMatchObject({
      path: "registries[0].regions",
      message: expect.stringMatching(/one AWS partition/),
    });
    expect(problems("regions: [eu-west-1, eu-west-1]")[0]).toMatchObject({
      path: "registries[0].regions[1]",
      message: "duplicate region eu-west-1",
    });
    expect(problems("region: eu-west-1\nregions: [us-east-1]")[0]).toMatchObject({
      path: "registries[0].regions",
    });
    expect(problems("registries: []")[0]).toMatchObject({
      path: "registries[0].region",
      message: "expected region or regions",
    });
    expect(problems("region: Europe")[0]).toMatchObject({
      path: "registries[0].region",
      message: expect.stringMatching(/AWS region/),
    });
  });

  it("never takes keys inline", () => {
    expect(
      problems("region: eu-west-1\nauth: { accessKeyIdFrom: { file: a }, secretAccessKey: wJalrXUtnFEMI }"),
    ).toEqual([
      { path: "registries[0].auth.secretAccessKeyFrom", message: expect.any(String) },
      { path: "registries[0].auth.secretAccessKey", message: expect.stringMatching(/never written inline/) },
    ]);
    expect(problems("region: eu-west-1\nsecretAccessKey: wJalrXUtnFEMI")[0]).toMatchObject({
      path: "registries[0].secretAccessKey",
      message: expect.stringMatching(/auth\.secretAccessKeyFrom/),
    });
  });

  it("checks the assume-role settings", () => {
    const p = problems(`
region: eu-west-1
assumeRole: { roleArn: "arn:aws:iam::123:role/x", duration: 5m, sessionName: "a b" }`);
    expect(p.map((x) => x.path).sort()).toEqual([
      "registries[0].assumeRole.duration",
      "registries[0].assumeRole.roleArn",
      "registries[0].assumeRole.sessionName",
    ]);
    expect(
      problems('region: cn-north-1\nassumeRole: { roleArn: "arn:aws:iam::123456789012:role/x" }')[0],
    ).toMatchObject({
      path: "registries[0].assumeRole.roleArn",
      message: expect.stringMatching(/partition aws, the regions in aws-cn/),
    });
  });

  it("allows endpoint with one region only, https only; Public in us-east-1 only", () => {
    expect(
      parse("region: eu-west-1\nendpoint: https://vpce-0a1b2c3d-e4f5.api.ecr.eu-west-1.vpce.amazonaws.com")
        .endpoint,
    ).toMatch(/^https:\/\/vpce-/);
    expect(
      problems("regions: [eu-west-1, us-east-1]\nendpoint: https://vpce-1.example.com")[0],
    ).toMatchObject({ path: "registries[0].endpoint" });
    expect(problems("region: eu-west-1\nendpoint: http://vpce-1.example.com")[0]).toMatchObject({
      path: "registries[0].endpoint",
    });
    expect(problems("public: true\nregion: eu-west-1")[0]).toMatchObject({
      path: "registries[0].region",
      message: /us-east-1 only/,
    });
    expect(
      problems("public: true\nregistries: [123456789012.dkr.ecr.us-east-1.amazonaws.com]")[0],
    ).toMatchObject({
      path: "registries[0].registries[0]",
      message: expect.stringMatching(/public\.ecr\.aws/),
    });
  });

  it("rejects unknown keys", () => {
    expect(problems("region: eu-west-1\nregistryIds: ['123456789012']")[0]!.path).toMatch(/^registries\[0\]/);
  });
});
