// npm run demo: start the rig's control plane, run regcred against it, and show Secrets
// appearing in namespaces as they are created. Nothing leaves this machine.
import path from "node:path";
import { CoreV1Api } from "@kubernetes/client-node";
import { startCluster } from "./cluster.ts";
import { loadConfig } from "../../src/config/load.ts";
import { startDaemon } from "../../src/daemon.ts";
import { createKubeOutput } from "../../src/kube/output.ts";
import { Metrics } from "../../src/observe/metrics.ts";
import { createLogger } from "../../src/observe/log.ts";
import { main as cli } from "../../src/cli/program.ts";

const say = (text: string) => console.log(`\n== ${text}`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

say("starting kube-apiserver, etcd and kube-controller-manager (the first run builds them: ~15 min)");
const cluster = await startCluster();
try {
  const core = cluster.kubeConfig().makeApiClient(CoreV1Api);
  for (const name of ["team-a", "team-b", "sandbox"]) {
    await core.createNamespace({ body: { metadata: { name, labels: { pulls: "private" } } } });
  }
  const config = await loadConfig(path.resolve(import.meta.dirname, "../../examples/demo.yaml"));
  const log = createLogger({ level: "warn" });
  const metrics = new Metrics();
  say(
    `regcred running against ${cluster.server}: target "regcred" -> namespaces team-* labelled pulls=private`,
  );
  const daemon = await startDaemon({
    config,
    log,
    metrics,
    ...createKubeOutput({ kc: cluster.kubeConfig(), config, log, metrics }),
  });
  await daemon.refresher.settled();
  await daemon.sync.idle();
  await cli(["status", "--kubeconfig", cluster.kubeconfigPath]);

  say("creating namespace team-c (labelled) and team-d (not labelled)");
  const created = Date.now();
  await core.createNamespace({ body: { metadata: { name: "team-c", labels: { pulls: "private" } } } });
  await core.createNamespace({ body: { metadata: { name: "team-d" } } });
  for (;;) {
    const found = await core.readNamespacedSecret({ namespace: "team-c", name: "regcred" }).catch(() => null);
    if (found) break;
    await sleep(10);
  }
  console.log(`team-c has its pull secret ${Date.now() - created} ms after it was created`);
  await sleep(500);
  await cli(["status", "--kubeconfig", cluster.kubeconfigPath]);
  const sa = await core
    .readNamespacedServiceAccount({ namespace: "team-c", name: "default" })
    .catch(() => null);
  console.log(
    `team-c default ServiceAccount imagePullSecrets: ${JSON.stringify(sa?.imagePullSecrets ?? [])}`,
  );

  say("deleting team-a's Secret by hand: regcred puts it back");
  await core.deleteNamespacedSecret({ namespace: "team-a", name: "regcred" });
  await sleep(500);
  await cli(["status", "--kubeconfig", cluster.kubeconfigPath, "--filter", "team-a"]);
  await daemon.stop();
} finally {
  say("stopping the control plane");
  await cluster.stop();
}
