// A runnable image for Pods on the rig's node: one layer holding the static pause binary
// (tools/pause/main.go), entrypoint /pause with a greeting as its arguments, so the container
// prints one line (readable with node.podLogs) and then runs until stopped. Pushed with crane
// to a rig registry as its admin.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync, copyFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ensurePauseImage } from "./pause.ts";
import type { Registry } from "./registry.ts";
import { ensureTool } from "./tools.ts";
import { runOk } from "./util.ts";

/** The line a container of `pushRunnableImage(…, repo, tag)` prints first. */
export function greetingOf(repo: string, tag: string): string {
  return `hello from ${repo}:${tag}`;
}

/** Saves an image of `registry` as a tarball (pulled as the registry's admin), for node.importImage. */
export async function saveImage(registry: Registry, ref: string, tarPath: string): Promise<void> {
  const crane = await ensureTool("crane");
  await withAdminConfig(registry, (env) => runOk(crane, ["pull", ref, tarPath], { env }));
}

async function withAdminConfig<T>(
  registry: Registry,
  fn: (env: NodeJS.ProcessEnv) => Promise<T>,
): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), "regcred-rig-docker-"));
  try {
    writeFileSync(
      join(dir, "config.json"),
      registry.dockerConfigJson(registry.admin.username, registry.admin.password),
      { mode: 0o600 },
    );
    return await fn({ ...process.env, DOCKER_CONFIG: dir });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/**
 * Pushes the runnable image to `registry` as `repo:tag`; returns its reference on the registry's
 * own address (`127.0.0.1:PORT/repo:tag`). Serve it under a real name with registry-hosts.ts.
 */
export async function pushRunnableImage(registry: Registry, repo: string, tag = "v1"): Promise<string> {
  const [crane, pause] = await Promise.all([ensureTool("crane"), ensurePauseImage()]);
  const ref = `${registry.host}/${repo}:${tag}`;
  const work = mkdtempSync(join(tmpdir(), "regcred-rig-app-"));
  try {
    mkdirSync(join(work, "layer"));
    copyFileSync(pause.binary, join(work, "layer", "pause"));
    await runOk("tar", [
      "--owner=0",
      "--group=0",
      "--mode=0755",
      "-cf",
      join(work, "layer.tar"),
      "-C",
      join(work, "layer"),
      "pause",
    ]);
    await withAdminConfig(registry, async (env) => {
      await runOk(crane, ["append", "-f", join(work, "layer.tar"), "-t", ref], { env });
      // Runnable: entrypoint, greeting, platform (containerd matches it) and a non-root user.
      await runOk(
        crane,
        [
          "mutate",
          ref,
          ...["--entrypoint", "/pause", "--cmd", greetingOf(repo, tag)],
          ...["--set-platform", "linux/amd64", "--user", "65535:65535", "-t", ref],
        ],
        { env },
      );
    });
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return ref;
}
