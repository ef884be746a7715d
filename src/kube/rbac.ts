import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1Role,
  V1RoleBinding,
  V1ServiceAccount,
} from "@kubernetes/client-node";

/**
 * The least the daemon needs, in one place: the Helm chart renders the same rules (its test
 * compares them), `regcred rbac` prints them, and the integration tests run regcred with a
 * token bound to nothing else.
 *
 * Secrets are cluster-wide because targets select namespaces by glob and label, and
 * create cannot be limited by name. Deletes are only ever issued for Secrets carrying
 * regcred's labels, with the UID as a precondition.
 */
export const CLUSTER_RULES: NonNullable<V1ClusterRole["rules"]> = [
  { apiGroups: [""], resources: ["namespaces"], verbs: ["get", "list", "watch"] },
  { apiGroups: [""], resources: ["secrets"], verbs: ["get", "list", "watch", "create", "patch", "delete"] },
  { apiGroups: [""], resources: ["serviceaccounts"], verbs: ["get", "list", "watch", "patch"] },
  { apiGroups: ["events.k8s.io"], resources: ["events"], verbs: ["create", "patch"] },
  // Self-healing pulls (src/kube/pull-events.ts): kubelet's pull-failure Events through core/v1,
  // whose field selectors (reason, source, involvedObject.kind) narrow the watch to them, and the
  // failing Pod's spec (which pull Secrets it carries, who controls it).
  { apiGroups: [""], resources: ["events"], verbs: ["list", "watch"] },
  { apiGroups: [""], resources: ["pods"], verbs: ["get"] },
];

/** Only with `healing.enabled`: delete a stuck Pod (by UID) so its controller recreates it. */
export const HEALING_RULES: NonNullable<V1ClusterRole["rules"]> = [
  { apiGroups: [""], resources: ["pods"], verbs: ["delete"] },
];

/** The ClusterRole's rules for a config: `pods delete` only when healing is on. */
export function clusterRules(options: { healing?: boolean } = {}): NonNullable<V1ClusterRole["rules"]> {
  return [...CLUSTER_RULES, ...(options.healing ? HEALING_RULES : [])];
}

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
      rules: clusterRules({ healing: options.healing ?? false }),
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
