/**
 * npm run soak [-- --minutes N] [--probe-interval S] [--json FILE] — regcred under faults for
 * N minutes (default 20, env SOAK_MINUTES): 60-90 s credentials checked by real pulls, a
 * provider outage longer than one lifetime, a 30 s API server stop, the leader SIGKILLed (also
 * once during the outage), 200 namespaces created and deleted, a config change rolled out.
 * Prints a table and the JSON report; exits 1 when a target is missed.
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { formatReport } from "./report.ts";
import { runSoak } from "./run.ts";

const { values } = parseArgs({
  options: {
    minutes: { type: "string" },
    "probe-interval": { type: "string" },
    json: { type: "string" },
    "skip-build": { type: "boolean" },
  },
});
const minutes = Number(values.minutes ?? process.env.SOAK_MINUTES ?? 20);
if (!(minutes > 0)) {
  console.error(`--minutes: expected a positive number, got ${values.minutes}`);
  process.exit(2);
}
const report = await runSoak({
  minutes,
  probeIntervalS: Number(values["probe-interval"] ?? 2),
  skipBuild: values["skip-build"] ?? false,
});
console.log(formatReport(report));
console.log(JSON.stringify(report, null, 2));
if (values.json) writeFileSync(values.json, JSON.stringify(report, null, 2));
process.exit(report.met ? 0 : 1);
