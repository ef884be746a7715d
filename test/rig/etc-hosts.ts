// /etc/hosts entries the rig adds for registry hosts served under real names (registry-hosts.ts):
// each line is tagged with the owning pid, so a name is served by one process at a time (a
// second one waits), and the sweep removes the lines of processes that died.
import { readFileSync, writeFileSync } from "node:fs";
import { log, pidAlive, RigError, sleep, withLock } from "./util.ts";

const HOSTS = "/etc/hosts";
const TAG = "# regcred-rig pid=";

interface Entry {
  ip: string;
  names: string[];
  pid: number;
}

function parse(line: string): Entry | undefined {
  const i = line.indexOf(TAG);
  if (i < 0) return undefined;
  const [ip, ...names] = line.slice(0, i).trim().split(/\s+/);
  return { ip: ip!, names, pid: Number(line.slice(i + TAG.length).trim()) };
}

function rewrite(keep: (line: string, entry: Entry | undefined) => boolean, add: string[] = []): void {
  const lines = readFileSync(HOSTS, "utf8").split("\n");
  if (lines.at(-1) === "") lines.pop();
  const out = lines.filter((l) => keep(l, parse(l)));
  out.push(...add);
  // In place (no rename): /etc/hosts is often a bind mount.
  writeFileSync(HOSTS, out.join("\n") + "\n");
}

/** Every rig line of /etc/hosts. */
export function rigHostsEntries(): Entry[] {
  return readFileSync(HOSTS, "utf8")
    .split("\n")
    .flatMap((l) => parse(l) ?? []);
}

/** Removes the rig lines whose process is gone. */
export async function sweepHostsEntries(): Promise<void> {
  await withLock("etc-hosts", async () => {
    rewrite((_l, e) => !e || pidAlive(e.pid));
  });
}

/**
 * Adds `ip name...` for this process, waiting while another live process serves one of the
 * names (one owner per name on the machine).
 */
export async function addHostsEntry(ip: string, names: string[], timeoutMs = 1_500_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let announced = false;
  for (;;) {
    const busy = await withLock("etc-hosts", async () => {
      rewrite((_l, e) => !e || pidAlive(e.pid));
      const taken = rigHostsEntries().find((e) => e.names.some((n) => names.includes(n)));
      if (taken) return taken;
      rewrite(() => true, [`${ip} ${names.join(" ")} ${TAG}${process.pid}`]);
      return undefined;
    });
    if (!busy) return;
    if (busy.pid === process.pid) {
      throw new RigError(`${names.join(", ")} is already served by this process (${busy.ip})`);
    }
    if (Date.now() > deadline)
      throw new RigError(`process ${busy.pid} keeps serving ${busy.names.join(", ")}`);
    if (!announced) {
      log(`waiting for process ${busy.pid}, which serves ${busy.names.join(", ")} in /etc/hosts`);
      announced = true;
    }
    await sleep(1000);
  }
}

export async function removeHostsEntry(ip: string, names: string[]): Promise<void> {
  await withLock("etc-hosts", async () => {
    rewrite((_l, e) => !(e && e.pid === process.pid && e.ip === ip && e.names.join(" ") === names.join(" ")));
  });
}
