import * as z from "../base/zod.ts";
import { providerDefinitions, providerKinds, type RegistrySettings } from "../../providers/index.ts";
import { labelSelector, namespaceGlob } from "./selector.ts";
import { formatDuration, timerDuration } from "../base/duration.ts";
import { annotationMap, dnsLabel, dnsSubdomain, isDnsSubdomain, labelMap } from "./kube-names.ts";
import {
  DEFAULT_REFRESH,
  checkPolicy,
  mergeRefresh,
  refreshOverride,
  type RefreshPolicy,
} from "../base/refresh.ts";
import { LABEL_MANAGED_BY, LABEL_TARGET } from "../base/labels.ts";
import { healingSchema, pullFailuresSchema } from "./pull-failures.ts";
import { verifyPolicy, type RegistryCheckSetting, type VerifyPolicy } from "../base/registry-check.ts";

/** client-go's JitterFactor, as in src/kube/lease.ts. */
const LEASE_JITTER = 1.2;

// A Secret name is a DNS subdomain (253), but it is also the value of label regcred.io/secret,
// and a label value has at most 63 characters: a longer name fails every write.
const secretName = z
  .string()
  .check(
    z.maxLength(63, `expected at most 63 characters (the name is also the value of label ${LABEL_TARGET})`),
    z.regex(
      /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/,
      "expected a Kubernetes Secret name (lowercase DNS subdomain)",
    ),
  );

/** Keys regcred writes itself: a configured value would be overwritten, or would disown the Secret. */
function reservedKey(key: string): boolean {
  return key.startsWith("regcred.io/") || key === LABEL_MANAGED_BY;
}

function withoutReserved<T extends z.ZodMiniType<Record<string, string>>>(map: T, what: string) {
  return map.check(
    z.superRefine((entries: Record<string, string>, ctx) => {
      for (const key of Object.keys(entries)) {
        if (reservedKey(key)) {
          ctx.addIssue({
            code: "custom",
            path: [key],
            message: `reserved: regcred sets this ${what} itself (keys under regcred.io/ and ${LABEL_MANAGED_BY})`,
          });
        }
      }
    }),
  );
}

// The table is open-ended, so the union is built at run time; its type is the table's.
const registryEntries = z.discriminatedUnion(
  "provider",
  providerDefinitions.map((p) => p.schema) as unknown as [z.ZodMiniObject, ...z.ZodMiniObject[]],
  {
    error: (issue) =>
      issue.code === "invalid_union" || issue.code === "invalid_type"
        ? `expected provider to be one of: ${providerKinds.join(", ")}`
        : undefined,
  },
) as unknown as z.ZodMiniType<RegistrySettings>;

const serviceAccountName = z.string().check(
  z.refine((s) => s === "*" || isDnsSubdomain(s), {
    message: 'expected a ServiceAccount name or "*"',
  }),
);

const target = z.strictObject({
  /** The Secret's name in every target namespace. */
  name: secretName,
  /** Registries merged into this Secret's .dockerconfigjson. */
  registries: z.array(z.string()).check(z.minLength(1, "expected at least one registry name")),
  namespaces: z._default(
    z.strictObject({
      include: z._default(z.array(namespaceGlob).check(z.minLength(1)), ["*"]),
      exclude: z._default(z.array(namespaceGlob), []),
      selector: z.optional(labelSelector),
    }),
    { include: ["*"], exclude: [] },
  ),
  /** ServiceAccounts whose imagePullSecrets get this Secret: names, "default", or "*". */
  serviceAccounts: z._default(z.array(serviceAccountName), []),
  /** Take over a same-named Secret that regcred did not create. */
  adopt: z._default(z.boolean(), false),
  labels: z.optional(withoutReserved(labelMap, "label")),
  annotations: z.optional(withoutReserved(annotationMap, "annotation")),
});

export const configSchema = z
  .strictObject({
    registries: z.array(registryEntries).check(z.minLength(1, "expected at least one registry")),
    secrets: z.array(target).check(z.minLength(1, "expected at least one secret")),
    refresh: z.optional(refreshOverride),
    server: z._default(
      z.strictObject({
        port: z._default(z.number().check(z.int(), z.gte(0), z.lte(65535)), 8080),
        // "::" is dual-stack (IPv4 arrives as ::ffff:a.b.c.d), so probes reach the pod on
        // IPv4-only, dual-stack and IPv6-only clusters; a host without IPv6 falls back to 0.0.0.0.
        host: z._default(z.string().check(z.minLength(1)), "::"),
      }),
      { port: 8080, host: "::" },
    ),
    kubernetes: z._default(
      z.strictObject({
        /**
         * This installation's name, a label on its Secrets: several regcred installations in one
         * cluster never touch each other's Secrets or ServiceAccount entries.
         */
        instance: z._default(
          z.string().check(
            // Also the tail of annotation key regcred.io/image-pull-secrets.<instance>, whose name
            // part the API server caps at 63 characters: 19 + 40 leaves room.
            z.maxLength(40, "expected at most 40 characters (it is part of a ServiceAccount annotation key)"),
            z.regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, "expected a lowercase DNS label"),
          ),
          "regcred",
        ),
        /** Parallel writes to the API server. */
        concurrency: z._default(z.number().check(z.int(), z.gte(1), z.lte(256)), 32),
        leaderElection: z._default(
          z
            .strictObject({
              enabled: z._default(z.boolean(), false),
              /** The Lease's namespace; default: the Pod's (POD_NAMESPACE), else "default". */
              namespace: z.optional(dnsLabel("a namespace name")),
              name: z._default(dnsSubdomain("a Kubernetes object name"), "regcred"),
              leaseDuration: z._default(
                timerDuration(1_000, "the Lease's duration is whole seconds"),
                15_000,
              ),
              renewDeadline: z._default(timerDuration(100, "shorter renewals are a hot loop"), 10_000),
              retryPeriod: z._default(timerDuration(100, "shorter retries are a hot loop"), 2_000),
            })
            .check(
              z.superRefine((election, ctx) => {
                // The same rules as client-go's NewLeaderElector (and src/kube/lease.ts, which
                // would otherwise throw them at start-up, after the config was accepted).
                if (election.renewDeadline >= election.leaseDuration) {
                  ctx.addIssue({
                    code: "custom",
                    path: ["renewDeadline"],
                    message: `expected less than leaseDuration (${formatDuration(election.leaseDuration)}): the leader must step down before another replica may take over`,
                  });
                }
                if (election.renewDeadline <= LEASE_JITTER * election.retryPeriod) {
                  ctx.addIssue({
                    code: "custom",
                    path: ["retryPeriod"],
                    message: `expected less than renewDeadline / ${LEASE_JITTER} (${formatDuration(election.renewDeadline / LEASE_JITTER)}): the leader needs more than one renewal attempt before its deadline`,
                  });
                }
              }),
            ),
          {
            enabled: false,
            name: "regcred",
            leaseDuration: 15_000,
            renewDeadline: 10_000,
            retryPeriod: 2_000,
          },
        ),
        /** Post Kubernetes Events (Warning on conflicts and failed refreshes, Normal on creation). */
        events: z._default(z.boolean(), true),
        /**
         * Names of Secrets regcred once wrote and no target has any more: regcred deletes its own
         * Secrets of these names, and RBAC grants them. Least RBAC grants Secrets by name only, so
         * a target taken out of `secrets` is collected once its name is listed here.
         */
        retiredSecrets: z._default(z.array(secretName), []),
      }),
      {
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
        retiredSecrets: [],
      },
    ),
    log: z._default(
      z.strictObject({
        level: z._default(z.enum(["trace", "debug", "info", "warn", "error", "fatal", "silent"]), "info"),
      }),
      { level: "info" },
    ),
    // Self-healing pulls: src/config/pull-failures.ts.
    pullFailures: pullFailuresSchema,
    healing: healingSchema,
  })
  .check(
    z.superRefine((config, ctx) => {
      /** Notes where a name first appears in `list`; a later one is a duplicate. */
      const claim = (
        names: Map<string, number>,
        list: "registries" | "secrets",
        what: string,
        name: string,
        i: number,
      ) => {
        if (!names.has(name)) names.set(name, i);
        else {
          ctx.addIssue({
            code: "custom",
            path: [list, i, "name"],
            message: `duplicate ${what} name ${JSON.stringify(name)} (also ${list}[${names.get(name)}])`,
          });
        }
      };
      const registryNames = new Map<string, number>();
      config.registries.forEach((r, i) => claim(registryNames, "registries", "registry", r.name, i));
      const secretNames = new Map<string, number>();
      config.secrets.forEach((s, i) => {
        claim(secretNames, "secrets", "secret", s.name, i);
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
      config.kubernetes.retiredSecrets.forEach((name, i) => {
        if (secretNames.has(name)) {
          ctx.addIssue({
            code: "custom",
            path: ["kubernetes", "retiredSecrets", i],
            message: `expected a name no target has: ${JSON.stringify(name)} is secrets[${secretNames.get(name)}], whose Secrets regcred keeps`,
          });
        }
      });
      const base = mergeRefresh(DEFAULT_REFRESH, config.refresh);
      const baseProblems = checkPolicy(base);
      for (const problem of baseProblems)
        ctx.addIssue({ code: "custom", path: ["refresh"], message: problem });
      config.registries.forEach((r, i) => {
        const policy = mergeRefresh(base, (r as { refresh?: object }).refresh);
        // A problem the top-level policy already has is reported once, there.
        for (const problem of checkPolicy(policy).filter((p) => !baseProblems.includes(p))) {
          ctx.addIssue({ code: "custom", path: ["registries", i, "refresh"], message: problem });
        }
        // A lifetime no longer than the margin is due for refresh the moment it is minted.
        const definition = providerDefinitions.find((p) => p.kind === r.provider) as
          | { knownLifetimes?(settings: RegistrySettings): Array<{ path: PropertyKey[]; ms: number }> }
          | undefined;
        for (const { path, ms } of definition?.knownLifetimes?.(r) ?? []) {
          if (ms <= policy.margin) {
            ctx.addIssue({
              code: "custom",
              path: ["registries", i, ...path],
              message: `expected longer than refresh.margin (${formatDuration(policy.margin)}), got ${formatDuration(ms)}: each credential would be due for refresh the moment it is minted`,
            });
          }
        }
      });
    }),
  );

type Parsed = z.infer<typeof configSchema>;
export type Target = Parsed["secrets"][number];

export interface RegistryConfig {
  name: string;
  provider: string;
  refresh: RefreshPolicy;
  /** Check each new credential with its registry before rollout; null: off (`registryCheck: false`). */
  verify: VerifyPolicy | null;
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
  pullFailures: Parsed["pullFailures"];
  healing: Parsed["healing"];
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
      verify: verifyPolicy((settings as { registryCheck?: RegistryCheckSetting }).registryCheck),
      settings: settings as RegistrySettings,
    })),
    secrets: parsed.secrets,
    server: parsed.server,
    kubernetes: parsed.kubernetes,
    log: parsed.log,
    pullFailures: parsed.pullFailures,
    healing: parsed.healing,
  };
}
