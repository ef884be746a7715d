// The soak: two real regcred processes with leader election, under least RBAC, against a
// cluster of its own, minting 60-90 s GitHub App installation tokens that a real registry
// accepts only until each token's expires_at, while a script of faults plays. A prober reads
// the cluster as an admin every few seconds and judges every entry by its issuer's word.
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CoreV1Api, type V1Namespace } from "@kubernetes/client-node";
import { startCluster, kubeconfigYaml, type Cluster } from "../rig/cluster.ts";
import { makeCA, makeServingCert } from "../rig/certs.ts";
import type { Registry } from "../rig/registry.ts";
import { forEachLimit } from "../../src/kube/limit.ts";
import { leastPrivilege } from "../integration/kube/least-rbac.ts";
import { Accounting, CATEGORIES, type EntryView, type Verdict, type Window } from "./accounting.ts";
import { ApiProxy } from "./api-proxy.ts";
import { Prober } from "./prober.ts";
import { startGatedRegistry } from "./registry.ts";
import { alive, kill, sample, startReplica, terminate, type Replica } from "./replicas.ts";
import { buildTimeline, type Fault, type FaultKind } from "./timeline.ts";
import { APP_ID, INSTALLATION_ID, Upstream } from "./upstream.ts";
import { buildReport, type FaultRecord, type SoakReport } from "./report.ts";

const ROOT = path.resolve(import.meta.dirname, "../..");

export interface SoakOptions {
  minutes: number;
  /** Seconds between probes. */
  probeIntervalS?: number;
  lifetimeS?: { min: number; max: number };
  /** Namespaces created and deleted by the churn fault. */
  churn?: number;
  /** Skip `npm run build` (dist/ is current). */
  skipBuild?: boolean;
  log?: (line: string) => void;
}

export const SECRET_NAME = "soak-pull";
const APP_USERNAME = "x-access-token";
const STATIC_USERNAME = "soak-static";
const REPO = "soak/app";
const TAG = "v1";
/** A new or newly selected namespace may go this long without its Secret. */
const GRACE_MS = 15_000;
/** After an outage ends: one capped retry (retry.max 10 s, +10% jitter), a mint and a write. */
export const RECOVERY_ALLOWANCE_MS = 25_000;
const LEASE = { leaseDuration: "15s", renewDeadline: "10s", retryPeriod: "2s", renewDeadlineMs: 10_000 };
// margin 50 s: a credential refreshed on time outlives a 30 s API-server stop, its restart and a
// takeover (each started alone: the timeline spaces the faults that block writes).
const REFRESH =
  "{ at: 0.5, jitter: 0.1, minInterval: 5s, margin: 50s, timeout: 10s, retry: { initial: 2s, max: 10s } }";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

function configYaml(o: {
  version: 1 | 2;
  run: string;
  upstream: string;
  appHost: string;
  staticHost: string;
  leaseNamespace: string;
  leaseName: string;
}): string {
  // The change between versions moves the selection: group c leaves it, group b joins it.
  const groups = o.version === 1 ? "[a, c]" : "[a, b]";
  return `# soak config v${o.version}
registries:
  - name: app
    provider: ghcr
    apiUrl: ${o.upstream}
    registries: ["${o.appHost}"]
    app: { appId: ${APP_ID}, installationId: ${INSTALLATION_ID}, privateKeyFrom: { file: app.pem } }
  - name: side
    provider: static
    registries: ["${o.staticHost}"]
    username: ${STATIC_USERNAME}
    passwordFrom: { file: static-password }
secrets:
  - name: ${SECRET_NAME}
    registries: [app, side]
    namespaces:
      selector:
        matchLabels: { regcred-soak: "${o.run}" }
        matchExpressions: [{ key: soak-group, operator: In, values: ${groups} }]
    serviceAccounts: [default]
refresh: ${REFRESH}
server: { port: 0, host: 127.0.0.1 }
kubernetes:
  instance: soak-${o.run}
  leaderElection: { enabled: true, namespace: ${o.leaseNamespace}, name: ${o.leaseName}, leaseDuration: ${LEASE.leaseDuration}, renewDeadline: ${LEASE.renewDeadline}, retryPeriod: ${LEASE.retryPeriod} }
log: { level: info }
`;
}

export async function runSoak(opts: SoakOptions): Promise<SoakReport> {
  const say = opts.log ?? ((line: string) => process.stderr.write(`[soak] ${line}\n`));
  const lifetime = opts.lifetimeS ?? { min: 60, max: 90 };
  const timeline = buildTimeline(Math.round(opts.minutes * 60), { maxLifetimeS: lifetime.max });
  const probeMs = (opts.probeIntervalS ?? 2) * 1000;
  const churnCount = opts.churn ?? 200;
  const run = randomBytes(3).toString("hex");
  const dir = mkdtempSync(path.join(tmpdir(), `regcred-soak-${run}-`));
  const logDir = path.join(dir, "logs");
  mkdirSync(logDir);
  say(`run ${run}: ${timeline.durationS} s, files and logs in ${dir}`);
  if (!opts.skipBuild) execFileSync("npm", ["run", "-s", "build"], { cwd: ROOT, stdio: "inherit" });

  let cluster: Cluster | undefined;
  let upstream: Upstream | undefined;
  let registry: Registry | undefined;
  const replicas: Replica[] = [];
  const proxies: ApiProxy[] = [];
  try {
    cluster = await startCluster();
    const c = cluster;
    const admin = c.kubeConfig();
    const core = admin.makeApiClient(CoreV1Api);
    upstream = await new Upstream({ min: lifetime.min * 1000, max: lifetime.max * 1000 }).start();
    const up = upstream;
    const staticPassword = randomBytes(24).toString("base64url");
    registry = await startGatedRegistry(
      (u, p) => (u === APP_USERNAME && up.isLive(p)) || (u === STATIC_USERNAME && p === staticPassword),
    );
    await registry.pushImage(REPO, TAG);
    const appHost = registry.host;
    const staticHost = registry.host.replace("127.0.0.1", "localhost");
    const lp = await leastPrivilege(c, run, [SECRET_NAME]);
    const token = lp.kc.getCurrentUser()!.token!;

    const oracle = (host: string, e: EntryView, now: number): Verdict => {
      if (host === appHost && e.username === APP_USERNAME) {
        const expiry = up.expiryOf(e.password);
        if (expiry === undefined) return { state: "unknown" };
        return now < expiry ? { state: "valid", expiresAt: expiry } : { state: "expired", expiresAt: expiry };
      }
      if (host === staticHost && e.username === STATIC_USERNAME && e.password === staticPassword)
        return { state: "valid", expiresAt: null };
      return { state: "unknown" };
    };

    // Namespaces: a (selected before and after the config change), b (only after), c (only
    // before), z (never); plus the churn set, in group a.
    const labels = (group: string) => ({ "regcred-soak": run, "soak-group": group });
    const base = { a: 10, b: 5, c: 5, z: 3 };
    await forEachLimit(
      Object.entries(base).flatMap(([g, n]) =>
        Array.from({ length: n }, (_, i) => ({ g, name: `soak-${run}-${g}-${i}` })),
      ),
      8,
      async ({ g, name }) =>
        void (await core.createNamespace({ body: { metadata: { name, labels: labels(g) } } })),
    );

    const files = { pem: path.join(dir, "app.pem"), pw: path.join(dir, "static-password") };
    writeFileSync(files.pem, up.privateKeyPem, { mode: 0o600 });
    writeFileSync(files.pw, staticPassword, { mode: 0o600 });
    const configFile = path.join(dir, "config.yaml");
    const writeConfig = (version: 1 | 2) => {
      // Replaced atomically, as a ConfigMap volume's symlink swap does.
      const tmp = `${configFile}.tmp`;
      writeFileSync(
        tmp,
        configYaml({
          version,
          run,
          upstream: up.url,
          appHost,
          staticHost,
          leaseNamespace: lp.namespace,
          leaseName: lp.leaseName,
        }),
      );
      renameSync(tmp, configFile);
    };
    writeConfig(1);
    let configVersion: 1 | 2 = 1;

    const pki = path.join(dir, "proxy-pki");
    mkdirSync(pki);
    const proxyCa = await makeCA(pki, "regcred-soak-proxy-ca");
    const proxyCert = await makeServingCert(pki, "proxy", proxyCa);
    const proxyCaPem = readFileSync(proxyCa.certFile, "utf8");
    let replicaNo = 0;
    const launch = async (): Promise<Replica> => {
      const name = `r${++replicaNo}`;
      const proxy = await new ApiProxy(c.server, c.caData, proxyCert).start();
      proxies.push(proxy);
      const kubeconfig = path.join(dir, `kubeconfig-${name}`);
      writeFileSync(kubeconfig, kubeconfigYaml(proxy.url, proxyCaPem, token, `regcred-${name}`), {
        mode: 0o600,
      });
      const r = await startReplica({
        root: ROOT,
        name,
        configFile,
        configVersion,
        kubeconfig,
        proxy,
        logDir,
      });
      replicas.push(r);
      say(`${name} running (pid ${r.pid}, config v${configVersion})`);
      return r;
    };

    // Config change bookkeeping for the prober's expectations.
    const change: { started?: number; ended?: number } = {};
    const expectation = (ns: V1Namespace, now: number) => {
      const g = ns.metadata?.labels?.["soak-group"] ?? "";
      const created = new Date(ns.metadata?.creationTimestamp ?? 0).getTime();
      const v1 = g === "a" || g === "c";
      const v2 = g === "a" || g === "b";
      const sel = (yes: boolean) => (yes ? ("selected" as const) : ("unselected" as const));
      if (change.started === undefined || now < change.started) return { expect: sel(v1), since: created };
      if (change.ended === undefined || now < change.ended)
        return v1 === v2 ? { expect: sel(v1), since: created } : { expect: "skip" as const, since: now };
      return { expect: sel(v2), since: v1 === v2 ? created : Math.max(created, change.ended) };
    };

    const accounting = new Accounting({ hosts: [appHost, staticHost], graceMs: GRACE_MS, oracle });
    const prober = new Prober({
      kc: admin,
      labelSelector: `regcred-soak=${run}`,
      secretName: SECRET_NAME,
      expectation,
      oracle,
      accounting,
      registry,
      repo: REPO,
      tag: TAG,
      imageHost: appHost,
      pullEvery: 5,
      lapsed: () => {
        const token = up.newestExpired();
        return token === undefined ? undefined : { username: APP_USERNAME, password: token };
      },
    });

    await launch();
    await launch();
    // Warm-up: until every selected namespace holds good entries (not counted).
    const warm = new Accounting({ hosts: [appHost, staticHost], graceMs: 0, oracle });
    const warmProber = new Prober({
      kc: admin,
      labelSelector: `regcred-soak=${run}`,
      secretName: SECRET_NAME,
      expectation,
      oracle,
      accounting: warm,
      registry,
      repo: REPO,
      tag: TAG,
      imageHost: appHost,
      pullEvery: 1_000_000,
    });
    const warmDeadline = Date.now() + 90_000;
    for (;;) {
      const before = { ...warm.counts };
      await warmProber.tick();
      if (CATEGORIES.every((k) => warm.counts[k] === before[k]) && warm.ticks > 1) break;
      if (Date.now() > warmDeadline) throw new Error("warm-up: the Secrets were not all good within 90 s");
      await sleep(1000);
    }
    const t0 = Date.now();
    const upstreamCallsAtT0 = up.calls.length;
    const mintsAtT0 = up.github.minted.length;
    say(`warm: all selected namespaces hold good entries; soak starts`);

    const leader = (): Replica | undefined => {
      // The wire's word: the live replica whose last successful Lease write named itself latest.
      let best: { r: Replica; at: number } | undefined;
      for (const r of replicas.filter(alive)) {
        const w = r.proxy.leaseWrites.filter((l) => l.status < 300 && l.holder !== "").at(-1);
        if (w && (!best || w.answeredAt > best.at)) best = { r, at: w.answeredAt };
      }
      return best?.r;
    };
    // Replacement Pods start on their own time, as a Deployment's do: faults do not wait for them.
    const replacements: Array<Promise<unknown>> = [];
    const killLeader = async (): Promise<string> => {
      const l = leader();
      if (!l) throw new Error("no leader found");
      kill(l, "SIGKILL");
      await l.exited;
      replacements.push(sleep(5_000).then(launch));
      return `SIGKILL ${l.name}; replacement in 5 s`;
    };
    const churn: string[] = Array.from({ length: churnCount }, (_, i) => `soak-${run}-n-${i}`);

    const actions: Record<FaultKind, (f: Fault) => Promise<string>> = {
      "namespaces-create": async () => {
        await forEachLimit(churn, 10, async (name) => {
          await core.createNamespace({ body: { metadata: { name, labels: labels("a") } } });
        });
        return `${churn.length} created`;
      },
      "leader-kill": killLeader,
      "leader-kill-during-outage": killLeader,
      "apiserver-stop": async (f) => {
        apiserverDown.from = Date.now();
        await c.stopApiserver();
        const gone = Date.now();
        await sleep(f.duration! * 1000);
        await c.startApiserver();
        apiserverDown.to = Date.now();
        return `stopping took ${((gone - apiserverDown.from) / 1000).toFixed(1)} s, down ${f.duration} s, back to ready in ${((apiserverDown.to - gone) / 1000 - f.duration!).toFixed(1)} s`;
      },
      "namespaces-delete": async () => {
        await forEachLimit(churn, 10, async (name) => void (await core.deleteNamespace({ name })));
        return `${churn.length} deleted`;
      },
      "config-change": async () => {
        change.started = Date.now();
        writeConfig(2);
        configVersion = 2;
        // What the chart does on a config change: a rolling update (maxSurge 1, maxUnavailable 0).
        const old = replicas.filter((r) => alive(r) && r.configVersion === 1);
        for (const r of old) {
          await launch();
          await terminate(r);
        }
        change.ended = Date.now();
        return `rolled ${old.map((r) => r.name).join(", ")} to v2`;
      },
      "provider-outage": async (f) => {
        up.setOutage(true);
        outage.from = Date.now();
        outage.to = outage.from + f.duration! * 1000;
        outage.ended = sleep(f.duration! * 1000).then(() => up.setOutage(false));
        return `${f.duration} s of 503`;
      },
    };

    const apiserverDown: { from?: number; to?: number } = {};
    // The outage as it really ran (a slow fault before it delays it).
    const outage: { from?: number; to?: number; ended?: Promise<void> } = {};
    const outageFault = timeline.faults.find((f) => f.kind === "provider-outage")!;
    const faults: FaultRecord[] = [];
    const faultRunner = (async () => {
      let prevEnd = t0;
      for (const f of timeline.faults) {
        await sleep(Math.max(t0 + f.at * 1000, prevEnd + f.after * 1000) - Date.now());
        // Into the outage by as much as planned, however late the outage began.
        if (f.kind === "leader-kill-during-outage" && outage.from !== undefined)
          await sleep(outage.from + (f.at - outageFault.at) * 1000 - Date.now());
        const rec: FaultRecord = { kind: f.kind, plannedAt: f.at, startedAt: (Date.now() - t0) / 1000 };
        if (f.duration) rec.duration = f.duration;
        faults.push(rec);
        say(`t+${rec.startedAt.toFixed(0)} s: ${f.kind}`);
        try {
          rec.note = await actions[f.kind](f);
          rec.ok = true;
        } catch (e) {
          rec.ok = false;
          rec.note = e instanceof Error ? e.message : String(e);
          say(`fault ${f.kind} failed: ${rec.note}`);
        }
        rec.endedAt = (Date.now() - t0) / 1000;
        // An outage runs on while the next faults play: it ends on its own.
        if (f.kind !== "provider-outage") prevEnd = Date.now();
      }
    })();

    let recoveredAt: number | undefined;
    let faultsDone = false;
    void faultRunner.finally(() => (faultsDone = true));
    // The planned length, stretched if faults ran late: the tail after the outage always runs.
    const tailMs = (timeline.durationS - outageFault.at - outageFault.duration!) * 1000;
    const ended = () =>
      Date.now() >= t0 + timeline.durationS * 1000 &&
      faultsDone &&
      outage.to !== undefined &&
      Date.now() >= outage.to + tailMs;
    let next = Date.now();
    while (!ended()) {
      const before = { ...accounting.counts };
      await prober.tick();
      await Promise.all(replicas.filter(alive).map(sample));
      const clean = CATEGORIES.every((k) => accounting.counts[k] === before[k]);
      if (recoveredAt === undefined && outage.to !== undefined && Date.now() > outage.to && clean)
        recoveredAt = Date.now();
      next += probeMs;
      await sleep(next - Date.now());
    }
    await faultRunner;
    await outage.ended;
    await Promise.all(replacements);
    await Promise.all(replicas.filter(alive).map(sample));
    const windows: Window[] = [
      // From SIGTERM to /readyz: the provider is up, but nothing can be written.
      { label: "apiserver", from: apiserverDown.from!, to: apiserverDown.to! },
      { label: "outage", from: outage.from!, to: outage.to! },
      { label: "recovery", from: outage.to!, to: outage.to! + RECOVERY_ALLOWANCE_MS },
    ];
    for (const r of replicas.filter(alive)) await terminate(r);
    // The wire records beside each process's log, for a closer look at what it wrote when.
    for (const r of replicas) {
      writeFileSync(
        path.join(logDir, `${r.name}.wire.json`),
        JSON.stringify({ writes: r.proxy.writes, leaseWrites: r.proxy.leaseWrites }),
      );
    }

    return buildReport({
      run,
      dir,
      t0,
      probeIntervalS: probeMs / 1000,
      lifetimeS: lifetime,
      refresh: REFRESH,
      churn: churnCount,
      faults,
      windows,
      accounting,
      prober,
      replicas,
      renewDeadlineMs: LEASE.renewDeadlineMs,
      upstream: {
        calls: up.calls.slice(upstreamCallsAtT0),
        mints: up.github.minted.slice(mintsAtT0).map((m) => m.token),
        seenTokens: prober.seenPasswords,
      },
      durationS: Math.round((Date.now() - t0) / 1000),
      recovery: {
        outageEndedAt: outage.to!,
        recoveredAt,
        allowanceMs: RECOVERY_ALLOWANCE_MS,
      },
    });
  } finally {
    for (const r of replicas) kill(r, "SIGKILL");
    await Promise.all(replicas.map((r) => r.exited));
    await Promise.all(proxies.map((p) => p.stop()));
    await registry?.stop();
    await upstream?.stop();
    await cluster?.stop();
  }
}
