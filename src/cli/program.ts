import { Command, CommanderError, Option } from "commander";
import { ConfigError, loadConfig } from "../config/load.ts";
import { EXIT, UsageError } from "./errors.ts";
import { onceCommand, renderCommand, runCommand, validateCommand, type Io } from "./commands.ts";
import { version } from "../base/version.ts";
import { redact } from "../base/redact.ts";
import { managedSecretNames, rbacManifests } from "../kube/rbac.ts";
import { statusCommand } from "./status.ts";
import { daemonStatusCommand } from "./status-daemon.ts";
import { explainCommand, type ExplainOptions } from "./explain.ts";
import { stringify } from "yaml";

const DEFAULT_CONFIG = process.env.REGCRED_CONFIG ?? "/etc/regcred/config.yaml";

const DEFAULT_NAMESPACES: readonly string[] = Object.freeze(["default"]);

// Repeatable and comma-separated; the first one given replaces the default.
function namespaces(value: string, previous: readonly string[] = []): string[] {
  const base = previous === DEFAULT_NAMESPACES ? [] : previous;
  return [
    ...base,
    ...value
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean),
  ];
}

export function buildProgram(io: Io, exit: (code: number) => void): Command {
  const program = new Command("regcred")
    .description(
      "Keeps Kubernetes image pull secrets fresh: mints short-lived registry credentials and writes them as dockerconfigjson Secrets.",
    )
    .version(version(), "-v, --version")
    .exitOverride()
    .configureOutput({ writeOut: io.stdout, writeErr: io.stderr });

  const config = () =>
    new Option("-c, --config <file>", "config file (env REGCRED_CONFIG)").default(DEFAULT_CONFIG);
  const logLevel = () =>
    new Option("--log-level <level>", "override the config's log level").choices([
      "trace",
      "debug",
      "info",
      "warn",
      "error",
      "silent",
    ]);
  const output = () =>
    new Option(
      "-o, --output <sink>",
      "where Secrets go: kube, or dir:PATH (one file per namespace/secret)",
    ).default("kube");
  const kubeconfig = () =>
    new Option("--kubeconfig <file>", "kubeconfig for --output kube (default: in-cluster, else KUBECONFIG)");
  const namespace = () =>
    new Option(
      "-n, --namespace <names>",
      "namespaces to write into, for dir: output (repeatable, comma-separated)",
    ).argParser(namespaces);

  program
    .command("run")
    .description(
      "run the daemon: refresh before expiry, write on change, serve /metrics /healthz /readyz /status",
    )
    .addOption(config())
    .addOption(output())
    .addOption(namespace().default(DEFAULT_NAMESPACES))
    .addOption(kubeconfig())
    .addOption(new Option("--port <port>", "HTTP port (overrides server.port)").argParser(Number))
    .addOption(logLevel())
    .action(async (opts) => exit(await runCommand(opts, io)));

  program
    .command("once")
    .description(
      "mint every registry and write once; exit non-zero on any failure (Helm hooks, CronJob migration)",
    )
    .addOption(config())
    .addOption(output())
    .addOption(namespace().default(DEFAULT_NAMESPACES))
    .addOption(kubeconfig())
    .addOption(logLevel())
    .action(async (opts) => exit(await onceCommand(opts, io)));

  program
    .command("render")
    .description(
      "mint and print the Secrets as YAML, like kubectl create secret docker-registry --dry-run=client -o yaml",
    )
    .addOption(config())
    .addOption(namespace().default(DEFAULT_NAMESPACES))
    .option("-s, --secret <name...>", "only these secrets")
    .addOption(logLevel())
    .action(async (opts) => exit(await renderCommand(opts, io)));

  program
    .command("status")
    .description(
      "list the cluster's regcred-managed Secrets: registries, expiry, in sync or not (exit 1 if any is not)",
    )
    .addOption(kubeconfig())
    .option(
      "--filter <text>",
      "only rows whose namespace, secret, instance or registries contain this (case-insensitive)",
    )
    .addOption(
      new Option("-o, --output <format>", "table or json").choices(["table", "json"]).default("table"),
    )
    .option(
      "--daemon <url>",
      "instead: ask a running daemon's /status (e.g. through kubectl port-forward) for each registry's state, verification and last error",
    )
    .action(async (opts: { kubeconfig?: string; filter?: string; output: string; daemon?: string }) =>
      exit(
        await (opts.daemon
          ? daemonStatusCommand({ ...opts, daemon: opts.daemon }, io)
          : statusCommand(opts, io)),
      ),
    );

  program
    .command("explain")
    .argument(
      "<image>",
      "the image as a Pod names it, e.g. nginx or 123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v1",
    )
    .description(
      "which Secret and key kubelet would use to pull IMAGE, what regcred knows of it, and whether the registry takes it (exit 0 if the pull would authenticate, 1 if not)",
    )
    .addOption(kubeconfig())
    .option("-n, --namespace <ns>", "the namespace of the Pod", "default")
    .option("--pod <name>", "explain for this Pod's own imagePullSecrets")
    .option("--service-account <name>", "without --pod: a new Pod of this ServiceAccount", "default")
    .option("--no-verify", "judge by expiry only, without asking the registry")
    .addOption(new Option("-o, --output <format>", "text or json").choices(["text", "json"]).default("text"))
    .action(async (image: string, opts: ExplainOptions) => exit(await explainCommand(image, opts, io)));

  program
    .command("rbac")
    .description(
      "print the least RBAC the daemon needs for a config (ServiceAccount, ClusterRole granting its Secrets by name and pods delete only with healing, Role for the leader Lease) as YAML",
    )
    .addOption(config())
    .option("--namespace <ns>", "regcred's own namespace", "regcred")
    .option("--service-account <name>", "the daemon's ServiceAccount", "regcred")
    .option("--lease <name>", "the leader election Lease", "regcred")
    .action(async (opts: { config: string; namespace: string; serviceAccount: string; lease: string }) => {
      const config = await loadConfig(opts.config);
      const docs = rbacManifests({
        namespace: opts.namespace,
        serviceAccount: opts.serviceAccount,
        leaseName: opts.lease,
        secretNames: managedSecretNames(config),
        healing: config.healing.enabled,
      });
      io.stdout(docs.map((d) => stringify(d)).join("---\n"));
      exit(EXIT.ok);
    });

  program
    .command("validate")
    .description("check a config file; exit 0 if valid, 2 with every problem if not")
    .addOption(config())
    .action(async (opts) => exit(await validateCommand(opts, io)));

  return program;
}

const processIo: Io = {
  stdout: (t) => void process.stdout.write(t),
  stderr: (t) => void process.stderr.write(t),
};

export async function main(argv: string[], io: Io = processIo): Promise<number> {
  let code: number = EXIT.ok;
  const program = buildProgram(io, (c) => (code = c));
  try {
    await program.parseAsync(argv, { from: "user" });
    return code;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    if (err instanceof ConfigError || err instanceof UsageError) {
      io.stderr(`regcred: ${err.message}\n`);
      return EXIT.usage;
    }
    io.stderr(`regcred: ${redact(err instanceof Error ? err.message : String(err))}\n`);
    return EXIT.failure;
  }
}
