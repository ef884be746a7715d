// Every series the chart's alert rules (files/alerts.yaml) and Grafana dashboard
// (files/dashboard.json) read exists, with the labels they select, group and match on, in the
// /metrics of a running daemon: no alert can watch a metric that is never exported.
//
// The expressions are parsed by Prometheus' own PromQL parser (the promtool build's module,
// test/rig/tools/promtool/promql-selectors), not by a tokenizer. The daemon is the real one
// (startDaemon, as `regcred run` starts it) against the rig's API server, minting through the
// static provider and verifying with the rig's real registry; it is driven through the states
// that create every series (a good registry, a rejected one, Secrets written).
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTool } from "../../rig/tools.ts";
import { startRegistry, type Registry } from "../../rig/registry.ts";
import { createNamespaces, type NamespaceSet } from "../../rig/namespaces.ts";
import { sharedCluster } from "../../rig/shared.ts";
import { startDaemon, type Daemon } from "../../../src/daemon.ts";
import { parseConfig } from "../../../src/config/load.ts";
import { createKubeOutput } from "../../../src/kube/output.ts";
import { Metrics } from "../../../src/observe/metrics.ts";
import { captureLogger } from "../../helpers/log.ts";
import { main } from "../../../src/cli/program.ts";
import { parsePrometheus, type Sample } from "../../helpers/prom.ts";
import { CHART_DIR } from "./helm.ts";

/**
 * Labels that Prometheus adds when it scrapes a target through the chart's ServiceMonitor
 * (job from jobLabel, namespace/pod/service/instance/endpoint/container from the endpoints):
 * never in /metrics, on every scraped series.
 */
const TARGET_LABELS = new Set(["job", "instance", "namespace", "pod", "service", "endpoint", "container"]);
/** Series Prometheus writes itself for every target. */
const SYNTHETIC = new Set(["up"]);

interface Matcher {
  name: string;
  type: "=" | "!=" | "=~" | "!~";
  value: string;
}
interface Analysis {
  error?: string;
  selectors: Array<{ metric: string; matchers: Matcher[] }>;
  labels: Array<{ kind: string; labels: string[]; within: { fixed: string[]; metrics: string[] } }>;
}
interface Use {
  where: string;
  expr: string;
}

/** Every PromQL expression of the rules file and the dashboard, with Grafana's variables filled in. */
function expressions(): Use[] {
  const rules = parse(readFileSync(join(CHART_DIR, "files", "alerts.yaml"), "utf8")) as {
    groups: { rules: { alert: string; expr: string }[] }[];
  };
  const uses: Use[] = rules.groups.flatMap((g) =>
    g.rules.map((r) => ({ where: `alert ${r.alert}`, expr: r.expr })),
  );
  const dashboard = JSON.parse(readFileSync(join(CHART_DIR, "files", "dashboard.json"), "utf8")) as {
    panels: { title: string; targets?: { expr: string }[] }[];
    templating: { list: { name: string; type: string; query?: { query?: string } | string }[] };
  };
  const grafana = (expr: string) =>
    expr
      .replaceAll("$__rate_interval", "5m")
      .replaceAll("$__range", "1h")
      .replace(/\$\{?(\w+)\}?/g, ".*");
  for (const p of dashboard.panels)
    for (const t of p.targets ?? []) uses.push({ where: `panel "${p.title}"`, expr: grafana(t.expr) });
  for (const v of dashboard.templating.list) {
    if (v.type !== "query") continue; // a datasource picker names a plugin, not a query
    const q = typeof v.query === "string" ? v.query : v.query?.query;
    if (!q) continue;
    // Grafana's label_values(SELECTOR, LABEL): the selector is PromQL, the label must be on it.
    const m = /^label_values\((.*),\s*(\w+)\)$/.exec(q);
    if (!m) throw new Error(`variable ${v.name}: unknown query ${q}`);
    uses.push({ where: `variable $${v.name}`, expr: `group by (${m[2]}) (${m[1]})` });
  }
  return uses;
}

async function analyse(uses: Use[]): Promise<Analysis[]> {
  const bin = await ensureTool("promql-selectors");
  const r = spawnSync(bin, [], { input: JSON.stringify(uses.map((u) => u.expr)), encoding: "utf8" });
  if (r.status !== 0) throw new Error(`promql-selectors: ${r.stderr}`);
  return JSON.parse(r.stdout) as Analysis[];
}

const matches = (m: Matcher, value: string | undefined): boolean => {
  const v = value ?? "";
  const re = () => new RegExp(`^(?:${m.value})$`);
  switch (m.type) {
    case "=":
      return v === m.value;
    case "!=":
      return v !== m.value;
    case "=~":
      return re().test(v);
    case "!~":
      return !re().test(v);
  }
};

/** What the expressions read that the scrape does not have; empty when every series is there. */
function problems(uses: Use[], analyses: Analysis[], samples: Sample[]): string[] {
  const out: string[] = [];
  const byName = new Map<string, Sample[]>();
  for (const s of samples) byName.set(s.name, [...(byName.get(s.name) ?? []), s]);
  const labelsOf = (metric: string): Set<string> =>
    SYNTHETIC.has(metric)
      ? new Set(TARGET_LABELS)
      : new Set([...TARGET_LABELS, ...(byName.get(metric) ?? []).flatMap((s) => Object.keys(s.labels))]);
  analyses.forEach((a, i) => {
    const { where } = uses[i]!;
    if (a.error) return out.push(`${where}: does not parse: ${a.error}`);
    for (const sel of a.selectors) {
      if (SYNTHETIC.has(sel.metric)) continue;
      const series = byName.get(sel.metric);
      if (!series) {
        out.push(`${where}: ${sel.metric} is not in /metrics`);
        continue;
      }
      for (const m of sel.matchers) {
        if (TARGET_LABELS.has(m.name)) continue;
        if (!series.some((s) => m.name in s.labels))
          out.push(`${where}: ${sel.metric} has no label ${m.name}`);
        else if (!series.some((s) => matches(m, s.labels[m.name])))
          out.push(`${where}: no ${sel.metric} series with ${m.name}${m.type}"${m.value}"`);
      }
      const all = series.filter((s) =>
        sel.matchers.every((m) => TARGET_LABELS.has(m.name) || matches(m, s.labels[m.name])),
      );
      if (all.length === 0 && sel.matchers.some((m) => !TARGET_LABELS.has(m.name)))
        out.push(`${where}: no ${sel.metric} series matches all of its matchers`);
    }
    for (const use of a.labels) {
      for (const label of use.labels) {
        const available =
          use.within.fixed.includes(label) ||
          use.within.metrics.some((metric) => labelsOf(metric).has(label));
        if (!available)
          out.push(
            `${where}: ${use.kind} (${label}) on an operand that carries no ${label} (${[...use.within.fixed, ...use.within.metrics].join(", ") || "nothing"})`,
          );
      }
    }
  });
  return out;
}

/** Metric names the alerts' annotations tell the on-call to query. */
function annotationMetrics(): Array<{ where: string; metric: string }> {
  const rules = parse(readFileSync(join(CHART_DIR, "files", "alerts.yaml"), "utf8")) as {
    groups: { rules: { alert: string; annotations: Record<string, string> }[] }[];
  };
  return rules.groups.flatMap((g) =>
    g.rules.flatMap((r) =>
      [
        ...Object.values(r.annotations)
          .join("\n")
          .matchAll(/\bregcred_[a-z_]+\b/g),
      ].map((m) => ({
        where: `alert ${r.alert} annotations`,
        metric: m[0],
      })),
    ),
  );
}

describe("chart: the series the alerts and the dashboard read exist in a running daemon's /metrics", () => {
  const dir = mkdtempSync(join(tmpdir(), "regcred-series-"));
  let registry: Registry;
  let ns: NamespaceSet;
  let daemon: Daemon;
  let scrape = "";
  let uses: Use[];
  let analyses: Analysis[];

  beforeAll(async () => {
    uses = expressions();
    [registry, analyses] = await Promise.all([
      startRegistry({ auth: "token", users: [{ username: "bot", password: "series-good-password" }] }),
      analyse(uses),
    ]);
    writeFileSync(join(dir, "good"), "series-good-password\n");
    writeFileSync(join(dir, "wrong"), "series-wrong-password\n");
    const kc = sharedCluster().kubeConfig();
    ns = await createNamespaces(kc, "series", 1, { "regcred-series": "yes" });
    const config = parseConfig(
      join(dir, "regcred.yaml"),
      `registries:
  - name: good
    provider: static
    registries: ["${registry.host}"]
    username: bot
    passwordFrom: { file: ${join(dir, "good")} }
    expiresAt: "2099-01-01T00:00:00Z"
  - name: rejected
    provider: static
    registries: ["${registry.host}/other"]
    username: bot
    passwordFrom: { file: ${join(dir, "wrong")} }
secrets:
  - name: pull
    registries: [good, rejected]
    namespaces: { selector: { matchLabels: { regcred-series: "yes" } } }
server: { port: 0, host: 127.0.0.1 }
kubernetes: { instance: series-${ns.names[0]!.slice(-8)} }
`,
    );
    const { log } = captureLogger("info");
    // As `regcred run` builds them: process metrics included.
    const metrics = new Metrics({ processMetrics: true });
    daemon = await startDaemon({
      config,
      log,
      metrics,
      serve: true,
      ...createKubeOutput({ kc, config, log, metrics }),
    });
    await daemon.refresher.settled();
    await daemon.sync.idle();
    const res = await fetch(`${daemon.server!.url}/metrics`);
    expect(res.status).toBe(200);
    scrape = await res.text();
  });
  afterAll(async () => {
    await daemon?.stop();
    await ns?.cleanup();
    await registry?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the daemon went through the states under test (one registry verified, one rejected)", () => {
    const st = daemon.refresher.status();
    expect(st.find((s) => s.name === "good")).toMatchObject({
      state: "ok",
      verification: { result: "accepted" },
    });
    expect(st.find((s) => s.name === "rejected")).toMatchObject({
      state: "failing",
      lastError: { reason: "rejected" },
    });
  });

  it("/status and `regcred status --daemon` show what the registry said (verified, rejected)", async () => {
    const body = (await (await fetch(`${daemon.server!.url}/status`)).json()) as {
      registries: Array<{ name: string; registryCheck: boolean; verification: { result: string } | null }>;
    };
    expect(body.registries.find((r) => r.name === "good")).toMatchObject({
      registryCheck: true,
      verification: { result: "accepted" },
    });
    let out = "";
    const code = await main(["status", "--daemon", daemon.server!.url], {
      stdout: (t) => void (out += t),
      stderr: (t) => void (out += t),
    });
    expect(code).toBe(1); // a registry is failing
    const rows = out
      .trim()
      .split("\n")
      .map((l) => l.split(/\s{2,}/));
    expect(rows[0]).toEqual(["REGISTRY", "PROVIDER", "STATE", "VERIFIED", "EXPIRES", "LAST ERROR"]);
    expect(rows.find((r) => r[0] === "good")!.slice(0, 5)).toEqual([
      "good",
      "static",
      "ok",
      "yes",
      "2099-01-01T00:00:00.000Z",
    ]);
    const rejected = rows.find((r) => r[0] === "rejected")!;
    expect(rejected.slice(0, 4)).toEqual(["rejected", "static", "failing", "not yet"]);
    expect(rejected[5]).toMatch(
      /^rejected: the registry rejected the new credential: token realm .* answered 401$/,
    );
  });

  it("every expression parses, and names regcred's series (the check has something to check)", () => {
    expect(analyses.filter((a) => a.error)).toEqual([]);
    const names = new Set(analyses.flatMap((a) => a.selectors.map((s) => s.metric)));
    expect(names).toContain("regcred_credential_verifications_total");
    expect(names).toContain("regcred_credential_verified");
    expect(names).toContain("regcred_refresh_duration_seconds_bucket");
    expect(names.size).toBeGreaterThanOrEqual(12);
  });

  it("every selected series, label matcher, by/on label is in /metrics", () => {
    expect(problems(uses, analyses, parsePrometheus(scrape))).toEqual([]);
  });

  it("every metric the alerts' annotations tell the on-call to query is in /metrics", () => {
    const names = new Set(parsePrometheus(scrape).map((s) => s.name));
    const mentioned = annotationMetrics();
    expect(mentioned.length).toBeGreaterThan(0);
    expect(mentioned.filter((m) => !names.has(m.metric))).toEqual([]);
  });

  it("fails when any metric they read is renamed (each one in turn)", () => {
    const used = [...new Set(analyses.flatMap((a) => a.selectors.map((s) => s.metric)))].filter(
      (m) => !SYNTHETIC.has(m),
    );
    for (const metric of used) {
      // A rename in the code: the family's every line carries the new name.
      const family = metric.replace(/_(bucket|sum|count)$/, "");
      const renamed = scrape.replace(new RegExp(`^${family}(?=[_{ ])`, "gm"), `${family}_renamed`);
      expect(renamed, metric).not.toBe(scrape);
      expect(problems(uses, analyses, parsePrometheus(renamed)), metric).toContainEqual(
        expect.stringContaining(`${metric} is not in /metrics`),
      );
    }
  });

  it("fails when a label they select or group on is renamed, or a label value they match is never exported", () => {
    const samples = parsePrometheus(scrape);
    const relabel = (from: string, to: string) =>
      samples.map((s) =>
        from in s.labels
          ? {
              ...s,
              labels: Object.fromEntries(Object.entries(s.labels).map(([k, v]) => [k === from ? to : k, v])),
            }
          : s,
      );
    expect(problems(uses, analyses, relabel("registry", "registry_name"))).toContainEqual(
      expect.stringMatching(/has no label registry|carries no registry/),
    );
    expect(problems(uses, analyses, relabel("secret", "target"))).toContainEqual(
      expect.stringMatching(/carries no secret/),
    );
    // The rejected-credential alert matches result="rejected": without such a series it is blind.
    const noRejections = samples.filter(
      (s) => !(s.name === "regcred_credential_verifications_total" && s.labels.result === "rejected"),
    );
    expect(problems(uses, analyses, noRejections)).toContainEqual(
      expect.stringContaining('no regcred_credential_verifications_total series with result="rejected"'),
    );
  });
});
