import { LockConflict, type LeaseRecord, type Lock, type Versioned } from "../../src/kube/lease-lock.ts";

/**
 * An in-memory lock that behaves as the API server's Lease does: version-guarded writes, a
 * conflict on a stale version, absent before creation. For the elector's state machine; the
 * real Lease is tested against the rig's API server (test/integration/kube/lease.test.ts).
 */
export class FakeLock implements Lock {
  record: LeaseRecord | null = null;
  version = 0;
  /** Set to make every request fail like an unreachable API server. */
  down = false;
  writes: Array<{ at: number; holder: string }> = [];
  describe() {
    return "test/lease";
  }
  private snapshot(): Versioned {
    return { record: { ...this.record! }, version: String(this.version) };
  }
  async get() {
    if (this.down) throw new Error("connect ECONNREFUSED");
    return this.record ? this.snapshot() : null;
  }
  async create(record: LeaseRecord) {
    if (this.down) throw new Error("connect ECONNREFUSED");
    if (this.record) throw new LockConflict("already exists");
    return this.write(record);
  }
  async update(current: Versioned, record: LeaseRecord) {
    if (this.down) throw new Error("connect ECONNREFUSED");
    if (current.version !== String(this.version)) throw new LockConflict("the object has been modified");
    return this.write(record);
  }
  /** Another process takes the lock (as an intruder, or a replica after expiry). */
  takeBy(holder: string, seconds = 3600) {
    this.write({
      holderIdentity: holder,
      leaseDurationSeconds: seconds,
      acquireTime: new Date(),
      renewTime: new Date(),
      leaseTransitions: (this.record?.leaseTransitions ?? 0) + 1,
    });
  }
  private write(record: LeaseRecord) {
    this.record = { ...record };
    this.version++;
    this.writes.push({ at: Date.now(), holder: record.holderIdentity });
    return this.snapshot();
  }
}
