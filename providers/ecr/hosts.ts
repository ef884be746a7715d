/**
 * ECR registry host forms and AWS partitions. The pattern follows the one AWS ships in
 * amazon-ecr-credential-helper (ecr-login/api/client.go) and the kubelet ECR credential
 * provider: `<12 digits>.dkr.ecr[-fips].<region>.<partition suffix>` for IPv4 hosts and
 * `<12 digits>.dkr-ecr[-fips].<region>.on.aws` for dual-stack ones.
 */

export const ECR_PUBLIC_HOST = "public.ecr.aws";
export const ECR_PUBLIC_REGION = "us-east-1";

export interface Partition {
  name: string;
  /** Suffix of IPv4 registry hosts. */
  suffix: string;
  /** Suffix of dual-stack registry hosts. */
  dualstackSuffix: string | undefined;
  matches(region: string): boolean;
}

// Order matters: the first partition whose matcher accepts a region wins.
export const PARTITIONS: readonly Partition[] = [
  {
    name: "aws-cn",
    suffix: "amazonaws.com.cn",
    dualstackSuffix: "on.amazonwebservices.com.cn",
    matches: (r) => r.startsWith("cn-"),
  },
  {
    name: "aws-us-gov",
    suffix: "amazonaws.com",
    dualstackSuffix: "on.aws",
    matches: (r) => r.startsWith("us-gov-"),
  },
  {
    name: "aws-iso",
    suffix: "c2s.ic.gov",
    dualstackSuffix: undefined,
    matches: (r) => r.startsWith("us-iso-"),
  },
  {
    name: "aws-iso-b",
    suffix: "sc2s.sgov.gov",
    dualstackSuffix: undefined,
    matches: (r) => r.startsWith("us-isob-"),
  },
  {
    name: "aws-iso-e",
    suffix: "cloud.adc-e.uk",
    dualstackSuffix: undefined,
    matches: (r) => r.startsWith("eu-isoe-"),
  },
  {
    name: "aws-iso-f",
    suffix: "csp.hci.ic.gov",
    dualstackSuffix: undefined,
    matches: (r) => r.startsWith("us-isof-"),
  },
  {
    name: "aws-eusc",
    suffix: "amazonaws.eu",
    dualstackSuffix: undefined,
    matches: (r) => r.startsWith("eusc-"),
  },
  { name: "aws", suffix: "amazonaws.com", dualstackSuffix: "on.aws", matches: () => true },
];

/** A region name as AWS spells them: eu-west-1, us-gov-west-1, cn-northwest-1, us-isob-east-1. */
export const REGION_PATTERN = /^[a-z]{2,4}(-[a-z]+)+-\d{1,2}$/;

export function partitionOf(region: string): Partition {
  return PARTITIONS.find((p) => p.matches(region))!;
}

export interface EcrHost {
  account: string;
  region: string;
  fips: boolean;
  dualstack: boolean;
  partition: Partition;
}

const HOST = /^(\d{12})\.dkr([.-])ecr(-fips)?\.([a-z0-9][a-z0-9-]*)\.([a-z0-9.-]+)$/;

export type HostParse = { ok: true; host: EcrHost } | { ok: false; error: string };

/**
 * Parses a private ECR registry host (a registry key, optionally with a path prefix such as a
 * pull-through cache namespace). The error says what is wrong, for config messages.
 */
export function parseEcrHost(key: string): HostParse {
  const host = key.split("/")[0]!;
  const m = HOST.exec(host);
  if (!m) {
    return {
      ok: false,
      error:
        `${JSON.stringify(host)} is not an ECR registry host (expected <account>.dkr.ecr.<region>.amazonaws.com, ` +
        `.dkr.ecr-fips., dual-stack <account>.dkr-ecr.<region>.on.aws, or .amazonaws.com.cn); ` +
        `for another name (a VPC endpoint or proxy alias) write { host: ..., region: ... }`,
    };
  }
  const [, account, separator, fips, region, suffix] = m as unknown as [
    string,
    string,
    string,
    string | undefined,
    string,
    string,
  ];
  if (!REGION_PATTERN.test(region)) {
    return {
      ok: false,
      error: `${JSON.stringify(host)}: ${JSON.stringify(region)} is not an AWS region name`,
    };
  }
  const partition = partitionOf(region);
  const dualstack = separator === "-";
  const expected = dualstack ? partition.dualstackSuffix : partition.suffix;
  if (expected === undefined) {
    return {
      ok: false,
      error: `${JSON.stringify(host)}: partition ${partition.name} has no dual-stack registry hosts`,
    };
  }
  if (suffix !== expected) {
    const form = dualstack
      ? `<account>.dkr-ecr${fips ?? ""}.${region}.${expected}`
      : `<account>.dkr.ecr${fips ?? ""}.${region}.${expected}`;
    return {
      ok: false,
      error: `${JSON.stringify(host)}: registries in ${region} (partition ${partition.name}) are named ${form}`,
    };
  }
  return { ok: true, host: { account, region, fips: fips !== undefined, dualstack, partition } };
}

/** True when the key names ECR Public (public.ecr.aws, optionally with a path prefix). */
export function isEcrPublicKey(key: string): boolean {
  return key === ECR_PUBLIC_HOST || key.startsWith(`${ECR_PUBLIC_HOST}/`);
}
