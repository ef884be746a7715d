import { ECR_PUBLIC_REGION, REGION_PATTERN, isEcrPublicKey, parseEcrHost, partitionOf } from "./hosts.ts";
import * as z from "zod/mini";
import { registryEntry, registryKey, secretRef, forbiddenInline, duration } from "../kit.ts";

const region = z
  .string()
  .check(z.regex(REGION_PATTERN, "expected an AWS region such as eu-west-1 or us-gov-west-1"));

/** Another name for a registry of one of the entry's regions: a VPC endpoint, a proxy, a CNAME. */
const alias = z.strictObject({ host: registryKey, region });

const staticKeys = z.strictObject({
  accessKeyIdFrom: secretRef,
  secretAccessKeyFrom: secretRef,
  /** For temporary keys (ASIA...): their session token. */
  sessionTokenFrom: z.optional(secretRef),
  accessKeyId: forbiddenInline("accessKeyIdFrom"),
  secretAccessKey: forbiddenInline("secretAccessKeyFrom"),
  sessionToken: forbiddenInline("sessionTokenFrom"),
});

const assumeRole = z.strictObject({
  roleArn: z
    .string()
    .check(
      z.regex(
        /^arn:aws[a-z-]*:iam::\d{12}:role\/[\w+=,.@/-]+$/,
        "expected an IAM role ARN such as arn:aws:iam::123456789012:role/ecr-pull",
      ),
    ),
  /** The external ID the role's trust policy requires (a confused-deputy guard, not a secret). */
  externalId: z.optional(
    z.string().check(z.regex(/^[\w+=,.@:/-]{2,1224}$/, "expected 2-1224 characters of [A-Za-z0-9+=,.@:/_-]")),
  ),
  sessionName: z._default(
    z.string().check(z.regex(/^[\w+=,.@-]{2,64}$/, "expected 2-64 characters of [A-Za-z0-9+=,.@_-]")),
    "regcred",
  ),
  /** Session length; STS accepts 15m up to the role's maximum (at most 12h). */
  duration: z.optional(
    duration.check(
      z.refine((ms: number) => ms >= 900_000 && ms <= 43_200_000, "expected a duration between 15m and 12h"),
    ),
  ),
  /** Where STS is called; default: the entry's first region (regional STS, same partition). */
  stsRegion: z.optional(region),
});

export const ecrSchema = registryEntry("ecr", {
  region: z.optional(region),
  /** Every region gets one GetAuthorizationToken per refresh. */
  regions: z.optional(z.array(region).check(z.minLength(1, "expected at least one region"))),
  /**
   * Hosts written besides the one ECR returns (proxyEndpoint): other accounts' registries in the
   * same regions (cross-account pulls), pull-through prefixes, or { host, region } aliases.
   */
  registries: z._default(z.array(z.union([registryKey, alias])), []),
  /** Static keys from files or env; default: the SDK's chain (env, IRSA, Pod Identity, IMDS). */
  auth: z.optional(staticKeys),
  assumeRole: z.optional(assumeRole),
  /** A custom ECR API endpoint, e.g. an interface VPC endpoint's DNS name. One region only. */
  endpoint: z.optional(z.url({ protocol: /^https$/, error: "expected an https:// URL" })),
  /** Call the FIPS endpoint (default: the SDK's, i.e. AWS_USE_FIPS_ENDPOINT or the profile). */
  fips: z.optional(z.boolean()),
  /** Call the dual-stack endpoint (default: AWS_USE_DUALSTACK_ENDPOINT or the profile). */
  dualstack: z.optional(z.boolean()),
  /** ECR Public (public.ecr.aws) instead of private ECR. */
  public: z._default(z.boolean(), false),
  accessKeyId: forbiddenInline("auth.accessKeyIdFrom"),
  secretAccessKey: forbiddenInline("auth.secretAccessKeyFrom"),
}).check(
  z.superRefine((entry, ctx) => {
    if (entry.region !== undefined && entry.regions !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["regions"],
        message: "expected one of region or regions, not both",
      });
      return;
    }
    const regions = entry.regions ?? (entry.region ? [entry.region] : []);
    if (regions.length === 0 && !entry.public) {
      ctx.addIssue({ code: "custom", path: ["region"], message: "expected region or regions" });
      return;
    }
    const seen = new Set<string>();
    regions.forEach((r, i) => {
      if (seen.has(r))
        ctx.addIssue({ code: "custom", path: ["regions", i], message: `duplicate region ${r}` });
      seen.add(r);
    });
    const partitions = new Set(regions.map((r) => partitionOf(r).name));
    if (partitions.size > 1) {
      ctx.addIssue({
        code: "custom",
        path: [entry.regions ? "regions" : "region"],
        message: `expected regions of one AWS partition (credentials do not cross partitions), got ${[...partitions].join(" and ")}: use one entry per partition`,
      });
    }
    if (entry.public) {
      if (regions.some((r) => r !== ECR_PUBLIC_REGION)) {
        ctx.addIssue({
          code: "custom",
          path: [entry.regions ? "regions" : "region"],
          message: `ECR Public issues tokens in ${ECR_PUBLIC_REGION} only`,
        });
      }
    } else if (entry.endpoint && regions.length > 1) {
      ctx.addIssue({
        code: "custom",
        path: ["endpoint"],
        message:
          "an endpoint serves one region: expected a single region with endpoint (use one entry per region)",
      });
    }
    const allowed = entry.public ? [ECR_PUBLIC_REGION] : regions;
    entry.registries.forEach((item, i) => {
      if (typeof item !== "string") {
        if (!allowed.includes(item.region)) {
          ctx.addIssue({
            code: "custom",
            path: ["registries", i, "region"],
            message: `${item.region} is not one of this entry's regions (${allowed.join(", ")})`,
          });
        }
        return;
      }
      if (entry.public) {
        if (!isEcrPublicKey(item)) {
          ctx.addIssue({
            code: "custom",
            path: ["registries", i],
            message: `an ECR Public token is for public.ecr.aws: expected public.ecr.aws[/path] or a { host, region } alias, got ${JSON.stringify(item)}`,
          });
        }
        return;
      }
      const parsed = parseEcrHost(item);
      if (!parsed.ok) {
        ctx.addIssue({ code: "custom", path: ["registries", i], message: parsed.error });
      } else if (!regions.includes(parsed.host.region)) {
        ctx.addIssue({
          code: "custom",
          path: ["registries", i],
          message: `${JSON.stringify(item)} is in ${parsed.host.region}, which is not one of this entry's regions (${regions.join(", ")}): an ECR token only works in the region it was issued for`,
        });
      }
    });
    if (entry.assumeRole?.stsRegion && regions.length > 0) {
      const sts = partitionOf(entry.assumeRole.stsRegion).name;
      const own = partitionOf(regions[0]!).name;
      if (sts !== own) {
        ctx.addIssue({
          code: "custom",
          path: ["assumeRole", "stsRegion"],
          message: `stsRegion is in partition ${sts}, the regions in ${own}`,
        });
      }
    }
    if (entry.assumeRole) {
      const arnPartition = /^arn:([a-z-]+):/.exec(entry.assumeRole.roleArn)?.[1];
      const own = partitionOf(entry.public ? ECR_PUBLIC_REGION : regions[0]!).name;
      if (arnPartition && arnPartition !== own) {
        ctx.addIssue({
          code: "custom",
          path: ["assumeRole", "roleArn"],
          message: `the role is in partition ${arnPartition}, the regions in ${own}`,
        });
      }
    }
  }),
);

export type EcrSettings = z.infer<typeof ecrSchema>;

/** The regions an entry mints in: ECR Public always us-east-1. */
export function regionsOf(settings: EcrSettings): string[] {
  if (settings.public) return [ECR_PUBLIC_REGION];
  return settings.regions ?? [settings.region!];
}
