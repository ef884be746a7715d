// Builds (once) and finds the rig's binaries: Go tools from the committed tools modules
// (test/rig/tools/<module>/go.mod + go.sum), Debian's docker-registry, and moto in a venv.
// Everything lands in cacheRoot()/<name>-<version>/ and is reused on later runs.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { cacheRoot, log, requireCommand, RIG_DIR, RigError, run, runOk, withLock } from "./util.ts";

export type ToolName =
  | "kube-apiserver"
  | "kube-controller-manager"
  | "kubelet"
  | "kube-scheduler"
  | "etcd"
  | "crane"
  | "helm"
  | "promtool"
  | "htpasswd"
  | "api-relay"
  | "keyring-oracle"
  | "promql-selectors"
  | "docker-registry"
  | "moto_server";

interface GoTool {
  /** Folder under test/rig/tools/ holding go.mod and go.sum. */
  module: string;
  /** The module whose version names the cache folder (none: a standard-library-only tool of
   * ours, named by its sources' hash alone). */
  versionOf?: string;
  /** Cache folder prefix (binaries built by one `go build` share it). */
  cacheName: string;
  /** Binary name -> Go package. All are built together. */
  binaries: Record<string, string>;
  ldflags: (version: string) => string[];
  /** Rough cold build time on 2 cores, for the progress message. */
  expect: string;
  /** Source files of our own in the module: their hash joins the cache key. */
  ownSources?: string[];
}

const kubeLdflags = (v: string): string[] => {
  const m = /^v(\d+)\.(\d+)\./.exec(v);
  const p = "k8s.io/component-base/version";
  return [
    `-X ${p}.gitVersion=${v}`,
    `-X ${p}.gitMajor=${m?.[1] ?? ""}`,
    `-X ${p}.gitMinor=${m?.[2] ?? ""}`,
    `-X ${p}.gitTreeState=clean`,
    `-X ${p}.buildDate=1970-01-01T00:00:00Z`,
  ];
};

const KUBE: GoTool = {
  module: "kube",
  versionOf: "k8s.io/kubernetes",
  cacheName: "kube",
  binaries: {
    "kube-apiserver": "k8s.io/kubernetes/cmd/kube-apiserver",
    "kube-controller-manager": "k8s.io/kubernetes/cmd/kube-controller-manager",
  },
  ldflags: kubeLdflags,
  expect: "10-20 min",
};

// The node's binaries: same module and version, their own cache folder, so adding them never
// forces a rebuild of the control plane (and a control-plane-only run never builds them).
const KUBE_NODE: GoTool = {
  ...KUBE,
  cacheName: "kube-node",
  binaries: {
    kubelet: "k8s.io/kubernetes/cmd/kubelet",
    "kube-scheduler": "k8s.io/kubernetes/cmd/kube-scheduler",
  },
  expect: "3-6 min after the control plane (shared Go build cache), 15-25 min alone",
};

const GO_TOOLS: Record<string, GoTool> = {
  "kube-apiserver": KUBE,
  "kube-controller-manager": KUBE,
  kubelet: KUBE_NODE,
  "kube-scheduler": KUBE_NODE,
  etcd: {
    module: "etcd",
    versionOf: "go.etcd.io/etcd/server/v3",
    cacheName: "etcd",
    binaries: { etcd: "go.etcd.io/etcd/server/v3" },
    ldflags: () => [],
    expect: "2-4 min",
  },
  crane: {
    module: "crane",
    versionOf: "github.com/google/go-containerregistry",
    cacheName: "crane",
    binaries: { crane: "github.com/google/go-containerregistry/cmd/crane" },
    ldflags: (v) => [`-X github.com/google/go-containerregistry/cmd/crane/cmd.Version=${v}`],
    expect: "1 min",
  },
  helm: {
    module: "helm",
    versionOf: "helm.sh/helm/v4",
    cacheName: "helm",
    binaries: { helm: "helm.sh/helm/v4/cmd/helm" },
    ldflags: (v) => [`-X helm.sh/helm/v4/internal/version.version=${v}`],
    expect: "3-6 min",
  },
  promtool: {
    module: "promtool",
    versionOf: "github.com/prometheus/prometheus",
    cacheName: "promtool",
    binaries: { promtool: "github.com/prometheus/prometheus/cmd/promtool" },
    // Go module v0.315.0 is Prometheus v3.15.0.
    ldflags: (v) => [
      `-X github.com/prometheus/common/version.Version=${v.replace(/^v0\.(\d+)(\d\d)\./, "$1.$2.")}`,
    ],
    expect: "4-8 min",
  },
  // kubelet's own keyring code behind a JSON pipe (tools/kube/keyring-oracle/main.go): the
  // oracle that regcred's port of it (src/engine/keyring.ts) is checked against.
  "keyring-oracle": {
    module: "kube",
    versionOf: "k8s.io/kubernetes",
    cacheName: "keyring-oracle",
    binaries: { "keyring-oracle": "regcred.test/rig/tools/kube/keyring-oracle" },
    ldflags: () => [],
    expect: "1-2 min",
    ownSources: ["keyring-oracle/main.go"],
  },
  // Prometheus' own PromQL parser behind a JSON pipe (tools/promtool/promql-selectors/main.go),
  // same module and version as promtool: which series the chart's alerts and dashboard read.
  "promql-selectors": {
    module: "promtool",
    versionOf: "github.com/prometheus/prometheus",
    cacheName: "promql-selectors",
    binaries: { "promql-selectors": "regcred.test/rig/tools/promtool/promql-selectors" },
    ldflags: () => [],
    expect: "1-2 min (less after promtool: shared Go build cache)",
    ownSources: ["promql-selectors/main.go"],
  },
  // Our own bcrypt htpasswd writer (tools/htpasswd/main.go), versioned by its x/crypto.
  htpasswd: {
    module: "htpasswd",
    versionOf: "golang.org/x/crypto",
    cacheName: "htpasswd",
    binaries: { htpasswd: "regcred.test/rig/tools/htpasswd" },
    ldflags: () => [],
    expect: "20 s",
    ownSources: ["main.go"],
  },
  // The node's relay from the `kubernetes` Service's ClusterIP to the API server
  // (tools/api-relay/main.go, standard library only; node-network.ts).
  "api-relay": {
    module: "api-relay",
    cacheName: "api-relay",
    binaries: { "api-relay": "regcred.test/rig/tools/api-relay" },
    ldflags: () => [],
    expect: "5 s",
    ownSources: ["main.go", "go.mod"],
  },
};

/** moto's PyPI version, pinned. */
export const MOTO_VERSION = "5.2.5";

const GO_HINT =
  "Install Go 1.26 or newer (the official tarball from the Go website, unpacked and on PATH); the rig builds kube-apiserver, etcd, crane, helm and promtool from the Go module proxy with it.";

/** The version of `mod` required by tools/<module>/go.mod. */
export function goToolVersion(tool: ToolName): string {
  const t = GO_TOOLS[tool];
  if (!t) throw new RigError(`${tool} is not a Go tool`);
  return moduleVersion(t);
}

function moduleVersion(t: GoTool): string {
  if (!t.versionOf) return `src-${ownSourcesHash(t)}`;
  const gomod = readFileSync(join(RIG_DIR, "tools", t.module, "go.mod"), "utf8");
  const esc = t.versionOf.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const m = new RegExp(`^\\s*(?:require\\s+)?${esc}\\s+(v\\S+)`, "m").exec(gomod);
  if (!m?.[1]) throw new RigError(`tools/${t.module}/go.mod does not require ${t.versionOf}`);
  if (!t.ownSources) return m[1];
  return `${m[1]}-${ownSourcesHash(t)}`;
}

function ownSourcesHash(t: GoTool): string {
  const h = createHash("sha256");
  for (const f of t.ownSources ?? []) h.update(readFileSync(join(RIG_DIR, "tools", t.module, f)));
  return h.digest("hex").slice(0, 8);
}

const inFlight = new Map<string, Promise<string>>();

/**
 * Path of a rig binary, building or fetching it on first use (then cached by version).
 * Call it in beforeAll / globalSetup: a cold build can take many minutes.
 */
export function ensureTool(tool: ToolName): Promise<string> {
  let p = inFlight.get(tool);
  if (!p) {
    p = ensureToolUncached(tool);
    inFlight.set(tool, p);
    p.catch(() => inFlight.delete(tool));
  }
  return p;
}

async function ensureToolUncached(tool: ToolName): Promise<string> {
  if (tool === "docker-registry") return ensureRegistryBinary();
  if (tool === "moto_server") return ensureMoto();
  const t = GO_TOOLS[tool];
  if (!t) throw new RigError(`unknown rig tool ${tool}`);
  const version = moduleVersion(t);
  const dir = join(cacheRoot(), `${t.cacheName}-${version}`);
  const bin = join(dir, tool);
  if (existsSync(bin)) return bin;
  return withLock(`${t.cacheName}-${version}`, async () => {
    if (existsSync(bin)) return bin;
    await goBuild(t, version, dir);
    if (!existsSync(bin)) throw new RigError(`go build did not produce ${bin}`);
    return bin;
  });
}

async function goBuild(t: GoTool, version: string, dir: string): Promise<void> {
  requireCommand("go", GO_HINT);
  const moduleDir = join(RIG_DIR, "tools", t.module);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    GOTOOLCHAIN: "local",
    CGO_ENABLED: "0",
    GOFLAGS: "-mod=readonly",
    GOWORK: "off",
  };
  const goVersion = spawnSync("go", ["env", "GOVERSION"], { encoding: "utf8", env }).stdout.trim();
  const names = Object.keys(t.binaries);
  const pkgs = Object.values(t.binaries);
  log(
    `building ${names.join(", ")} ${version} with ${goVersion} from test/rig/tools/${t.module} ` +
      `(first time only, about ${t.expect} on 2 cores; cached in ${dir})`,
  );
  const started = Date.now();
  // Total package count for a progress percentage (also downloads the modules).
  log(`  ${names.join(", ")}: downloading modules (go list -deps)`);
  const list = await run("go", ["list", "-deps", ...pkgs], { cwd: moduleDir, env });
  if (list.code !== 0) {
    throw new RigError(
      `go list for test/rig/tools/${t.module} failed (Go ${goVersion}). ${GO_HINT}\n${list.stderr.slice(-3000)}`,
    );
  }
  const total = list.stdout.split("\n").filter(Boolean).length;
  const tmp = mkdtempSync(join(cacheRoot(), `.build-${t.cacheName}-`));
  let done = 0;
  let lastReport = Date.now();
  const timer = setInterval(() => {
    if (Date.now() - lastReport < 29_000) return;
    lastReport = Date.now();
    log(
      `  ${names.join(", ")}: ~${Math.min(100, Math.round((100 * done) / Math.max(total, 1)))}% ` +
        `(${done}/${total} packages), ${Math.round((Date.now() - started) / 1000)} s`,
    );
  }, 5_000);
  try {
    await runOk(
      "go",
      [
        "build",
        "-v",
        "-trimpath",
        "-ldflags",
        ["-s", "-w", ...t.ldflags(version)].join(" "),
        "-o",
        tmp + "/",
        ...pkgs,
      ],
      { cwd: moduleDir, env, onLine: (l) => (done += /^[\w.-]+(\/[\w.~-]+)*$/.test(l.trim()) ? 1 : 0) },
    );
    mkdirSync(dir, { recursive: true });
    for (const n of names) renameSync(join(tmp, pkgBase(t.binaries[n] ?? n)), join(dir, n));
  } finally {
    clearInterval(timer);
    rmSync(tmp, { recursive: true, force: true });
  }
  log(`built ${names.join(", ")} ${version} in ${Math.round((Date.now() - started) / 1000)} s`);
}

/** go build names a binary after the last path element that is not a major-version suffix. */
function pkgBase(pkg: string): string {
  const parts = pkg.split("/");
  let last = parts.pop() ?? pkg;
  if (/^v\d+$/.test(last) && parts.length > 0) last = parts.pop() ?? last;
  return last;
}

const APT_HINT =
  "The rig takes Debian's docker-registry package (distribution 2.8) with apt-get download + dpkg-deb -x; run it on Debian/Ubuntu with apt sources that carry docker-registry.";

/** Debian's docker-registry, extracted (not installed: its postinst would start a service). */
async function ensureRegistryBinary(): Promise<string> {
  const dir = join(cacheRoot(), "docker-registry");
  const bin = join(dir, "root", "usr", "bin", "docker-registry");
  const marker = join(dir, "VERSION");
  if (existsSync(marker) && existsSync(bin)) return bin;
  return withLock("docker-registry", async () => {
    if (existsSync(marker) && existsSync(bin)) return bin;
    requireCommand("apt-get", APT_HINT);
    requireCommand("dpkg-deb", APT_HINT);
    const started = Date.now();
    log("fetching Debian's docker-registry package (first time only)");
    const tmp = mkdtempSync(join(cacheRoot(), ".apt-"));
    try {
      let dl = await run("apt-get", ["download", "docker-registry"], { cwd: tmp });
      if (dl.code !== 0) {
        // A fresh machine has no package lists yet.
        log("apt-get download failed; running apt-get update once");
        const up = await run("apt-get", ["update"]);
        if (up.code !== 0) {
          throw new RigError(
            `apt-get update failed (it needs root and Debian's package mirrors). ${APT_HINT}\n${up.stderr.slice(-2000)}`,
          );
        }
        dl = await run("apt-get", ["download", "docker-registry"], { cwd: tmp });
      }
      if (dl.code !== 0)
        throw new RigError(`apt-get download docker-registry failed. ${APT_HINT}\n${dl.stderr}`);
      const deb = readdirSync(tmp).find((f) => f.endsWith(".deb"));
      if (!deb) throw new RigError("apt-get download produced no .deb");
      rmSync(dir, { recursive: true, force: true });
      mkdirSync(dir, { recursive: true });
      await runOk("dpkg-deb", ["-x", join(tmp, deb), join(dir, "root")]);
      const ver = (await runOk("dpkg-deb", ["-f", join(tmp, deb), "Version"])).stdout.trim();
      writeFileSync(marker, ver + "\n");
      log(`docker-registry ${ver} ready in ${Math.round((Date.now() - started) / 1000)} s`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
    }
    return bin;
  });
}

export function registryVersion(): string | undefined {
  try {
    return readFileSync(join(cacheRoot(), "docker-registry", "VERSION"), "utf8").trim();
  } catch {
    return undefined;
  }
}

const PY_HINT =
  "The rig runs moto (AWS emulator) from PyPI in a venv: install Python 3.9+ with its venv module and pip (Debian: apt-get install python3 python3-venv python3-pip).";

/** moto_server from PyPI in a venv under the cache (pinned MOTO_VERSION). */
async function ensureMoto(): Promise<string> {
  const dir = join(cacheRoot(), `moto-${MOTO_VERSION}`);
  const bin = join(dir, "venv", "bin", "moto_server");
  const marker = join(dir, ".complete");
  if (existsSync(marker) && existsSync(bin)) return bin;
  return withLock(`moto-${MOTO_VERSION}`, async () => {
    if (existsSync(marker) && existsSync(bin)) return bin;
    requireCommand("python3", PY_HINT);
    const started = Date.now();
    log(`installing moto[server]==${MOTO_VERSION} into ${dir}/venv (first time only, about 1 min)`);
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    const venv = await run("python3", ["-m", "venv", join(dir, "venv")]);
    if (venv.code !== 0) throw new RigError(`python3 -m venv failed. ${PY_HINT}\n${venv.stderr}`);
    await runOk(join(dir, "venv", "bin", "pip"), [
      "install",
      "--disable-pip-version-check",
      "--no-input",
      "--quiet",
      `moto[server]==${MOTO_VERSION}`,
    ]);
    if (!existsSync(bin)) throw new RigError(`pip installed moto but ${bin} is missing`);
    writeFileSync(marker, MOTO_VERSION + "\n");
    log(`moto ${MOTO_VERSION} ready in ${Math.round((Date.now() - started) / 1000)} s`);
    return bin;
  });
}
