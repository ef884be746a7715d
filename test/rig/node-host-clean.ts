// Teardown of the rig's node, and the start-up sweep after a crashed run (the same code: it
// works from what is on the host, not from what a live process remembers). It kills every node
// process (kubelet, containerd, shims, the Pods' processes), unmounts everything under the
// node's folder, removes the kubepods cgroups in every hierarchy, the CNI bridge, the fixed
// paths the node created, restores the recorded sysctls and deletes the node's folder.
// hostFootprint() lists all of that, for the test that checks the host is clean.
import { spawnSync } from "node:child_process";
import {
  type Dirent,
  existsSync,
  lstatSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmdirSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import {
  BRIDGE,
  dropHostRecord,
  FIXED_PATHS,
  NODE_DIR,
  readHostRecord,
  readSysctl,
  SYSCTLS,
} from "./node-host.ts";
import { RigError, sleep } from "./util.ts";

function readSafe(p: string): string {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
}

/**
 * Processes of the node: everything whose command line names the node's folder (kubelet,
 * containerd, its shims, the scheduler) or that runs in a kubepods cgroup (the Pods).
 */
export function nodeProcesses(): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const e of readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    const pid = Number(e);
    if (pid === process.pid) continue;
    const cmd = readSafe(`/proc/${e}/cmdline`).replaceAll("\0", " ").trim();
    const cgroup = readSafe(`/proc/${e}/cgroup`);
    if (cmd.includes(NODE_DIR) || /:\/kubepods/.test(cgroup)) out.push({ pid, cmd });
  }
  return out;
}

/** Mount points from /proc/self/mountinfo (octal escapes decoded). */
export function mountPoints(): { mountPoint: string; fsType: string }[] {
  return readSafe("/proc/self/mountinfo")
    .split("\n")
    .filter(Boolean)
    .map((line) => {
      const f = line.split(" ");
      const dash = f.indexOf("-");
      return {
        mountPoint: (f[4] ?? "").replace(/\\(\d{3})/g, (_m, o: string) =>
          String.fromCharCode(parseInt(o, 8)),
        ),
        fsType: f[dash + 1] ?? "",
      };
    });
}

function nodeMounts(): string[] {
  return mountPoints()
    .map((m) => m.mountPoint)
    .filter((p) => p === NODE_DIR || p.startsWith(NODE_DIR + "/"));
}

/** Mount points of the cgroup hierarchies (v1 controllers, named ones, and the unified one). */
export function cgroupHierarchies(): string[] {
  return mountPoints()
    .filter((m) => m.fsType === "cgroup" || m.fsType === "cgroup2")
    .map((m) => m.mountPoint);
}

/** Every kubepods cgroup folder (the kubelet's cgroupRoot is /), in every hierarchy. */
export function kubepodsCgroups(): string[] {
  const out: string[] = [];
  for (const h of cgroupHierarchies()) {
    for (const e of safeList(h)) if (e.startsWith("kubepods")) out.push(join(h, e));
  }
  return out;
}

/** Depth-first list of a cgroup folder's sub-cgroups (deepest first), the folder last. */
function cgroupTree(dir: string): string[] {
  const out: string[] = [];
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) if (e.isDirectory()) out.push(...cgroupTree(join(dir, e.name)));
  out.push(dir);
  return out;
}

function kill(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    // gone
  }
}

function run(cmd: string, args: string[]): { code: number; out: string } {
  const r = spawnSync(cmd, args, { encoding: "utf8" });
  return { code: r.status ?? 1, out: (r.stdout ?? "") + (r.stderr ?? "") };
}

/**
 * Removes every trace of the node from the host. Safe to run when nothing is there; throws
 * (naming what is left) when something cannot be removed. Kills by SIGKILL: graceful Pod
 * shutdown is not what a test rig needs, and a clean host is.
 */
export async function cleanNodeHost(): Promise<void> {
  // 1. Processes: the kubelet first (it would restart containers), then everything else.
  const deadline = Date.now() + 20_000;
  for (;;) {
    const procs = nodeProcesses();
    if (procs.length === 0) break;
    const kubelets = procs.filter((p) => /(^|\/)kubelet /.test(p.cmd + " "));
    for (const p of kubelets.length > 0 ? kubelets : procs) kill(p.pid, "SIGKILL");
    if (Date.now() > deadline) {
      throw new RigError(
        `node processes survive SIGKILL: ${procs.map((p) => `${p.pid} ${p.cmd}`).join("; ")}`,
      );
    }
    await sleep(100);
  }

  // 2. Mounts under the node's folder, deepest first (overlay rootfs, shm, netns, volumes, and
  // the kubelet's own rshared bind mount of its root dir).
  for (let pass = 0; pass < 5; pass++) {
    const mounts = nodeMounts().sort((a, b) => b.length - a.length);
    if (mounts.length === 0) break;
    for (const m of mounts) if (run("umount", [m]).code !== 0) run("umount", ["-l", m]);
  }
  const leftMounts = nodeMounts();
  if (leftMounts.length > 0) throw new RigError(`cannot unmount ${leftMounts.join(", ")}`);

  // 3. kubepods cgroups in every hierarchy (empty now: their processes are gone).
  for (let pass = 0; pass < 20; pass++) {
    const roots = kubepodsCgroups();
    if (roots.length === 0) break;
    for (const root of roots) {
      for (const d of cgroupTree(root)) {
        try {
          rmdirSync(d);
        } catch {
          // busy for a moment after its last process died; next pass
        }
      }
    }
    await sleep(100);
  }
  const leftCgroups = kubepodsCgroups();
  if (leftCgroups.length > 0) throw new RigError(`cannot remove cgroups ${leftCgroups.join(", ")}`);

  // 4. The CNI bridge (the Pods' veths went with their network namespaces).
  if (existsSync(`/sys/class/net/${BRIDGE}`)) {
    const r = run("ip", ["link", "del", BRIDGE]);
    if (r.code !== 0) throw new RigError(`ip link del ${BRIDGE}: ${r.out}`);
  }

  // 5. Sysctls and fixed paths, from the record taken before the node first touched the host.
  const rec = readHostRecord();
  if (rec) {
    for (const [name, value] of Object.entries(rec.sysctls)) {
      if (readSysctl(name) !== value) {
        try {
          writeFileSync(join("/proc/sys", name), value + "\n");
        } catch (e) {
          throw new RigError(`cannot restore sysctl ${name}=${value}: ${(e as Error).message}`);
        }
      }
    }
    for (const p of rec.absentPaths) rmSync(p, { recursive: true, force: true });
  }
  // Paths that did exist: only our entries go (log symlinks pointing into the node's folder).
  for (const dir of ["/var/log/containers"]) {
    if (rec?.absentPaths.includes(dir)) continue;
    for (const e of safeList(dir)) {
      const p = join(dir, e);
      try {
        if (lstatSync(p).isSymbolicLink() && readlinkSync(p).startsWith(NODE_DIR + "/")) rmSync(p);
      } catch {
        // gone
      }
    }
  }

  // 6. The node's folder (no mounts left under it: checked above).
  rmSync(NODE_DIR, { recursive: true, force: true });
  dropHostRecord();
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Everything on the host a node can leave behind, for comparing before and after. */
export interface HostFootprint {
  processes: string[];
  mounts: string[];
  kubepodsCgroups: string[];
  netns: string[];
  links: string[];
  /** Every interface address and route (all tables), without lifetimes. */
  addresses: string[];
  routes: string[];
  iptables: string[];
  sysctls: Record<string, string | undefined>;
  etcHosts: string;
  fixedPaths: string[];
  nodeDir: boolean;
}

function iptablesRules(): string[] {
  const out: string[] = [];
  for (const cmd of ["iptables-save", "ip6tables-save"]) {
    const r = run(cmd, []);
    if (r.code !== 0) continue;
    for (const line of r.out.split("\n")) {
      if (line === "" || line.startsWith("#")) continue;
      // Chain lines carry packet counters: keep the name and policy only.
      out.push(`${cmd}: ${line.replace(/\s\[\d+:\d+\]$/, "")}`);
    }
  }
  return out;
}

function ipLines(args: string[]): string[] {
  const r = run("ip", args);
  if (r.code !== 0) throw new RigError(`ip ${args.join(" ")}: ${r.out}`);
  return r.out
    .split("\n")
    .map((l) =>
      l
        .replace(/\s+(valid_lft|preferred_lft|expires)\s+\S+/g, "")
        .replace(/\\\s*/g, " ")
        .trim(),
    )
    .filter(Boolean)
    .sort();
}

export function hostFootprint(): HostFootprint {
  return {
    processes: nodeProcesses().map((p) => `${p.pid} ${p.cmd}`),
    mounts: mountPoints()
      .map((m) => `${m.mountPoint} ${m.fsType}`)
      .sort(),
    kubepodsCgroups: kubepodsCgroups(),
    netns: [...safeList("/run/netns"), ...safeList("/var/run/netns")].sort(),
    links: readdirSync("/sys/class/net").sort(),
    addresses: ipLines(["-o", "addr", "show"]),
    routes: [
      ...ipLines(["-4", "route", "show", "table", "all"]),
      ...ipLines(["-6", "route", "show", "table", "all"]),
    ],
    iptables: iptablesRules(),
    sysctls: Object.fromEntries(SYSCTLS.map((s) => [s, readSysctl(s)])),
    etcHosts: readSafe("/etc/hosts"),
    fixedPaths: FIXED_PATHS.filter((p) => existsSync(p)),
    nodeDir: existsSync(NODE_DIR),
  };
}
