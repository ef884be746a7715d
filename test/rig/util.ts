// Shared plumbing of the test rig: where things are cached, running commands, prerequisite
// checks, a cross-process build lock, free ports, managed child processes, readiness polling.
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { homedir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

/** test/rig/ */
export const RIG_DIR = dirname(fileURLToPath(import.meta.url));
/** Repository root. */
export const REPO_ROOT = resolve(RIG_DIR, "..", "..");

/** Where built binaries and venvs live, outside the work tree. REGCRED_RIG_CACHE overrides. */
export function cacheRoot(): string {
  const dir =
    process.env["REGCRED_RIG_CACHE"] ??
    join(process.env["XDG_CACHE_HOME"] ?? join(homedir(), ".cache"), "regcred-rig");
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** Progress lines go to stderr so they show under vitest and the CLI alike. */
export function log(msg: string): void {
  process.stderr.write(`[regcred-rig] ${msg}\n`);
}

export class RigError extends Error {
  override name = "RigError";
}

/** Fails with an install hint when a command is missing: the rig never skips silently. */
export function requireCommand(cmd: string, hint: string): void {
  const r = spawnSync("sh", ["-c", `command -v ${cmd}`], { encoding: "utf8" });
  if (r.status !== 0) {
    throw new RigError(`The test rig needs \`${cmd}\`, which is not on PATH. ${hint}`);
  }
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, capturing output. onLine sees each output line as it comes. */
export function run(
  cmd: string,
  args: string[],
  opts: SpawnOptions & { input?: string; onLine?: (line: string) => void } = {},
): Promise<RunResult> {
  return new Promise((resolvePromise, reject) => {
    const { input, onLine, ...spawnOpts } = opts;
    const child = spawn(cmd, args, {
      ...spawnOpts,
      stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let partial = "";
    const feed = (chunk: string): void => {
      if (!onLine) return;
      partial += chunk;
      const lines = partial.split("\n");
      partial = lines.pop() ?? "";
      for (const l of lines) onLine(l);
    };
    child.stdout?.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      feed(d);
    });
    child.stderr?.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
      feed(d);
    });
    child.on("error", reject);
    child.on("close", (code, signal) => resolvePromise({ code: code ?? (signal ? 128 : 1), stdout, stderr }));
    // A child may exit without reading its input: ignore EPIPE on stdin.
    child.stdin?.on("error", () => undefined);
    child.stdin?.end(input);
  });
}

/** run(), throwing with the command's output when it fails. */
export async function runOk(
  cmd: string,
  args: string[],
  opts: SpawnOptions & { input?: string; onLine?: (line: string) => void } = {},
): Promise<RunResult> {
  const r = await run(cmd, args, opts);
  if (r.code !== 0) {
    throw new RigError(
      `\`${cmd} ${args.join(" ")}\` exited ${r.code}:\n${tail(r.stdout + "\n" + r.stderr, 40)}`,
    );
  }
  return r;
}

export function tail(text: string, lines: number): string {
  return text.trimEnd().split("\n").slice(-lines).join("\n");
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Cross-process lock (a lock file holding the owner's pid), so two vitest workers or a test
 * run and `npm run cluster:up` never build the same thing at once. Stale locks are taken over.
 */
export async function withLock<T>(name: string, fn: () => Promise<T>): Promise<T> {
  const path = join(cacheRoot(), `${name}.lock`);
  let announced = false;
  for (;;) {
    try {
      const fd = openSync(path, "wx");
      writeFileSync(fd, String(process.pid));
      closeSync(fd);
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      const owner = Number(readFileSafe(path));
      if (!Number.isInteger(owner) || owner <= 0 || !pidAlive(owner)) {
        rmSync(path, { force: true });
        continue;
      }
      if (!announced) {
        log(`waiting for process ${owner}, which holds ${path}`);
        announced = true;
      }
      await sleep(1000);
    }
  }
  try {
    return await fn();
  } finally {
    rmSync(path, { force: true });
  }
}

function readFileSafe(path: string): string {
  try {
    return readFileSync(path, "utf8").trim();
  } catch {
    return "";
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolvePromise, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => {
        if (addr && typeof addr === "object") resolvePromise(addr.port);
        else reject(new RigError("could not get a free port"));
      });
    });
  });
}

/** A long-running child process whose output goes to a log file. */
export class ManagedProcess {
  readonly name: string;
  readonly logFile: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private exitInfo: string | undefined;

  constructor(name: string, logFile: string) {
    this.name = name;
    this.logFile = logFile;
  }

  /**
   * Spawns the command. With detached, the process outlives this Node process (used by
   * `npm run cluster:up`); otherwise it is killed when this process exits.
   */
  start(cmd: string, args: string[], opts: { env?: NodeJS.ProcessEnv; detached?: boolean } = {}): number {
    mkdirSync(dirname(this.logFile), { recursive: true });
    const fd = openSync(this.logFile, "a");
    writeFileSync(fd, `\n# ${new Date().toISOString()} ${cmd} ${args.join(" ")}\n`);
    const child = spawn(cmd, args, {
      stdio: ["ignore", fd, fd],
      env: opts.env ?? process.env,
      detached: opts.detached ?? false,
    });
    closeSync(fd);
    this.child = child;
    this.exitInfo = undefined;
    this.exited = new Promise((r) => {
      child.on("exit", (code, signal) => {
        this.exitInfo = signal ? `killed by ${signal}` : `exited with code ${code}`;
        r();
      });
      child.on("error", (err) => {
        this.exitInfo = `failed to start: ${err.message}`;
        r();
      });
    });
    if (opts.detached) {
      child.unref();
    } else {
      liveChildren.add(child);
      void this.exited.then(() => liveChildren.delete(child));
    }
    if (child.pid === undefined) throw new RigError(`${this.name}: could not start ${cmd}`);
    return child.pid;
  }

  get pid(): number | undefined {
    return this.exitInfo === undefined ? this.child?.pid : undefined;
  }

  /** Why the process ended, or undefined while it runs. */
  get exitReason(): string | undefined {
    return this.exitInfo;
  }

  logTail(lines = 30): string {
    return tail(readFileSafe(this.logFile), lines);
  }

  /** SIGTERM, then SIGKILL after graceMs. Resolves when the process is gone. */
  async stop(graceMs = 10_000): Promise<void> {
    const child = this.child;
    if (!child || this.exitInfo !== undefined) return;
    child.kill("SIGTERM");
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(timer);
  }
}

const liveChildren = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of liveChildren) {
    try {
      c.kill("SIGKILL");
    } catch {
      // already gone
    }
  }
});

/** Kills a process by pid (from a state file): SIGTERM, then SIGKILL after graceMs. */
export async function killPid(pid: number, graceMs = 10_000): Promise<void> {
  if (!pidAlive(pid)) return;
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (pidAlive(pid) && Date.now() < deadline) await sleep(100);
  if (pidAlive(pid)) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // gone
    }
    while (pidAlive(pid)) await sleep(50);
  }
}

export { pidAlive };

/**
 * Polls check() until it returns true. Fails early when the process it waits for has died,
 * with the tail of that process's log.
 */
export async function waitFor(
  what: string,
  check: () => Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; proc?: ManagedProcess } = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 60_000);
  let lastErr = "";
  for (;;) {
    if (opts.proc?.exitReason !== undefined) {
      throw new RigError(
        `${opts.proc.name} ${opts.proc.exitReason} while waiting for ${what}. Log ${opts.proc.logFile}:\n${opts.proc.logTail()}`,
      );
    }
    try {
      if (await check()) return;
    } catch (e) {
      lastErr = (e as Error).message;
    }
    if (Date.now() > deadline) {
      const logPart = opts.proc ? `\nLog ${opts.proc.logFile}:\n${opts.proc.logTail()}` : "";
      throw new RigError(
        `timed out waiting for ${what}${lastErr ? ` (last error: ${lastErr})` : ""}${logPart}`,
      );
    }
    await sleep(opts.intervalMs ?? 200);
  }
}

export function fileExists(p: string): boolean {
  return existsSync(p);
}
