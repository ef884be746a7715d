import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1Role,
  V1RoleBinding,
  V1ServiceAccount,
} from "@kubernetes/client-node";
import type { Config } from "../config/schema.ts";

/**
 * The least the daemon needs, in one place: the Helm chart renders the same rules (its test
 * compares them), `regcred rbac -c config.yaml` prints them, and the integration tests run
 * regcred with a token bound to nothing else.
 *
 * Secrets by name: get, list, watch, patch and delete are limited by resourceNames to the
 * names regcred manages (managedSecretNames). The API server authorizes a list or watch whose
 * field selector is `metadata.name=X` as a request for X, which is how every Secret watch of
 * regcred's is made. Only create is unrestricted: the API cannot limit it by name. Deletes are
 * only ever issued for Secrets carrying regcred's labels, with the UID as a precondition.
 */
export function clusterRules(options: {
  secretNames: readonly string[];
  healing?: boolean;
}): NonNullable<V1ClusterRole["rules"]> {
  return [
    { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch"] },
    ...secretRules(options.secretNames),
    { apiGroups: [""], resources: ["serviceaccounts"], verbs: ["get", "list", "watch", "patch"] },
    { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] },
    // Self-healing pulls (src/kube/pull-events.ts): kubelet's pull-failure Events through core/v1,
    // whose field selectors (reason, source, involvedObject.kind) narrow the watch to them, and the
    // failing Pod's spec (which pull Secrets it carries, who controls it).
    { apiGroups: [""], resources: ["events"], verbs: ["list", "watch"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["get"] },
    ...(options.healing ? HEALING_RULES : []),
  ];
}

function secretRules(names: readonly string[]): NonNullable<V1ClusterRole["rules"]> {
  const rules: NonNullable<V1ClusterRole["rules"]> = [
    { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
  ];
  // An empty resourceNames means every name: with nothing to manage, grant nothing.
  if (names.length > 0) {
    rules.push({
      apiGroups: [""],
      resources: ["secrets"],
      resourceNames: [...names],
      verbs: ["get", "list", "watch", "patch", "delete"],
    });
  }
  return rules;
}

/**
 * The Secret names regcred reads or writes, sorted: every target's, every retired target's
 * (kubernetes.retiredSecrets: still collected), and every mirror registry's source Secret.
 * The chart computes the same list from its values (templates/_helpers.tpl,
 * regcred.managedSecretNames).
 */
export function managedSecretNames(config: Pick<Config, "secrets" | "registries" | "kubernetes">): string[] {
  const names = new Set<string>([...config.secrets.map((t) => t.name), ...config.kubernetes.retiredSecrets]);
  for (const r of config.registries) {
    const source = mirrorSource(r.settings);
    if (r.provider === "mirror" && source) names.add(source);
  }
  return [...names].sort();
}

/** A mirror registry's source Secret name, read structurally (settings are the provider's). */
function mirrorSource(settings: unknown): string | undefined {
  const source = (settings as { source?: unknown }).source;
  if (typeof source !== "object" || source === null) return undefined;
  const name = (source as { name?: unknown }).name;
  return typeof name === "string" ? name : undefined;
}

/** Only with `healing.enabled`: delete a stuck Pod (by UID) so its controller recreates it. */
export const HEALING_RULES: NonNullable<V1ClusterRole["rules"]> = [
  { apiGroups: [""], resources: ["pods"], verbs: ["delete"] },
];

/** Leader election: only the one Lease, in regcred's own namespace. */
export function leaseRules(leaseName: string): NonNullable<V1Role["rules"]> {
  return [
    // create cannot be limited to a name: the Lease does not exist yet when it is created.
    { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
    {
      apiGroups: ["coordination.k8s.io"],
      resources: ["leases"],
      resourceNames: [leaseName],
      verbs: ["get", "update", "patch"],
    },
  ];
}

export interface RbacOptions {
  namespace: string;
  serviceAccount?: string;
  leaseName?: string;
  /** Prefix of the cluster-scoped names; the chart uses its release name. */
  name?: string;
  /** The Secret names the rules grant: managedSecretNames(config). */
  secretNames: readonly string[];
  /** The config's healing.enabled: adds pods delete. */
  healing?: boolean;
}

export function rbacManifests(
  options: RbacOptions,
): Array<V1ServiceAccount | V1ClusterRole | V1ClusterRoleBinding | V1Role | V1RoleBinding> {
  const name = options.name ?? "regcred";
  const sa = options.serviceAccount ?? "regcred";
  const labels = { "app.kubernetes.io/name": "regcred" };
  const subject = [{ kind: "ServiceAccount", name: sa, namespace: options.namespace }];
  return [
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: sa, namespace: options.namespace, labels },
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name, labels },
      rules: clusterRules({ secretNames: options.secretNames, healing: options.healing ?? false }),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
      subjects: subject,
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: `${name}-leader-election`, namespace: options.namespace, labels },
      rules: leaseRules(options.leaseName ?? "regcred"),
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: `${name}-leader-election`, namespace: options.namespace, labels },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: `${name}-leader-election` },
      subjects: subject,
    },
  ];
}
