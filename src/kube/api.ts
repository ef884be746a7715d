import type {
  CoreV1EventList,
  EventsV1Event,
  KubeConfig,
  V1Lease,
  V1NamespaceList,
  V1Pod,
  V1Secret,
  V1SecretList,
  V1ServiceAccount,
  V1ServiceAccountList,
} from "@kubernetes/client-node";
import { RawClient } from "./raw.ts";
import { secretPath } from "./secrets/paths.ts";

/** List options, with the API's own names (`continue`, not the generated client's `_continue`). */
export interface ListQuery {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
}

const seg = encodeURIComponent;

function query(q: ListQuery): string {
  const params = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== "") params.set(k, String(v));
  const s = params.toString();
  return s ? `?${s}` : "";
}

/**
 * Every API call regcred makes besides the Secret writer's and the watches, as JSON over the
 * shared pool (raw.ts). Types come from client-node; its generated client does not: its
 * serializer holds every model of every API group, and that code and its tables were most of
 * what the daemon loaded. Objects arrive as the API server sent them (timestamps as strings).
 */
export class KubeApi {
  private readonly raw: RawClient;

  constructor(kc: KubeConfig, timeoutMs = 30_000) {
    this.raw = new RawClient(kc, timeoutMs);
  }

  readSecret(namespace: string, name: string, signal?: AbortSignal): Promise<V1Secret> {
    return this.raw.call("GET", secretPath(namespace, name), undefined, { signal });
  }

  /** Secrets of one namespace, or of all when `namespace` is undefined. */
  listSecrets(namespace: string | undefined, q: ListQuery): Promise<V1SecretList> {
    const base = namespace === undefined ? "/api/v1/secrets" : `/api/v1/namespaces/${seg(namespace)}/secrets`;
    return this.raw.call("GET", base + query(q));
  }

  listNamespaces(q: ListQuery): Promise<V1NamespaceList> {
    return this.raw.call("GET", `/api/v1/namespaces${query(q)}`);
  }

  listServiceAccounts(q: ListQuery): Promise<V1ServiceAccountList> {
    return this.raw.call("GET", `/api/v1/serviceaccounts${query(q)}`);
  }

  readServiceAccount(namespace: string, name: string): Promise<V1ServiceAccount> {
    return this.raw.call("GET", serviceAccountPath(namespace, name));
  }

  /** A JSON patch (RFC 6902): its `test` ops make a concurrent edit a 409. */
  jsonPatchServiceAccount(
    namespace: string,
    name: string,
    ops: readonly object[],
  ): Promise<V1ServiceAccount> {
    return this.raw.call("PATCH", serviceAccountPath(namespace, name), ops, {
      contentType: "application/json-patch+json",
    });
  }

  readPod(namespace: string, name: string): Promise<V1Pod> {
    return this.raw.call("GET", `/api/v1/namespaces/${seg(namespace)}/pods/${seg(name)}`);
  }

  /** Deletes the Pod only if it is still the one with this UID (a namesake may replace it). */
  deletePod(namespace: string, name: string, uid: string): Promise<unknown> {
    return this.raw.call("DELETE", `/api/v1/namespaces/${seg(namespace)}/pods/${seg(name)}`, {
      preconditions: { uid },
    });
  }

  /** core/v1 Events across all namespaces (kubelet's pull failures are posted there). */
  listCoreEvents(q: ListQuery): Promise<CoreV1EventList> {
    return this.raw.call("GET", `/api/v1/events${query(q)}`);
  }

  createEvent(namespace: string, body: EventsV1Event): Promise<EventsV1Event> {
    return this.raw.call("POST", `/apis/events.k8s.io/v1/namespaces/${seg(namespace)}/events`, body);
  }

  readLease(namespace: string, name: string): Promise<V1Lease> {
    return this.raw.call("GET", leasePath(namespace, name));
  }

  createLease(namespace: string, body: V1Lease): Promise<V1Lease> {
    return this.raw.call("POST", `/apis/coordination.k8s.io/v1/namespaces/${seg(namespace)}/leases`, body);
  }

  /** A whole-object update: its metadata.resourceVersion makes a stale one a 409. */
  replaceLease(namespace: string, name: string, body: V1Lease): Promise<V1Lease> {
    return this.raw.call("PUT", leasePath(namespace, name), body);
  }
}

const serviceAccountPath = (namespace: string, name: string) =>
  `/api/v1/namespaces/${seg(namespace)}/serviceaccounts/${seg(name)}`;

const leasePath = (namespace: string, name: string) =>
  `/apis/coordination.k8s.io/v1/namespaces/${seg(namespace)}/leases/${seg(name)}`;

/**
 * A metav1.MicroTime as the API server parses it (RFC 3339 with exactly six fractional digits):
 * Lease renew times and Event times. JavaScript clocks have milliseconds, so the last three are 0.
 */
export function microTime(ms: number): string {
  return new Date(ms).toISOString().replace(/Z$/, "000Z");
}
