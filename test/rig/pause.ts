// The node's pod sandbox image, built from source (no registry outside is reachable): a static
// Go pause binary (tools/pause/main.go) in a scratch image made by buildah, saved as a
// docker-archive tar that `ctr images import` reads. Cached by the source's hash.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { cacheRoot, log, requireCommand, RIG_DIR, RigError, runOk, withLock } from "./util.ts";

export interface PauseImage {
  /** The image name containerd's sandbox_image names. */
  ref: string;
  tar: string;
  /** The static binary itself (also the rig's runnable test image: app-image.ts). */
  binary: string;
}

const BUILDAH_HINT = "Install buildah (Debian: apt-get install buildah; CI's .ci/run does).";

export async function ensurePauseImage(): Promise<PauseImage> {
  const src = join(RIG_DIR, "tools", "pause");
  const hash = createHash("sha256")
    .update(readFileSync(join(src, "main.go")))
    .update(readFileSync(join(src, "go.mod")))
    .digest("hex")
    .slice(0, 12);
  const dir = join(cacheRoot(), `pause-${hash}`);
  const image: PauseImage = {
    ref: `localhost/regcred-rig/pause:${hash}`,
    tar: join(dir, "pause.tar"),
    binary: join(dir, "pause"),
  };
  const ready = (): boolean => existsSync(image.tar) && existsSync(image.binary);
  if (ready()) return image;
  return withLock(`pause-${hash}`, async () => {
    if (ready()) return image;
    requireCommand("go", "Install Go 1.26 or newer.");
    requireCommand("buildah", BUILDAH_HINT);
    const started = Date.now();
    log(`building the pause image ${image.ref} (first time only)`);
    const tmp = mkdtempSync(join(cacheRoot(), ".build-pause-"));
    // buildah's own storage in the temp folder (vfs: no mounts), gone with it.
    const b = ["--root", join(tmp, "storage"), "--runroot", join(tmp, "run"), "--storage-driver", "vfs"];
    // buildah also leaves a blob cache and a networks folder in fixed places: remove what it made.
    const buildahLeaves = ["/var/lib/containers", "/run/containers"].filter((p) => !existsSync(p));
    try {
      await runOk("go", ["build", "-trimpath", "-ldflags=-s -w", "-o", join(tmp, "pause"), "."], {
        cwd: src,
        env: {
          ...process.env,
          GOTOOLCHAIN: "local",
          CGO_ENABLED: "0",
          GOFLAGS: "-mod=readonly",
          GOWORK: "off",
        },
      });
      const ctr = (await runOk("buildah", [...b, "from", "scratch"])).stdout.trim().split("\n").pop()!;
      await runOk("buildah", [...b, "copy", "--chmod", "0755", ctr, join(tmp, "pause"), "/pause"]);
      await runOk("buildah", [...b, "config", "--entrypoint", '["/pause"]', "--user", "65535:65535", ctr]);
      await runOk("buildah", [...b, "commit", "--rm", ctr, image.ref]);
      await runOk("buildah", [
        ...b,
        "push",
        image.ref,
        `docker-archive:${join(tmp, "pause.tar")}:${image.ref}`,
      ]);
      mkdirSync(dir, { recursive: true });
      renameSync(join(tmp, "pause"), image.binary);
      renameSync(join(tmp, "pause.tar"), image.tar);
    } catch (e) {
      throw new RigError(`building the pause image failed: ${(e as Error).message}`);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
      for (const p of buildahLeaves) rmSync(p, { recursive: true, force: true });
    }
    log(`pause image ready in ${Math.round((Date.now() - started) / 1000)} s`);
    return image;
  });
}
