// The node's container runtime: Debian's containerd 1.6 + runc + CNI plugins (installed with
// apt-get when missing), run with a config of ours that keeps its root, state, sockets, CNI
// config and network namespaces under the node's folder, and trusts registry hosts through
// config_path (one hosts.toml per host, written by registry-hosts.ts).
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BRIDGE, HOSTS_DIR } from "./node-host.ts";
import { log, ManagedProcess, RigError, run, runOk, waitFor } from "./util.ts";

/** Debian's packages the node needs, and a binary each provides. */
const PACKAGES: Record<string, string> = {
  containerd: "/usr/bin/containerd",
  runc: "/usr/sbin/runc",
  "containernetworking-plugins": "/usr/lib/cni/bridge",
};
export const CNI_BIN_DIR = "/usr/lib/cni";

/** Installs containerd, runc and the CNI plugins with apt-get when a binary is missing (root). */
export async function ensureRuntimePackages(): Promise<void> {
  const missing = Object.entries(PACKAGES)
    .filter(([, bin]) => !existsSync(bin))
    .map(([pkg]) => pkg);
  if (missing.length === 0) return;
  const started = Date.now();
  log(`installing ${missing.join(", ")} with apt-get (first time only)`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  let r = await run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { env });
  if (r.code !== 0) {
    // A fresh machine has no package lists yet.
    await runOk("apt-get", ["update", "-qq"], { env });
    r = await run("apt-get", ["install", "-y", "-qq", "--no-install-recommends", ...missing], { env });
  }
  if (r.code !== 0) {
    throw new RigError(
      `apt-get install ${missing.join(" ")} failed (the rig's node needs Debian's containerd, runc and containernetworking-plugins, and root):\n${r.stderr.slice(-2000)}`,
    );
  }
  for (const [pkg, bin] of Object.entries(PACKAGES)) {
    if (!existsSync(bin)) throw new RigError(`apt-get installed ${pkg} but ${bin} is missing`);
  }
  log(`${missing.join(", ")} installed in ${Math.round((Date.now() - started) / 1000)} s`);
}

export interface ContainerdPaths {
  dir: string;
  socket: string;
  config: string;
  cniConfDir: string;
  log: string;
}

export function containerdPaths(nodeDir: string): ContainerdPaths {
  const dir = join(nodeDir, "containerd");
  return {
    dir,
    socket: join(dir, "containerd.sock"),
    config: join(dir, "config.toml"),
    cniConfDir: join(nodeDir, "cni", "net.d"),
    log: join(nodeDir, "logs", "containerd.log"),
  };
}

/** The TOML containerd reads (version 2 schema of containerd 1.6). */
export function containerdConfig(nodeDir: string, sandboxImage: string): string {
  const p = containerdPaths(nodeDir);
  const cri = `plugins."io.containerd.grpc.v1.cri"`;
  return `version = 2
root = "${join(p.dir, "root")}"
state = "${join(p.dir, "state")}"
# The "opt" plugin would create /opt/containerd; nothing here uses it.
disabled_plugins = ["io.containerd.internal.v1.opt"]

[grpc]
  address = "${p.socket}"

[ttrpc]
  address = "${p.socket}.ttrpc"

[${cri}]
  sandbox_image = "${sandboxImage}"
  # The sandbox lacks CAP_SYS_RESOURCE: runc cannot raise oom_score_adj.
  restrict_oom_score_adj = true
  # Network namespaces under our state dir, not /run/netns.
  netns_mounts_under_state_dir = true
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [${cri}.containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [${cri}.containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [${cri}.containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "${join(p.dir, "runc")}"

  [${cri}.cni]
    bin_dir = "${CNI_BIN_DIR}"
    conf_dir = "${p.cniConfDir}"
    max_conf_num = 1

  [${cri}.registry]
    config_path = "${HOSTS_DIR}"
`;
}

/**
 * The Pods' network: the rig's bridge (node-network.ts gives it the gateway address), no
 * default route and no masquerade, so Pods reach each other, their own loopback, the host's
 * gateway address and the routes given (the API server's ClusterIP), and no iptables rule or
 * sysctl changes.
 */
export function cniConfig(
  nodeDir: string,
  net: { subnet: string; gateway: string; routes: { dst: string; gw: string }[] },
): string {
  return JSON.stringify(
    {
      cniVersion: "1.0.0",
      name: "regcred-rig",
      plugins: [
        {
          type: "bridge",
          bridge: BRIDGE,
          isGateway: false,
          ipMasq: false,
          hairpinMode: false,
          ipam: {
            type: "host-local",
            ranges: [[{ subnet: net.subnet, gateway: net.gateway }]],
            routes: net.routes,
            dataDir: join(nodeDir, "cni", "ipam"),
          },
        },
      ],
    },
    null,
    2,
  );
}

/** Writes the configs and starts containerd; resolves once it answers on its socket. */
export async function startContainerd(
  nodeDir: string,
  sandboxImage: string,
  opts: { detached: boolean; network: Parameters<typeof cniConfig>[1] },
): Promise<{ proc: ManagedProcess; pid: number; paths: ContainerdPaths }> {
  const paths = containerdPaths(nodeDir);
  mkdirSync(paths.dir, { recursive: true });
  mkdirSync(paths.cniConfDir, { recursive: true });
  mkdirSync(HOSTS_DIR, { recursive: true });
  writeFileSync(paths.config, containerdConfig(nodeDir, sandboxImage));
  writeFileSync(join(paths.cniConfDir, "10-regcred-rig.conflist"), cniConfig(nodeDir, opts.network));
  const proc = new ManagedProcess("containerd", paths.log);
  const pid = proc.start("/usr/bin/containerd", ["--config", paths.config, "--log-level", "info"], {
    detached: opts.detached,
  });
  await waitFor(
    `containerd on ${paths.socket}`,
    async () => (await run("ctr", ["--address", paths.socket, "version"])).code === 0,
    { timeoutMs: 30_000, intervalMs: 100, proc },
  );
  return { proc, pid, paths };
}

/** `ctr images import` into the CRI's namespace (k8s.io), so the kubelet sees the image. */
export async function importImage(socket: string, tarPath: string): Promise<string[]> {
  const r = await runOk("ctr", ["--address", socket, "-n", "k8s.io", "images", "import", tarPath]);
  // "unpacking docker.io/x/y:tag (sha256:...)...done"
  return [...r.stdout.matchAll(/unpacking (\S+) \(/g)].map((m) => m[1]!);
}
