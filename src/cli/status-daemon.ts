import type { RegistryStatus } from "../engine/refresher.ts";
import { EXIT, UsageError } from "./errors.ts";
import type { Io } from "./commands.ts";
import { formatTable } from "./table.ts";

type Row = Pick<
  RegistryStatus,
  "name" | "provider" | "state" | "usable" | "expiresAt" | "lastError" | "registryCheck" | "verification"
>;

/**
 * `regcred status --daemon URL`: what a running daemon (its /status, e.g. through kubectl
 * port-forward) says of each registry: state, what the registry said of the credential in use,
 * the last error. Exit 1 when any registry is failing or has no usable credential.
 */
export async function daemonStatusCommand(
  options: { daemon: string; filter?: string; output: string },
  io: Io,
): Promise<number> {
  let url: URL;
  try {
    url = new URL("/status", options.daemon);
  } catch {
    throw new UsageError(`--daemon: expected a URL such as http://127.0.0.1:8080, got ${options.daemon}`);
  }
  const res = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${url.href} answered ${res.status}`);
  const body = (await res.json()) as { leader?: boolean; registries: Row[] };
  const needle = options.filter?.toLowerCase();
  const rows = body.registries.filter(
    (r) => !needle || [r.name, r.provider].some((f) => f.toLowerCase().includes(needle)),
  );
  if (options.output === "json") {
    io.stdout(`${JSON.stringify(rows, null, 2)}\n`);
  } else if (body.leader === false) {
    io.stdout("this replica is not the leader: ask the leader's /status\n");
  } else {
    const table = [
      ["REGISTRY", "PROVIDER", "STATE", "VERIFIED", "EXPIRES", "LAST ERROR"],
      ...rows.map((r) => [
        r.name,
        r.provider,
        r.state,
        verified(r),
        r.expiresAt ? String(r.expiresAt) : "never",
        r.lastError ? `${r.lastError.reason}: ${r.lastError.message}` : "-",
      ]),
    ];
    io.stdout(formatTable(table));
  }
  return rows.every((r) => r.usable && r.state !== "failing") ? EXIT.ok : EXIT.failure;
}

function verified(r: Row): string {
  if (!r.registryCheck) return "off";
  if (!r.verification) return "not yet";
  return r.verification.result === "accepted" ? "yes" : `no (${r.verification.result})`;
}
