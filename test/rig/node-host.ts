// The machine-wide side of the rig's node: where it lives, the lock that allows one node per
// machine, and the record of what the host looked like before the node touched it (sysctls the
// kubelet rewrites, fixed paths it creates), so teardown and the start-up sweep can restore it.
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { log, pidAlive, RigError, sleep } from "./util.ts";

/** Everything machine-wide of the rig's node and served registry hosts lives under here. */
export const RUN_DIR = "/run/regcred-rig";
/** The node's own folder: containerd root/state, kubelet root, configs, certs, pod logs. */
export const NODE_DIR = join(RUN_DIR, "node");
/** containerd's `config_path`: one `<host>/hosts.toml` per served registry host (registry-hosts.ts). */
export const HOSTS_DIR = join(RUN_DIR, "certs.d");
const LOCK_FILE = join(RUN_DIR, "node.lock");
const HOST_RECORD = join(RUN_DIR, "node-host.json");

/** The CNI bridge the node's Pods hang off (deleted by teardown). */
export const BRIDGE = "rcrig0";

/**
 * Sysctls the kubelet sets (pkg/kubelet/cm setupKernelTunables) or a CNI plugin could: restored
 * from the record on teardown.
 */
export const SYSCTLS = [
  "vm/overcommit_memory",
  "vm/panic_on_oom",
  "kernel/panic",
  "kernel/panic_on_oops",
  "kernel/keys/root_maxkeys",
  "kernel/keys/root_maxbytes",
  "net/ipv4/ip_forward",
  "net/ipv4/conf/all/route_localnet",
  "net/bridge/bridge-nf-call-iptables",
];

/**
 * Paths outside NODE_DIR that the kubelet, containerd or its shims create whatever their config
 * says (device-plugins socket, container log symlinks, shim sockets, CNI cache): removed on
 * teardown when they did not exist before.
 */
export const FIXED_PATHS = [
  "/var/lib/kubelet",
  "/var/log/containers",
  "/var/log/pods",
  "/var/lib/cni",
  "/run/containerd",
  "/opt/containerd",
  "/var/lib/containerd",
  "/run/netns",
];

export interface HostRecord {
  /** Sysctl values before the node started (absent key: the sysctl does not exist here). */
  sysctls: Record<string, string>;
  /** FIXED_PATHS that did not exist before: teardown removes them. */
  absentPaths: string[];
  recordedAt: string;
}

export function readSysctl(name: string): string | undefined {
  try {
    return readFileSync(join("/proc/sys", name), "utf8").trim();
  } catch {
    return undefined;
  }
}

/**
 * Writes the host record unless one is already there (then a crashed run's record is the truth:
 * the sweep restores from it first).
 */
export function recordHost(): HostRecord {
  const existing = readHostRecord();
  if (existing) return existing;
  const sysctls: Record<string, string> = {};
  for (const s of SYSCTLS) {
    const v = readSysctl(s);
    if (v !== undefined) sysctls[s] = v;
  }
  const rec: HostRecord = {
    sysctls,
    absentPaths: FIXED_PATHS.filter((p) => !existsSync(p)),
    recordedAt: new Date().toISOString(),
  };
  mkdirSync(RUN_DIR, { recursive: true });
  writeFileSync(HOST_RECORD, JSON.stringify(rec, null, 2) + "\n");
  return rec;
}

export function readHostRecord(): HostRecord | undefined {
  try {
    return JSON.parse(readFileSync(HOST_RECORD, "utf8")) as HostRecord;
  } catch {
    return undefined;
  }
}

export function dropHostRecord(): void {
  rmSync(HOST_RECORD, { force: true });
}

/** The pid that holds the node lock, if any (alive or not). */
export function nodeLockOwner(): number | undefined {
  try {
    const n = Number(readFileSync(LOCK_FILE, "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

export type LockResult = "fresh" | "stale" | "own";

/**
 * Takes the one-node-per-machine lock for `owner` (a pid that lives as long as the node: this
 * process, or the vitest main process for the shared node). Waits while another live process
 * holds it. Returns "stale" when it took over from a dead owner, "own" when `owner` already held
 * it (a node of ours in an unknown state): in both cases the caller must sweep first.
 */
export async function acquireNodeLock(owner: number, timeoutMs = 1_500_000): Promise<LockResult> {
  mkdirSync(RUN_DIR, { recursive: true });
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  let unreadable = 0;
  for (;;) {
    try {
      const fd = openSync(LOCK_FILE, "wx");
      writeFileSync(fd, String(owner));
      closeSync(fd);
      return existsSync(NODE_DIR) || readHostRecord() ? "stale" : "fresh";
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      // The holder released the lock and removed the emptied RUN_DIR while we waited.
      if (code === "ENOENT") {
        mkdirSync(RUN_DIR, { recursive: true });
        continue;
      }
      if (code !== "EEXIST") throw e;
    }
    const holder = nodeLockOwner();
    if (holder === owner) return "own";
    if (holder === undefined && unreadable++ < 3) {
      // Released just now, or being written by its new holder: look again.
      await sleep(100);
      continue;
    }
    if (holder === undefined || !pidAlive(holder)) {
      // A crashed run: remove its lock and take it (its leftovers are swept by the caller).
      rmSync(LOCK_FILE, { force: true });
      continue;
    }
    unreadable = 0;
    if (Date.now() > deadline) {
      throw new RigError(
        `another node runs on this machine (process ${holder} holds ${LOCK_FILE}); the rig allows one node per machine`,
      );
    }
    if (!announced) {
      log(`waiting for process ${holder}, which holds the node lock ${LOCK_FILE} (one node per machine)`);
      announced = true;
    }
    await sleep(1000);
  }
}

export function releaseNodeLock(owner: number): void {
  if (nodeLockOwner() === owner) rmSync(LOCK_FILE, { force: true });
  removeRunDirIfEmpty();
}

/** RUN_DIR goes when nothing of the rig is left in it (registry hosts may still be served). */
export function removeRunDirIfEmpty(): void {
  for (const d of [HOSTS_DIR, RUN_DIR]) {
    try {
      rmdirSync(d);
    } catch {
      // not empty, or gone
    }
  }
}

export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new RigError(
      `${what} needs root (the kubelet and containerd mount, make cgroups and network namespaces); CI runs as root`,
    );
  }
}
