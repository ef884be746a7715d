import { z } from "zod";
import { providerDefinitions, providerKinds, type RegistrySettings } from "../../providers/index.ts";
import { labelSelector, namespaceGlob } from "./selector.ts";
import { duration } from "./duration.ts";
import {
  DEFAULT_REFRESH,
  checkPolicy,
  mergeRefresh,
  refreshOverride,
  type RefreshPolicy,
} from "./refresh.ts";

// Secret names are DNS subdomains (253 chars), unlike the DNS-label registry names.
const secretName = z
  .string()
  .max(253, "expected at most 253 characters")
  .regex(
    /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
    "expected a Kubernetes Secret name (lowercase DNS subdomain)",
  );

// The table is open-ended, so the union is built at run time; its type is the table's.
const registryEntries = z.discriminatedUnion(
  "provider",
  providerDefinitions.map((p) => p.schema) as unknown as [z.ZodObject, ...z.ZodObject[]],
  {
    error: (issue) =>
      issue.code === "invalid_union" || issue.code === "invalid_type"
        ? `expected provider to be one of: ${providerKinds.join(", ")}`
        : undefined,
  },
) as unknown as z.ZodType<RegistrySettings>;

const serviceAccountName = z
  .string()
  .refine((s) => s === "*" || /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/.test(s), {
    message: 'expected a ServiceAccount name or "*"',
  });

const target = z.strictObject({
  /** The Secret's name in every target namespace. */
  name: secretName,
  /** Registries merged into this Secret's .dockerconfigjson. */
  registries: z.array(z.string()).min(1, "expected at least one registry name"),
  namespaces: z
    .strictObject({
      include: z.array(namespaceGlob).min(1).default(["*"]),
      exclude: z.array(namespaceGlob).default([]),
      selector: labelSelector.optional(),
    })
    .default({ include: ["*"], exclude: [] }),
  /** ServiceAccounts whose imagePullSecrets get this Secret: names, "default", or "*". */
  serviceAccounts: z.array(serviceAccountName).default([]),
  /** Take over a same-named Secret that regcred did not create. */
  adopt: z.boolean().default(false),
  labels: z.record(z.string(), z.string()).optional(),
  annotations: z.record(z.string(), z.string()).optional(),
});

export const configSchema = z
  .strictObject({
    registries: z.array(registryEntries).min(1, "expected at least one registry"),
    secrets: z.array(target).min(1, "expected at least one secret"),
    refresh: refreshOverride.optional(),
    server: z
      .strictObject({
        port: z.number().int().min(0).max(65535).default(8080),
        // "::" is dual-stack (IPv4 arrives as ::ffff:a.b.c.d), so probes reach the pod on
        // IPv4-only, dual-stack and IPv6-only clusters; a host without IPv6 falls back to 0.0.0.0.
        host: z.string().min(1).default("::"),
      })
      .default({ port: 8080, host: "::" }),
    kubernetes: z
      .strictObject({
        /**
         * This installation's name, a label on its Secrets: several regcred installations in one
         * cluster never touch each other's Secrets or ServiceAccount entries.
         */
        instance: z
          .string()
          .max(40)
          .regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "expected a lowercase DNS label")
          .default("regcred"),
        /** Parallel writes to the API server. */
        concurrency: z.number().int().min(1).max(256).default(32),
        leaderElection: z
          .strictObject({
            enabled: z.boolean().default(false),
            /** The Lease's namespace; default: the Pod's (POD_NAMESPACE), else "default". */
            namespace: z.string().optional(),
            name: z.string().default("regcred"),
            leaseDuration: duration.default(15_000),
            renewDeadline: duration.default(10_000),
            retryPeriod: duration.default(2_000),
          })
          .default({
            enabled: false,
            name: "regcred",
            leaseDuration: 15_000,
            renewDeadline: 10_000,
            retryPeriod: 2_000,
          }),
        /** Post Kubernetes Events (Warning on conflicts and failed refreshes, Normal on creation). */
        events: z.boolean().default(true),
      })
      .default({
        instance: "regcred",
        concurrency: 32,
        leaderElection: {
          enabled: false,
          name: "regcred",
          leaseDuration: 15_000,
          renewDeadline: 10_000,
          retryPeriod: 2_000,
        },
        events: true,
      }),
    log: z
      .strictObject({
        level: z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]).default("info"),
      })
      .default({ level: "info" }),
  })
  .superRefine((config, ctx) => {
    const registryNames = new Map<string, number>();
    config.registries.forEach((r, i) => {
      if (registryNames.has(r.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["registries", i, "name"],
          message: `duplicate registry name ${JSON.stringify(r.name)} (also registries[${registryNames.get(r.name)}])`,
        });
      } else registryNames.set(r.name, i);
    });
    const secretNames = new Map<string, number>();
    config.secrets.forEach((s, i) => {
      if (secretNames.has(s.name)) {
        ctx.addIssue({
          code: "custom",
          path: ["secrets", i, "name"],
          message: `duplicate secret name ${JSON.stringify(s.name)} (also secrets[${secretNames.get(s.name)}])`,
        });
      } else secretNames.set(s.name, i);
      s.registries.forEach((ref, j) => {
        if (!registryNames.has(ref)) {
          ctx.addIssue({
            code: "custom",
            path: ["secrets", i, "registries", j],
            message: `unknown registry ${JSON.stringify(ref)}; expected one of: ${[...registryNames.keys()].join(", ")}`,
          });
        }
      });
    });
    const base = mergeRefresh(DEFAULT_REFRESH, config.refresh);
    for (const problem of checkPolicy(base))
      ctx.addIssue({ code: "custom", path: ["refresh"], message: problem });
    config.registries.forEach((r, i) => {
      for (const problem of checkPolicy(mergeRefresh(base, (r as { refresh?: object }).refresh))) {
        ctx.addIssue({ code: "custom", path: ["registries", i, "refresh"], message: problem });
      }
    });
  });

type Parsed = z.infer<typeof configSchema>;
export type Target = Parsed["secrets"][number];

export interface RegistryConfig {
  name: string;
  provider: string;
  refresh: RefreshPolicy;
  settings: RegistrySettings;
}

export interface Config {
  /** The file it came from, for messages; relative secret paths resolve against its folder. */
  file: string;
  registries: RegistryConfig[];
  secrets: Target[];
  refresh: RefreshPolicy;
  server: Parsed["server"];
  kubernetes: Parsed["kubernetes"];
  log: Parsed["log"];
}

export function toConfig(file: string, parsed: Parsed): Config {
  const refresh = mergeRefresh(DEFAULT_REFRESH, parsed.refresh);
  return {
    file,
    refresh,
    registries: parsed.registries.map((settings) => ({
      name: settings.name,
      provider: settings.provider,
      refresh: mergeRefresh(refresh, (settings as { refresh?: object }).refresh),
      settings: settings as RegistrySettings,
    })),
    secrets: parsed.secrets,
    server: parsed.server,
    kubernetes: parsed.kubernetes,
    log: parsed.log,
  };
}
