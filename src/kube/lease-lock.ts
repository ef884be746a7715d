import type { KubeConfig, V1Lease } from "@kubernetes/client-node";
import { KubeApi, microTime } from "./api.ts";
import { messageOf, statusOf } from "./client.ts";

/** What a Lease says about leadership (coordination.k8s.io/v1 LeaseSpec, as the elector reads it). */
export interface LeaseRecord {
  holderIdentity: string;
  leaseDurationSeconds: number;
  acquireTime: Date | null;
  renewTime: Date | null;
  leaseTransitions: number;
}

/** A record as the server holds it; `version` guards the next update (resourceVersion). */
export interface Versioned {
  record: LeaseRecord;
  version: string;
}

/** Someone else wrote the lock first (HTTP 409): re-read and decide. */
export class LockConflict extends Error {
  override name = "LockConflict";
}

/**
 * The lock the elector contends for (client-go's resourcelock.Interface). Every write is
 * guarded by the version it was based on, so a stale holder can never overwrite a new one.
 */
export interface Lock {
  describe(): string;
  /** The current record, or null when the lock does not exist yet. */
  get(): Promise<Versioned | null>;
  /** Creates the lock; LockConflict when it exists already. */
  create(record: LeaseRecord): Promise<Versioned>;
  /** Replaces `current` with `record`; LockConflict when the lock changed since `current`. */
  update(current: Versioned, record: LeaseRecord): Promise<Versioned>;
}

/** A Lease object in the API server. */
export class LeaseLock implements Lock {
  private readonly api: KubeApi;
  /** The object as last read or written: its metadata goes back with the next update. */
  private lease: V1Lease | undefined;

  constructor(
    kc: KubeConfig,
    private readonly namespace: string,
    private readonly name: string,
    timeoutMs = 30_000,
  ) {
    this.api = new KubeApi(kc, timeoutMs);
  }

  describe(): string {
    return `${this.namespace}/${this.name}`;
  }

  async get(): Promise<Versioned | null> {
    try {
      return this.keep(await this.api.readLease(this.namespace, this.name));
    } catch (err) {
      if (statusOf(err) === 404) return null;
      throw err;
    }
  }

  async create(record: LeaseRecord): Promise<Versioned> {
    return this.conflicts(async () =>
      this.keep(
        await this.api.createLease(this.namespace, {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata: { name: this.name, namespace: this.namespace },
          spec: toSpec(record),
        }),
      ),
    );
  }

  async update(current: Versioned, record: LeaseRecord): Promise<Versioned> {
    const metadata = { ...this.lease?.metadata, name: this.name, namespace: this.namespace };
    metadata.resourceVersion = current.version;
    return this.conflicts(async () =>
      this.keep(
        await this.api.replaceLease(this.namespace, this.name, {
          apiVersion: "coordination.k8s.io/v1",
          kind: "Lease",
          metadata,
          spec: toSpec(record),
        }),
      ),
    );
  }

  private keep(lease: V1Lease): Versioned {
    this.lease = lease;
    const s = lease.spec ?? {};
    return {
      version: lease.metadata?.resourceVersion ?? "",
      record: {
        holderIdentity: s.holderIdentity ?? "",
        leaseDurationSeconds: s.leaseDurationSeconds ?? 0,
        acquireTime: s.acquireTime ? new Date(s.acquireTime) : null,
        renewTime: s.renewTime ? new Date(s.renewTime) : null,
        leaseTransitions: s.leaseTransitions ?? 0,
      },
    };
  }

  private async conflicts<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (statusOf(err) === 409) throw new LockConflict(messageOf(err), { cause: err });
      throw err;
    }
  }
}

function toSpec(r: LeaseRecord): V1Lease["spec"] {
  // The JSON goes out as is: MicroTime strings where the generated types say Date.
  const micro = (d: Date | null) => (d ? (microTime(d.getTime()) as unknown as Date) : undefined);
  return {
    holderIdentity: r.holderIdentity,
    leaseDurationSeconds: r.leaseDurationSeconds,
    acquireTime: micro(r.acquireTime),
    renewTime: micro(r.renewTime),
    leaseTransitions: r.leaseTransitions,
  };
}
