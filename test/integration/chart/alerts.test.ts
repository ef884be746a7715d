// The alert rules (charts/regcred/files/alerts.yaml, the one source of the PrometheusRule and
// of the plain rules file) under Prometheus' own rule engine: `promtool check rules`, then
// `promtool test rules` with a case where each alert fires and cases where it must not.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureTool } from "../../rig/tools.ts";
import { CHART_DIR, one, template } from "./helm.ts";

const RULES = join(CHART_DIR, "files", "alerts.yaml");

interface Rule {
  alert: string;
  expr: string;
  for?: string;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}
const source = parse(readFileSync(RULES, "utf8")) as { groups: { name: string; rules: Rule[] }[] };
const ALERTS = source.groups.flatMap((g) => g.rules.map((r) => r.alert));

// Labels every regcred target carries when scraped through the chart's ServiceMonitor.
const T = { job: "regcred", namespace: "regcred" };
const A = { ...T, instance: "10.0.0.1:8080", pod: "regcred-a" };
const B = { ...T, instance: "10.0.0.2:8080", pod: "regcred-b" };
const ECR = { registry: "prod-ecr", provider: "ecr" };
const GCR = { registry: "gar", provider: "gcr" };

const sel = (name: string, labels: Record<string, string>) =>
  `${name}{${Object.entries(labels)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",")}}`;
const series = (name: string, labels: Record<string, string>, values: string) => ({
  series: sel(name, labels),
  values,
});

/** A target that is up and leading for `minutes`, so only the series under test vary. */
const healthyTarget = (minutes: number, target = A) => [
  series("up", target, `1x${minutes}`),
  series("regcred_leader", target, `1x${minutes}`),
];

interface AlertCase {
  name: string;
  input: ReturnType<typeof series>[];
  /** minutes -> alert -> expected firing alerts' labels (without alertname); alerts not listed must be silent. */
  expect: { at: number; firing: Partial<Record<string, Record<string, string>[]>> }[];
}

const sev = (severity: string, labels: Record<string, string>) => ({ ...labels, severity });

// ECR: a 12 h token (43200 s) minted at t=0, refreshed every 6 h: nothing is wrong.
const cases: AlertCase[] = [
  {
    name: "healthy ECR: refreshes succeed, nothing fires",
    input: [
      ...healthyTarget(180),
      series("regcred_last_success_timestamp_seconds", { ...A, ...ECR }, "0x180"),
      series("regcred_credential_expiry_timestamp_seconds", { ...A, ...ECR }, "43200x180"),
      series("regcred_refresh_failures_total", { ...A, ...ECR, reason: "throttled" }, "0x180"),
      series("regcred_namespaces_out_of_sync", { ...A, secret: "regcred" }, "0x180"),
      series("regcred_conflicts", { ...A, secret: "regcred" }, "0x180"),
    ],
    expect: [
      { at: 30, firing: {} },
      { at: 179, firing: {} },
    ],
  },
  {
    // 1 h tokens refreshed at half-life: 30 min left at the lowest, never "expiring".
    name: "healthy GCR: 1 h tokens refreshed every 30 min, nothing fires",
    input: [
      ...healthyTarget(120),
      series("regcred_last_success_timestamp_seconds", { ...A, ...GCR }, "0x29 1800x30 3600x30 5400x30"),
      series(
        "regcred_credential_expiry_timestamp_seconds",
        { ...A, ...GCR },
        "3600x29 5400x30 7200x30 9000x30",
      ),
    ],
    expect: [
      { at: 29, firing: {} },
      { at: 59, firing: {} },
      { at: 119, firing: {} },
    ],
  },
  {
    name: "refresh failing for 15 minutes fires; failures with successes in between do not",
    input: [
      ...healthyTarget(60),
      // prod-ecr: fails every minute from t=0, last success at t=0.
      series("regcred_refresh_failures_total", { ...A, ...ECR, reason: "access_denied" }, "0+1x60"),
      series("regcred_last_success_timestamp_seconds", { ...A, ...ECR }, "0x60"),
      // gar: fails every minute, but succeeds every minute too (a flaky upstream that recovers).
      series("regcred_refresh_failures_total", { ...A, ...GCR, reason: "network" }, "0+1x60"),
      series("regcred_last_success_timestamp_seconds", { ...A, ...GCR }, "0+60x60"),
    ],
    expect: [
      { at: 20, firing: {} }, // failing for 5 min past the 15 min of no success: still pending
      { at: 35, firing: { RegcredRefreshFailing: [sev("warning", { ...T, ...ECR })] } },
    ],
  },
  {
    name: "a registry that never succeeded and keeps failing fires",
    input: [
      ...healthyTarget(40),
      series("regcred_refresh_failures_total", { ...A, ...ECR, reason: "bad_credentials" }, "0+1x40"),
    ],
    expect: [{ at: 35, firing: { RegcredRefreshFailing: [sev("warning", { ...T, ...ECR })] } }],
  },
  {
    // prod-ecr: accepted at t=0, then every new credential is rejected (retried every minute);
    // gar: its registry is unreachable from the cluster, so credentials roll out unverified.
    name: "credentials rejected by the registry fire; unverified roll-outs do not",
    input: [
      ...healthyTarget(40),
      series("regcred_credential_verifications_total", { ...A, ...ECR, result: "accepted" }, "1x40"),
      series("regcred_credential_verifications_total", { ...A, ...ECR, result: "rejected" }, "0+1x40"),
      series("regcred_credential_verifications_total", { ...A, ...GCR, result: "unreachable" }, "0+1x40"),
    ],
    expect: [
      { at: 1, firing: {} }, // pending: needs `for`
      { at: 5, firing: { RegcredCredentialRejected: [sev("warning", { ...T, ...ECR })] } },
      { at: 39, firing: { RegcredCredentialRejected: [sev("warning", { ...T, ...ECR })] } },
    ],
  },
  {
    // Rejected from t=0 to 20 min, then the provider is good again: accepted every 10 min.
    name: "a rejected credential followed by an accepted one stops firing at once, and stays silent",
    input: [
      ...healthyTarget(60),
      series("regcred_credential_verifications_total", { ...A, ...ECR, result: "rejected" }, "0+1x20 20x40"),
      series(
        "regcred_credential_verifications_total",
        { ...A, ...ECR, result: "accepted" },
        "0x21 1x10 2x10 3x10 4x9",
      ),
    ],
    expect: [
      { at: 15, firing: { RegcredCredentialRejected: [sev("warning", { ...T, ...ECR })] } },
      { at: 22, firing: {} },
      { at: 30, firing: {} },
      { at: 50, firing: {} },
    ],
  },
  {
    // Minted at t=0 with 50 min to live, never refreshed: at 46 min 4 min are left (8%).
    name: "expiry approaching now fires the expiring and lifetime alerts",
    input: [
      ...healthyTarget(60),
      series("regcred_last_success_timestamp_seconds", { ...A, ...ECR }, "0x60"),
      series("regcred_credential_expiry_timestamp_seconds", { ...A, ...ECR }, "3000x60"),
    ],
    expect: [
      { at: 30, firing: {} }, // 20 min left, 40% of the lifetime
      {
        at: 46,
        firing: {
          RegcredCredentialExpiringSoon: [sev("warning", { ...T, ...ECR })],
          RegcredCredentialLifetimeLow: [sev("warning", { ...T, ...ECR })],
        },
      },
    ],
  },
  {
    // 12 h token, no refresh for 9.5 h: 2.5 h left (21%) is not "soon" by time, but by fraction.
    name: "a long token past 75% of its lifetime fires only the lifetime alert",
    input: [
      ...healthyTarget(600),
      series("regcred_last_success_timestamp_seconds", { ...A, ...ECR }, "0x600"),
      series("regcred_credential_expiry_timestamp_seconds", { ...A, ...ECR }, "43200x600"),
    ],
    expect: [
      { at: 500, firing: {} }, // 30.5% left
      { at: 580, firing: { RegcredCredentialLifetimeLow: [sev("warning", { ...T, ...ECR })] } },
    ],
  },
  {
    name: "an expired credential fires the expired alert (and no longer the expiring one)",
    input: [
      ...healthyTarget(30),
      series("regcred_last_success_timestamp_seconds", { ...A, ...ECR }, "0x30"),
      series("regcred_credential_expiry_timestamp_seconds", { ...A, ...ECR }, "600x30"),
    ],
    expect: [
      { at: 9, firing: { RegcredCredentialExpiringSoon: [sev("warning", { ...T, ...ECR })] } },
      { at: 15, firing: { RegcredCredentialExpired: [sev("critical", { ...T, ...ECR })] } },
    ],
  },
  {
    name: "namespaces out of sync on the leader for 15 minutes fire; a blip or a stale standby does not",
    input: [
      ...healthyTarget(40, A),
      series("up", B, "1x40"),
      series("regcred_leader", B, "0x40"),
      series("regcred_namespaces_out_of_sync", { ...A, secret: "regcred" }, "3x40"),
      series("regcred_namespaces_out_of_sync", { ...A, secret: "blip" }, "2x5 0x35"),
      // B lost the lease with a stale gauge: the leader's view is what counts.
      series("regcred_namespaces_out_of_sync", { ...B, secret: "stale" }, "5x40"),
      series("regcred_conflicts", { ...B, secret: "stale" }, "5x40"),
    ],
    expect: [
      { at: 10, firing: {} },
      { at: 20, firing: { RegcredNamespacesOutOfSync: [sev("warning", { ...T, secret: "regcred" })] } },
    ],
  },
  {
    name: "conflicts on the leader fire after 10 minutes",
    input: [...healthyTarget(30), series("regcred_conflicts", { ...A, secret: "regcred" }, "2x30")],
    expect: [
      { at: 5, firing: {} },
      { at: 15, firing: { RegcredConflicts: [sev("info", { ...T, secret: "regcred" })] } },
    ],
  },
  {
    name: "no replica leading fires; a handover within the minute does not",
    input: [
      series("up", A, "1x30"),
      series("up", B, "1x30"),
      series("regcred_leader", A, "1x10 0x20"), // A steps down at 10 min
      series("regcred_leader", B, "0x11 1x4 0x15"), // B leads 11-15 min, then nobody
    ],
    expect: [
      { at: 14, firing: {} },
      { at: 25, firing: { RegcredNoLeader: [sev("critical", T)] } },
    ],
  },
  {
    name: "regcred_leader absent while the targets are scraped fires no-leader",
    input: [series("up", A, "1x20")],
    expect: [{ at: 10, firing: { RegcredNoLeader: [sev("critical", { job: "regcred" })] } }],
  },
  {
    name: "a target down fires RegcredDown; none up at all fires RegcredAbsent",
    input: [
      ...healthyTarget(30, A),
      series("up", B, "1x5 0x25"),
      series("regcred_leader", B, "0x5"),
      series("up", { ...T, instance: "10.0.0.3:8080", pod: "regcred-c" }, "0x30"),
    ],
    expect: [
      { at: 4, firing: {} },
      {
        at: 15,
        firing: {
          RegcredDown: [
            sev("warning", B),
            sev("warning", { ...T, instance: "10.0.0.3:8080", pod: "regcred-c" }),
          ],
        },
      },
    ],
  },
  {
    name: "nothing scraped at all fires RegcredAbsent (and no-leader)",
    input: [series("some_other_job_metric", { job: "other" }, "1x30")],
    expect: [
      { at: 3, firing: {} },
      {
        at: 15,
        firing: {
          RegcredAbsent: [{ severity: "critical" }],
          RegcredNoLeader: [sev("critical", { job: "regcred" })],
        },
      },
    ],
  },
];

function labelsOnlyRules(): string {
  // Annotations are compared in full by promtool: the matrix checks expressions and labels on a
  // copy without them; the annotation test below renders the real file's.
  return stringify({
    groups: source.groups.map((g) => ({
      name: g.name,
      rules: g.rules.map(({ annotations: _a, ...rest }) => rest),
    })),
  });
}

function testFile(rulesFile: string): string {
  return stringify({
    rule_files: [rulesFile],
    evaluation_interval: "1m",
    tests: cases.map((c) => ({
      name: c.name,
      interval: "1m",
      input_series: c.input,
      alert_rule_test: c.expect.flatMap((e) =>
        ALERTS.map((alert) => ({
          eval_time: `${e.at}m`,
          alertname: alert,
          exp_alerts: (e.firing[alert] ?? []).map((labels) => ({ exp_labels: labels })),
        })),
      ),
    })),
  });
}

describe("alerts (promtool)", () => {
  let promtool = "";
  let dir = "";
  beforeAll(async () => {
    promtool = await ensureTool("promtool");
    dir = mkdtempSync(join(tmpdir(), "regcred-alerts-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const run = (...args: string[]) => spawnSync(promtool, args, { encoding: "utf8", cwd: dir });

  it("promtool check rules accepts files/alerts.yaml (expressions and annotation templates)", () => {
    const r = run("check", "rules", RULES);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`SUCCESS: ${ALERTS.length} rules found`);
  });

  it("covers the alerts the on-call needs, each with a summary and a description pointing at the tools", () => {
    expect(ALERTS.sort()).toEqual(
      [
        "RegcredAbsent",
        "RegcredConflicts",
        "RegcredCredentialExpired",
        "RegcredCredentialExpiringSoon",
        "RegcredCredentialLifetimeLow",
        "RegcredCredentialRejected",
        "RegcredDown",
        "RegcredNamespacesOutOfSync",
        "RegcredNoLeader",
        "RegcredRefreshFailing",
      ].sort(),
    );
    for (const rule of source.groups.flatMap((g) => g.rules)) {
      expect(rule.labels.severity, rule.alert).toMatch(/^(info|warning|critical)$/);
      expect(rule.annotations.summary, rule.alert).toBeTruthy();
      expect(rule.annotations.description, rule.alert).toMatch(/regcred status|\/status|logs|kubectl/);
    }
  });

  it("every alert fires in its case and stays silent in the others (promtool test rules)", () => {
    // Each case must make something fire, or the matrix could pass with broken expressions.
    const fired = new Set(cases.flatMap((c) => c.expect.flatMap((e) => Object.keys(e.firing))));
    expect([...fired].sort()).toEqual([...ALERTS].sort());
    writeFileSync(join(dir, "rules.yaml"), labelsOnlyRules());
    writeFileSync(join(dir, "test.yaml"), testFile("rules.yaml"));
    const r = run("test", "rules", "test.yaml");
    expect(r.stdout + r.stderr).toContain("SUCCESS");
    expect(r.status, r.stdout + r.stderr).toBe(0);
  });

  it("a broken expectation fails promtool (the matrix is not vacuous)", () => {
    const broken = structuredClone(cases[0]!);
    broken.expect = [{ at: 30, firing: { RegcredDown: [sev("warning", A)] } }];
    writeFileSync(join(dir, "rules.yaml"), labelsOnlyRules());
    writeFileSync(
      join(dir, "broken.yaml"),
      stringify({
        rule_files: ["rules.yaml"],
        tests: [
          {
            interval: "1m",
            input_series: broken.input,
            alert_rule_test: [
              { eval_time: "30m", alertname: "RegcredDown", exp_alerts: [{ exp_labels: sev("warning", A) }] },
            ],
          },
        ],
      }),
    );
    const r = run("test", "rules", "broken.yaml");
    expect(r.status).not.toBe(0);
    expect(r.stdout + r.stderr).toMatch(/FAILED/);
  });

  it("renders the annotations an on-call reads (real file: labels and $value)", () => {
    const rule = (name: string) => source.groups.flatMap((g) => g.rules).find((r) => r.alert === name)!;
    const fill = (text: string) =>
      text.replace(/\{\{ \$labels\.(\w+) \}\}/g, (_m, k: string) => ({ ...T, ...ECR })[k as "job"] ?? "");
    const expired = rule("RegcredCredentialExpired").annotations;
    writeFileSync(
      join(dir, "annotations.yaml"),
      stringify({
        rule_files: [RULES],
        tests: [
          {
            interval: "1m",
            input_series: [
              ...healthyTarget(60),
              series("regcred_last_success_timestamp_seconds", { ...A, ...ECR }, "0x60"),
              series("regcred_credential_expiry_timestamp_seconds", { ...A, ...ECR }, "3000x60"),
            ],
            alert_rule_test: [
              {
                eval_time: "42m",
                alertname: "RegcredCredentialExpiringSoon",
                exp_alerts: [
                  {
                    exp_labels: sev("warning", { ...T, ...ECR }),
                    exp_annotations: {
                      summary: "The credential of prod-ecr expires in 8m 0s",
                      description: fill(rule("RegcredCredentialExpiringSoon").annotations.description!),
                    },
                  },
                ],
              },
              {
                eval_time: "55m",
                alertname: "RegcredCredentialExpired",
                exp_alerts: [
                  {
                    exp_labels: sev("critical", { ...T, ...ECR }),
                    exp_annotations: {
                      summary: fill(expired.summary!),
                      description: fill(expired.description!),
                    },
                  },
                ],
              },
            ],
          },
        ],
      }),
    );
    const r = run("test", "rules", "annotations.yaml");
    expect(r.status, r.stdout + r.stderr).toBe(0);
    // The description tells where to look, with the registry filled in.
    expect(fill(expired.description!)).toContain('regcred_refresh_failures_total{registry="prod-ecr"}');
  });
});

describe("alerts: the chart's PrometheusRule is files/alerts.yaml", () => {
  let helmBin = "";
  beforeAll(async () => {
    helmBin = await ensureTool("helm");
  });
  const minimal = [
    "registries[0].name=hub",
    "registries[0].provider=static",
    "registries[0].registries[0]=docker.io",
    "registries[0].username=u",
    "registries[0].passwordFrom.env=P",
    "secrets[0].name=regcred",
    "secrets[0].registries[0]=hub",
  ];

  it("renders the same groups by default", () => {
    const rule = one(
      template(helmBin, { set: [...minimal, "prometheusRule.enabled=true"] }),
      "PrometheusRule",
    );
    expect((rule.spec as { groups: unknown }).groups).toEqual(source.groups);
  });

  it("drops disabled alerts, merges overrides and routing labels", () => {
    const rule = one(
      template(helmBin, {
        set: [
          ...minimal,
          "prometheusRule.enabled=true",
          "prometheusRule.disabled[0]=RegcredConflicts",
          "prometheusRule.overrides.RegcredDown.for=15m",
          "prometheusRule.overrides.RegcredDown.labels.severity=critical",
          "prometheusRule.additionalAlertLabels.team=platform",
        ],
      }),
      "PrometheusRule",
    );
    const rules = (rule.spec as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
    expect(rules.map((r) => r.alert)).not.toContain("RegcredConflicts");
    expect(rules).toHaveLength(ALERTS.length - 1);
    const down = rules.find((r) => r.alert === "RegcredDown")!;
    expect(down.for).toBe("15m");
    expect(down.labels).toEqual({ severity: "critical", team: "platform" });
    const expired = rules.find((r) => r.alert === "RegcredCredentialExpired")!;
    expect(expired.labels).toEqual({ severity: "critical", team: "platform" });
    expect(expired.annotations).toEqual(
      source.groups.flatMap((g) => g.rules).find((r) => r.alert === "RegcredCredentialExpired")!.annotations,
    );
  });
});
