// regcred daemons as their own processes: the built JavaScript, as the image runs it, each
// through its own ApiProxy so its writes can be counted on the wire. Sampled while they live:
// RSS from /proc, event-loop delay and leadership from their /metrics.
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import path from "node:path";
import { shippedEnv, shippedNode } from "../helpers/shipped-node.ts";
import { find, parsePrometheus } from "../helpers/prom.ts";
import type { ApiProxy } from "./api-proxy.ts";

export interface Replica {
  name: string;
  configVersion: number;
  pid: number;
  proxy: ApiProxy;
  url: string;
  startedAt: number;
  endedAt?: number;
  /** "SIGKILL", "SIGTERM (exit 0)", ... */
  end?: string;
  rssStartBytes?: number;
  rssEndBytes?: number;
  hwmBytes?: number;
  /** prom-client's p99 of event-loop delay since the previous scrape, one per scrape. */
  lagP99Seconds: number[];
  leader: boolean;
  /** regcred_refresh_total by result, at the last scrape. */
  refreshes: Record<string, number>;
  logFile: string;
  child: ChildProcess;
  exited: Promise<void>;
}

/**
 * The daemon's entry point: the build in dist/, or SOAK_DAEMON_ENTRY (relative to the
 * repository) to soak another build, e.g. one broken on purpose to see a target go red.
 */
export function daemonEntry(): string {
  return process.env.SOAK_DAEMON_ENTRY ?? "dist/src/main.js";
}

export async function startReplica(opts: {
  root: string;
  name: string;
  configFile: string;
  configVersion: number;
  kubeconfig: string;
  proxy: ApiProxy;
  logDir: string;
}): Promise<Replica> {
  const logFile = path.join(opts.logDir, `${opts.name}.log`);
  const out = createWriteStream(logFile);
  const child = spawn(
    process.execPath,
    [...shippedNode().args, daemonEntry(), "run", "-c", opts.configFile, "--kubeconfig", opts.kubeconfig],
    {
      cwd: opts.root,
      stdio: ["ignore", "ignore", "pipe"],
      env: { ...process.env, ...shippedEnv(shippedNode()) },
    },
  );
  let head = "";
  child.stderr!.on("data", (d: Buffer) => {
    out.write(d);
    if (head.length < 100_000) head += d.toString();
  });
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const r: Replica = {
    name: opts.name,
    configVersion: opts.configVersion,
    pid: child.pid!,
    proxy: opts.proxy,
    url: "",
    startedAt: Date.now(),
    lagP99Seconds: [],
    leader: false,
    refreshes: {},
    logFile,
    child,
    exited,
  };
  child.on("exit", (code, signal) => {
    r.endedAt = Date.now();
    r.end ??= signal ?? `exit ${code}`;
    out.end();
  });
  const deadline = Date.now() + 60_000;
  while (!/"msg":"regcred running"/.test(head)) {
    if (r.endedAt !== undefined) throw new Error(`${opts.name} exited before running: see ${logFile}`);
    if (Date.now() > deadline) throw new Error(`${opts.name} did not start in 60 s: see ${logFile}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  r.url = /"url":"([^"]+)"/.exec(head)![1]!;
  await sample(r);
  return r;
}

export function alive(r: Replica): boolean {
  return r.endedAt === undefined;
}

function procStatus(pid: number): { rss: number; hwm: number } | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, "utf8");
    const kb = (key: string) => Number(new RegExp(`${key}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) * 1024;
    return { rss: kb("VmRSS"), hwm: kb("VmHWM") };
  } catch {
    return undefined;
  }
}

/** Reads RSS and the daemon's metrics; a process that is gone keeps its last sample. */
export async function sample(r: Replica): Promise<void> {
  if (!alive(r)) return;
  const mem = procStatus(r.pid);
  // A killed process not yet reaped still has a status file, without memory lines.
  if (mem && mem.rss > 0) {
    r.rssStartBytes ??= mem.rss;
    r.rssEndBytes = mem.rss;
    r.hwmBytes = mem.hwm;
  }
  try {
    const res = await fetch(`${r.url}/metrics`, { signal: AbortSignal.timeout(2_000) });
    const samples = parsePrometheus(await res.text());
    const lag = find(samples, "regcred_nodejs_eventloop_lag_p99_seconds")[0]?.value;
    if (lag !== undefined && Number.isFinite(lag)) r.lagP99Seconds.push(lag);
    r.leader = find(samples, "regcred_leader")[0]?.value === 1;
    const refreshes: Record<string, number> = {};
    for (const s of find(samples, "regcred_refresh_total"))
      refreshes[s.labels.result!] = (refreshes[s.labels.result!] ?? 0) + s.value;
    r.refreshes = refreshes;
  } catch {
    // busy or exiting: the next tick tries again
  }
}

export function kill(r: Replica, signal: NodeJS.Signals): void {
  if (!alive(r)) return;
  r.end = signal;
  r.child.kill(signal);
}

/** SIGTERM, as a rolling update sends it; SIGKILL after 15 s as the kubelet would. */
export async function terminate(r: Replica): Promise<void> {
  if (!alive(r)) return;
  const ended = Date.now();
  kill(r, "SIGTERM");
  const timer = setTimeout(() => kill(r, "SIGKILL"), 15_000);
  await r.exited;
  clearTimeout(timer);
  const code = r.child.exitCode;
  r.end = r.child.signalCode === "SIGKILL" ? "SIGTERM, then SIGKILL after 15 s" : `SIGTERM (exit ${code})`;
  r.endedAt ??= ended;
}
